import type { Checkpoint } from "../checkpoint/index.js"
import type { ChildShard, LeaseSession } from "../coordinator/index.js"

/** A decoded record with where it came from. Operators keep the metadata and change `value`. */
export interface StreamRecord<A> {
  readonly value: A
  readonly shardId: string
  readonly sequenceNumber: string
  /**
   * Inside a KPL aggregate, the user record's index (all of an aggregate's user records share its
   * sequence number); 0 for a record that was not aggregated.
   */
  readonly subSequenceNumber: number
  readonly partitionKey: string
  /** When Kinesis accepted the record; undefined where the source does not say. */
  readonly approximateArrivalTimestamp: Date | undefined
}

/** Where a record came from: what operators carry over from record to record. */
export type RecordMetadata = Omit<StreamRecord<unknown>, "value">

/** Where a record came from, as a raw record (never aggregated) may leave out its sub-sequence number. */
export type RecordOrigin = Omit<RecordMetadata, "subSequenceNumber"> & { readonly subSequenceNumber?: number | undefined }

/**
 * A record with a new value and the metadata of `from` (a decoded record, or a raw one as read):
 * what every operator builds. Fields spelled out, not spread, so every record has one shape.
 */
export const withValue = <B>(from: RecordOrigin, value: B): StreamRecord<B> => ({
  value,
  shardId: from.shardId,
  sequenceNumber: from.sequenceNumber,
  subSequenceNumber: from.subSequenceNumber ?? 0,
  partitionKey: from.partitionKey,
  approximateArrivalTimestamp: from.approximateArrivalTimestamp
})

/** What the batcher needs of a record: where it sits. */
export interface Positioned {
  readonly shardId: string
  readonly sequenceNumber: string
}

/**
 * Records of one shard handed to the batcher, in shard order. Sources hand raw records (decoded
 * only when their batch runs, so decoded messages die young).
 */
export interface RecordChunk<T extends Positioned> {
  readonly shardId: string
  readonly records: ReadonlyArray<T>
  /** Payload bytes of `records`, when the source counted them (the byte cap then takes a whole chunk without a look at each record). */
  readonly bytes?: number | undefined
  readonly millisBehindLatest: number | undefined
  /** The shard is closed and this chunk holds its last records. */
  readonly shardEnded: boolean
  /** On the last chunk, the children the service named, when it names them. */
  readonly childShards?: ReadonlyArray<ChildShard> | undefined
  /** With leases: the lease holding under which the chunk was read. */
  readonly session?: LeaseSession | undefined
}

/**
 * Why a batch closed: its interval passed, it reached `maxBatchRecords` or `maxBatchBytes` ("size"), the source ended (or a
 * graceful stop drained it), or the source failed and this is the last batch before the run fails.
 */
export type BatchCloseReason = "interval" | "size" | "end" | "failure"

/**
 * One micro-batch as the sink sees it.
 *
 * @example
 * ```ts
 * Pipeline.foreachBatch((batch) => Effect.log(`batch ${batch.batchId}: ${batch.records.length} records`))
 * ```
 */
export interface Batch<A> {
  /** 0, 1, 2, ... in the order batches reach the sink within one run (with `parallelism`, a batch's lanes share it). */
  readonly batchId: number
  /** The records after the pipeline's operators; per shard in sequence order. */
  readonly records: ReadonlyArray<StreamRecord<A>>
  /** Records read from Kinesis into this batch, before operators (what `maxBatchRecords` caps; their payload bytes are what `maxBatchBytes` caps), filtered ones included. */
  readonly sourceRecords: number
  readonly openedAt: Date
  readonly closedAt: Date
  readonly closedBy: BatchCloseReason
  /** The positions checkpointed once the sink succeeds, by shard id. */
  readonly checkpoints: ReadonlyMap<string, Checkpoint>
  /** The latest MillisBehindLatest reported for each shard in the batch. */
  readonly millisBehindLatest: ReadonlyMap<string, number>
  /**
   * With leases: the lease counter this worker holds for each shard in the batch, a fencing token.
   * It only grows, and a worker that took a lease over holds a higher one than the worker it took
   * it from, so an idempotent sink that keeps the highest token per shard can refuse a zombie's
   * writes. Empty without leases.
   */
  readonly fencingTokens: ReadonlyMap<string, number>
  /**
   * With `parallelism` (see `RunOptions`): the lane of this sub-batch. Its records all come from
   * one shard and hash to this lane by partition key; the batch's other lanes (same `batchId`) go
   * to the sink at the same time. Undefined without parallelism, and on an empty batch.
   */
  readonly lane?: number | undefined
}

/** A chunk of decoded records. */
export type SourceChunk<A> = RecordChunk<StreamRecord<A>>

/** A batch as the batcher closes it, before decoding and operators. */
export interface Draft<T extends Positioned> {
  readonly records: ReadonlyArray<T>
  readonly openedAt: number
  readonly closedAt: number
  readonly closedBy: BatchCloseReason
  readonly checkpoints: ReadonlyMap<string, Checkpoint>
  readonly millisBehindLatest: ReadonlyMap<string, number>
  /** With leases: each shard's lease holding (of its last chunk). */
  readonly sessions: ReadonlyMap<string, LeaseSession>
  /** Children named by the service for shards that ended in this batch. */
  readonly childShards: ReadonlyMap<string, ReadonlyArray<ChildShard>>
}

/** A draft of decoded records. */
export type BatchDraft<A> = Draft<StreamRecord<A>>
