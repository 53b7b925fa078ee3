import type { ShardIteratorType } from "@aws-sdk/client-kinesis"

/** Where a shard reader starts, in the terms of GetShardIterator. */
export type ShardPosition =
  | { readonly type: "TRIM_HORIZON" }
  | { readonly type: "LATEST" }
  | { readonly type: "AT_TIMESTAMP"; readonly timestamp: Date }
  | {
    readonly type: "AT_SEQUENCE_NUMBER"
    readonly sequenceNumber: string
    /** The record there is a KPL aggregate whose user records below this index are done already. */
    readonly subSequenceNumber?: number | undefined
  }
  | { readonly type: "AFTER_SEQUENCE_NUMBER"; readonly sequenceNumber: string }

/**
 * Where to start reading a shard that has no checkpoint yet (Spark's `initialPosition`, the KCL's
 * `initialPositionInStream`): the oldest record kept, only records written from now on, or the
 * first record that arrived at or after a time.
 */
export type InitialPosition = "TRIM_HORIZON" | "LATEST" | { readonly atTimestamp: Date }

/** Constructors for {@link ShardPosition}. */
export const ShardPosition = {
  trimHorizon: { type: "TRIM_HORIZON" } as ShardPosition,
  latest: { type: "LATEST" } as ShardPosition,
  atTimestamp: (timestamp: Date): ShardPosition => ({ type: "AT_TIMESTAMP", timestamp }),
  atSequenceNumber: (sequenceNumber: string): ShardPosition => ({ type: "AT_SEQUENCE_NUMBER", sequenceNumber }),
  afterSequenceNumber: (sequenceNumber: string): ShardPosition => ({ type: "AFTER_SEQUENCE_NUMBER", sequenceNumber }),
  /**
   * Where a checkpoint resumes: right after its record, or, inside a KPL aggregate (a
   * `subSequenceNumber` above 0), at that record with its first `subSequenceNumber` user records left out.
   */
  afterCheckpoint: (checkpoint: { readonly sequenceNumber: string; readonly subSequenceNumber: number }): ShardPosition =>
    checkpoint.subSequenceNumber > 0
      ? { type: "AT_SEQUENCE_NUMBER", sequenceNumber: checkpoint.sequenceNumber, subSequenceNumber: checkpoint.subSequenceNumber }
      : { type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: checkpoint.sequenceNumber },
  fromInitial: (initial: InitialPosition): ShardPosition =>
    initial === "TRIM_HORIZON"
      ? ShardPosition.trimHorizon
      : initial === "LATEST"
        ? ShardPosition.latest
        : ShardPosition.atTimestamp(initial.atTimestamp)
} as const

/** The GetShardIterator parameters for a position. */
export const iteratorRequest = (
  position: ShardPosition
): { ShardIteratorType: ShardIteratorType; StartingSequenceNumber?: string; Timestamp?: Date } => {
  switch (position.type) {
    case "AT_TIMESTAMP":
      return { ShardIteratorType: "AT_TIMESTAMP", Timestamp: position.timestamp }
    case "AT_SEQUENCE_NUMBER":
    case "AFTER_SEQUENCE_NUMBER":
      return { ShardIteratorType: position.type, StartingSequenceNumber: position.sequenceNumber }
    default:
      return { ShardIteratorType: position.type }
  }
}
