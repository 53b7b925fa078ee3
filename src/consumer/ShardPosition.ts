import type { ShardIteratorType } from "@aws-sdk/client-kinesis"

/** Where a shard reader starts, in the terms of GetShardIterator. */
export type ShardPosition =
  | { readonly type: "TRIM_HORIZON" }
  | { readonly type: "LATEST" }
  | { readonly type: "AT_TIMESTAMP"; readonly timestamp: Date }
  | { readonly type: "AT_SEQUENCE_NUMBER"; readonly sequenceNumber: string }
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
