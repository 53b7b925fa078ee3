import { Duration, Effect, Either, Stream } from "effect"
import { type Checkpoint, type CheckpointScope } from "../checkpoint/index.js"
import type { Codec, DecodeError } from "../codec/index.js"
import { durationOption, integerOption, InvalidOption, textOption } from "../config/index.js"
import {
  type InitialPosition,
  listShards,
  readInLineageOrder,
  readShard,
  resolveReaderOptions,
  type ShardChunk,
  ShardPosition,
  type ShardReaderOptions
} from "../consumer/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"
import type { SourceChunk, StreamRecord } from "./Batch.js"

/**
 * What a pipeline reads and how it batches.
 *
 * @example
 * ```ts
 * const options: KinesisSourceOptions<PageView> = {
 *   streamName: "clickstream",
 *   codec: Codec.protobuf(PageViewSchema),
 *   batchInterval: "1 second"
 * }
 * ```
 */
export interface KinesisSourceOptions<A> {
  readonly streamName: string
  /** Turns each record's bytes into `A`. */
  readonly codec: Codec<A>
  /** A batch closes this long after it opened (Spark's batch interval). Must be > 0. */
  readonly batchInterval: Duration.DurationInput
  /** A batch also closes when it holds this many records read from Kinesis. Default 10,000. */
  readonly maxBatchRecords?: number
  /** Where shards without a checkpoint start. Default `TRIM_HORIZON` (nothing kept is skipped), as in the KCL. */
  readonly startAt?: InitialPosition
  /** Names whose checkpoints these are (the KCL's application name). Default `"shardline"`. */
  readonly applicationName?: string
  /** Read only these shards; default all. */
  readonly shardIds?: ReadonlyArray<string>
  /** How each shard is polled. */
  readonly reader?: ShardReaderOptions
}

/** A source with its options checked, ready to open at the checkpointed positions. */
export interface ResolvedSource<A> {
  readonly scope: CheckpointScope
  readonly batchInterval: Duration.Duration
  readonly maxBatchRecords: number
  readonly open: (
    checkpoints: ReadonlyMap<string, Checkpoint>
  ) => Stream.Stream<SourceChunk<A>, KinesisError | DecodeError, Kinesis>
}

const checkStartAt = (startAt: InitialPosition): Effect.Effect<InitialPosition, InvalidOption> =>
  startAt === "TRIM_HORIZON" ||
  startAt === "LATEST" ||
  (typeof startAt === "object" && startAt !== null && startAt.atTimestamp instanceof Date && !isNaN(startAt.atTimestamp.getTime()))
    ? Effect.succeed(startAt)
    : Effect.fail(
        new InvalidOption({
          option: "startAt",
          given: JSON.stringify(startAt) ?? String(startAt),
          expected: `"TRIM_HORIZON", "LATEST" or { atTimestamp: <valid Date> }`
        })
      )

/** Checks the options and builds the source; fails with {@link InvalidOption} naming what to change. */
export const resolveKinesisSource = <A>(
  options: KinesisSourceOptions<A>
): Effect.Effect<ResolvedSource<A>, InvalidOption> =>
  Effect.gen(function* () {
    const streamName = yield* textOption("streamName", options.streamName)
    const applicationName = yield* textOption("applicationName", options.applicationName ?? "shardline")
    const batchInterval = yield* durationOption("batchInterval", options.batchInterval, 0, Duration.zero, true)
    const maxBatchRecords = yield* integerOption("maxBatchRecords", options.maxBatchRecords, 10_000, 1)
    const startAt = yield* checkStartAt(options.startAt ?? "TRIM_HORIZON")
    const reader = yield* resolveReaderOptions(options.reader)
    const codec = options.codec
    if (typeof codec?.decode !== "function") {
      return yield* new InvalidOption({ option: "codec", given: typeof codec, expected: "a Codec, e.g. Codec.protobuf(Schema)" })
    }
    const wanted = options.shardIds === undefined ? undefined : new Set(options.shardIds)

    const open = (checkpoints: ReadonlyMap<string, Checkpoint>) =>
      readInLineageOrder({
        list: listShards(streamName, reader.retry),
        ended: new Set([...checkpoints].filter(([, c]) => c._tag === "ShardEnd").map(([id]) => id)),
        wanted: (shardId) => wanted === undefined || wanted.has(shardId),
        initial: startAt,
        checkpointed: (shardId) => {
          const checkpoint = checkpoints.get(shardId)
          return checkpoint?._tag === "Sequence" ? ShardPosition.afterSequenceNumber(checkpoint.sequenceNumber) : undefined
        },
        read: (shard, position) =>
          readShard({ streamName, shardId: shard.shardId, position }, reader).pipe(
            Stream.mapEffect((chunk) => decodeChunk(codec, chunk))
          )
      })

    return { scope: { applicationName, streamName }, batchInterval, maxBatchRecords, open }
  })

/** Decodes a chunk in one plain loop, with no Effect per record (measured 1.04x to 1.27x slower in bench/). */
export const decodeChunk = <A>(codec: Codec<A>, chunk: ShardChunk): Either.Either<SourceChunk<A>, DecodeError> => {
  const records = new Array<StreamRecord<A>>(chunk.records.length)
  for (let i = 0; i < chunk.records.length; i++) {
    const raw = chunk.records[i]!
    const decoded = codec.decode(raw.data, raw)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    records[i] = {
      value: decoded.right,
      shardId: raw.shardId,
      sequenceNumber: raw.sequenceNumber,
      partitionKey: raw.partitionKey,
      approximateArrivalTimestamp: raw.approximateArrivalTimestamp
    }
  }
  return Either.right({
    shardId: chunk.shardId,
    records,
    millisBehindLatest: chunk.millisBehindLatest,
    shardEnded: chunk.shardEnded
  })
}
