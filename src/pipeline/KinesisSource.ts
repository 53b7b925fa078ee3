import { Duration, Effect, type Scope, Stream } from "effect"
import { type CheckpointError, type CheckpointScope, CheckpointStore } from "../checkpoint/index.js"
import type { Codec, DecodeError } from "../codec/index.js"
import { durationOption, integerOption, InvalidOption, textOption } from "../config/index.js"
import {
  type InitialPosition,
  listShards,
  readInLineageOrder,
  readShard,
  resolveReaderOptions,
  ShardPosition,
  type ShardReaderOptions,
  type ShardReaderSettings
} from "../consumer/index.js"
import { type LeaseCoordinationOptions, resolveCoordination } from "../coordinator/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"
import type { LeaseStore, LeaseStoreError } from "../lease/index.js"
import type { BatchDraft, SourceChunk } from "./Batch.js"
import { decodeChunk } from "./decodeChunk.js"
import { startLeased } from "./leasedSource.js"

export { decodeChunk }

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

/**
 * A source whose shards are shared with other workers through a lease table (needs a
 * `LeaseStore`); checkpoints are kept in the leases.
 *
 * @example
 * ```ts
 * const options: LeasedSourceOptions<PageView> = {
 *   streamName: "clickstream",
 *   codec: Codec.protobuf(PageViewSchema),
 *   batchInterval: "1 second",
 *   leases: { workerId: `web-${process.pid}` }
 * }
 * ```
 */
export interface LeasedSourceOptions<A> extends KinesisSourceOptions<A> {
  readonly leases: LeaseCoordinationOptions
}

/** One run of a source: its chunks, and how its batches are delivered and checkpointed. */
export interface SourceRun<A> {
  readonly chunks: Stream.Stream<SourceChunk<A>, KinesisError | DecodeError | LeaseStoreError, Kinesis>
  /** What of a closed batch may still go to the sink: with leases, not the shards lost meanwhile. */
  readonly deliverable: (draft: BatchDraft<A>) => BatchDraft<A>
  readonly fencingTokens: (draft: BatchDraft<A>) => ReadonlyMap<string, number>
  /** Checkpoints a batch the sink finished. */
  readonly commit: (draft: BatchDraft<A>) => Effect.Effect<void, CheckpointError | LeaseStoreError>
  /** A graceful stop began. */
  readonly shutdown: Effect.Effect<void>
  /** An interrupted run first finishes the batch in the sink (with leases: a clean handoff to the next owner). */
  readonly finishInFlightOnInterrupt: boolean
}

/** Why a source could not start. */
export type SourceStartError = CheckpointError | LeaseStoreError | KinesisError

/** A source with its options checked, ready to start; `R` is where it keeps positions (CheckpointStore or LeaseStore). */
export interface ResolvedSource<A, R = CheckpointStore | LeaseStore> {
  readonly scope: CheckpointScope
  readonly batchInterval: Duration.Duration
  readonly maxBatchRecords: number
  /** Opens the source for one run, in the run's scope. */
  readonly start: Effect.Effect<SourceRun<A>, SourceStartError, Scope.Scope | Kinesis | R>
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
  options: KinesisSourceOptions<A> | LeasedSourceOptions<A>
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
    const scope = { applicationName, streamName }
    const leases = "leases" in options && options.leases !== undefined ? yield* resolveCoordination(options.leases) : undefined
    if (leases !== undefined && wanted !== undefined) {
      return yield* new InvalidOption({ option: "shardIds", given: JSON.stringify(options.shardIds), expected: "no shardIds with leases (the lease table decides who reads which shard)" })
    }
    const start: ResolvedSource<A>["start"] =
      leases === undefined
        ? startCheckpointed({ scope, codec, reader, startAt, wanted })
        : startLeased({ scope, codec, reader, startAt, settings: leases })
    return { scope, batchInterval, maxBatchRecords, start }
  })

/** Reads every (wanted) shard in lineage order from the positions in the CheckpointStore. */
const startCheckpointed = <A>(config: {
  readonly scope: CheckpointScope
  readonly codec: Codec<A>
  readonly reader: ShardReaderSettings
  readonly startAt: InitialPosition
  readonly wanted: ReadonlySet<string> | undefined
}): Effect.Effect<SourceRun<A>, CheckpointError, CheckpointStore> =>
  Effect.gen(function* () {
    const { scope, codec, reader, wanted } = config
    const store = yield* CheckpointStore
    const checkpoints = yield* store.load(scope)
    const streamName = scope.streamName
    const chunks = readInLineageOrder({
      list: listShards(streamName, reader.retry),
      ended: new Set([...checkpoints].filter(([, c]) => c._tag === "ShardEnd").map(([id]) => id)),
      wanted: (shardId) => wanted === undefined || wanted.has(shardId),
      initial: config.startAt,
      checkpointed: (shardId) => {
        const checkpoint = checkpoints.get(shardId)
        return checkpoint?._tag === "Sequence" ? ShardPosition.afterSequenceNumber(checkpoint.sequenceNumber) : undefined
      },
      read: (shard, position) =>
        readShard({ streamName, shardId: shard.shardId, position }, reader).pipe(
          Stream.mapEffect((chunk) => decodeChunk(codec, chunk))
        )
    })
    return {
      chunks,
      deliverable: (draft) => draft,
      fencingTokens: () => noTokens,
      commit: (draft) => (draft.checkpoints.size > 0 ? store.save(scope, draft.checkpoints) : Effect.void),
      shutdown: Effect.void,
      finishInFlightOnInterrupt: false
    }
  })

const noTokens: ReadonlyMap<string, number> = new Map()
