import { Data } from "effect"

/**
 * A shard's position after the last record fully processed. `sequence` resumes right after
 * `sequenceNumber`; with a `subSequenceNumber` above 0, the record at `sequenceNumber` is a KPL
 * aggregate whose first `subSequenceNumber` user records are done, and reading resumes inside it,
 * at the user record with that index. `shardEnd` marks a closed shard read to its end, the KCL's
 * SHARD_END.
 */
export type Checkpoint =
  | { readonly _tag: "Sequence"; readonly sequenceNumber: string; readonly subSequenceNumber: number }
  | { readonly _tag: "ShardEnd" }

/** Constructors for {@link Checkpoint}. */
export const Checkpoint = {
  sequence: (sequenceNumber: string, subSequenceNumber = 0): Checkpoint => ({
    _tag: "Sequence",
    sequenceNumber,
    subSequenceNumber
  }),
  shardEnd: { _tag: "ShardEnd" } as Checkpoint
} as const

/** Whose checkpoints: one application reading one stream (the KCL's application name, Spark's checkpointAppName). */
export interface CheckpointScope {
  readonly applicationName: string
  readonly streamName: string
}

/** Reading or writing checkpoints failed; nothing was changed by a failed save. */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly operation: "load" | "save"
  /** Which store, e.g. `file:/var/lib/app/checkpoints.json`. */
  readonly store: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Checkpoint ${this.operation} failed in ${this.store}: ${this.reason}`
  }
}
