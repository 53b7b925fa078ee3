import { Data } from "effect"

/**
 * A shard's committed operator state could not be taken over: it is not a state envelope, was
 * written by a newer shardline, or by a pipeline whose stateful operators differ from this one's.
 * Nothing was processed; run the pipeline that wrote it, or start the application afresh under a
 * new `applicationName`.
 */
export class StateRestoreError extends Data.TaggedError("StateRestoreError")<{
  readonly shardId: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Cannot restore the operator state of shard ${this.shardId}: ${this.reason}`
  }
}
