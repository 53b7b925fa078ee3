import type { HashRange } from "./routing.js"

/**
 * A pipeline operator that keeps state across batches. Its state is kept per shard, so that it can
 * follow the shard's lease to another worker and be committed with the shard's checkpoint.
 */
export interface StatefulStage {
  /** The operator's name, stored with its snapshots so a changed pipeline is detected on restore. */
  readonly kind: string
  /** Takes a shard's committed snapshot over (undefined: the shard starts with no state). */
  readonly restore: (shardId: string, data: unknown) => void
  /**
   * A child shard's first state: what of its parents' final snapshots belongs to `range` (after a
   * merge, both parents whole). Entries move by the MD5 of the partition key they came from.
   */
  readonly inherit: (shardId: string, parents: ReadonlyArray<unknown>, range: HashRange) => void
  /** The shard's state as plain data, for the commit. */
  readonly snapshot: (shardId: string) => unknown
  /** Forgets a shard: its lease was lost, or it ended and its final state was committed. */
  readonly drop: (shardId: string) => void
}

/** What a run gives its operators when it starts. */
export interface RunContext {
  /** The batch interval in milliseconds. */
  readonly batchInterval: number
  /** Registers a stateful operator; its position among them names its state. */
  readonly register: (stage: StatefulStage) => void
}

/** What each batch gives its operators besides the records. */
export interface BatchContext {
  /** When the batch closed (processing time, milliseconds). */
  readonly closedAt: number
  /** The shards whose state this worker holds now. */
  readonly shards: ReadonlySet<string>
  /** Marks a shard's state as changed by this batch: it is committed with the batch. */
  readonly touch: (shardId: string) => void
}
