import { Deferred, Duration, type Either, Effect, FiberId, type Scope, Stream } from "effect"
import { type CheckpointError, type CheckpointScope, CheckpointStore } from "../checkpoint/index.js"
import type { Codec, DecodeError } from "../codec/index.js"
import type { DeaggregateError } from "../kpl/index.js"
import { durationOption, integerOption, InvalidOption, textOption } from "../config/index.js"
import {
  type InitialPosition,
  type KinesisRecord,
  listShards,
  parentsOf,
  readInLineageOrder,
  resolveReaderOptions,
  type ShardInfo,
  ShardPosition,
  type ShardReaderOptions,
  type ShardReaderSettings
} from "../consumer/index.js"
import { type LeaseCoordinationOptions, resolveCoordination } from "../coordinator/index.js"
import { type Kinesis, type KinesisError, verifyStream } from "../kinesis/index.js"
import type { Lease, LeaseStore, LeaseStoreError } from "../lease/index.js"
import { checkpointMeter } from "../metrics/meters.js"
import type { LeaseSession } from "../coordinator/index.js"
import type { StoredState } from "../state/StateRuntime.js"
import type { Draft, RecordChunk, StreamRecord } from "./Batch.js"
import { type DecodeOptions, decodeRecords, rawChunk } from "./decodeChunk.js"
import { checkFilter, type RecordFilter } from "./filter.js"
import { startLeased } from "./leasedSource.js"
import { type Retrieval, shardReading, type ShardReading } from "./retrieval.js"
import { storedState } from "./sourceState.js"

export type { KinesisRecord }

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
  /**
   * A batch also closes before the record that would take it past this many payload bytes (the
   * `Data` of the records read from Kinesis, before deaggregation and decoding); a record bigger
   * than this forms a batch of its own. Default 64 MiB: six full 10 MiB GetRecords answers, far
   * above what small records reach within `maxBatchRecords`, and a bound on a batch's memory when
   * records are large (a stream's limit may be raised to 10 MiB per record).
   */
  readonly maxBatchBytes?: number
  /** Where shards without a checkpoint start. Default `TRIM_HORIZON` (nothing kept is skipped), as in the KCL. */
  readonly startAt?: InitialPosition
  /** Names whose checkpoints these are (the KCL's application name). Default `"shardline"`. */
  readonly applicationName?: string
  /** Read only these shards; default all. */
  readonly shardIds?: ReadonlyArray<string>
  /** How each shard is polled. */
  readonly reader?: ShardReaderOptions
  /**
   * Expand KPL aggregates (records written by the Kinesis Producer Library, or aws-kinesis-agg,
   * with aggregation on) into their user records, each with its own partition key and
   * sub-sequence number; checkpoints can then fall inside an aggregate. A corrupt aggregate is a
   * `DeaggregateError`, sent to the dead-letter destination as one record. Default true, as in the KCL.
   */
  readonly deaggregate?: boolean
  /**
   * Skips records before they are decoded (Lambda's filter criteria): asked with each record's
   * metadata and raw bytes (each KPL user record on its own, with its own keys), false skips it.
   * A skipped record costs almost nothing: it is never decoded (so bytes that would not decode are
   * no poison record when skipped: no `DecodeError`, no dead letter), never reaches the operators
   * or the sink, and is still checkpointed with its batch. A corrupt KPL aggregate is still a
   * poison record: its user records cannot be read to be judged. Build one with `RecordFilter`, or
   * pass any cheap, pure predicate. Default: every record is decoded.
   *
   * @example
   * ```ts
   * filter: RecordFilter.partitionKey({ prefix: "tenant-42/" })
   * ```
   */
  readonly filter?: RecordFilter
  /**
   * How shards are read: `"polling"` (GetRecords; a shard's 2 MB/s and 5 calls/s are shared with
   * every other polling consumer) or `"fanout"` (enhanced fan-out: SubscribeToShard through a
   * registered stream consumer, 2 MB/s per shard of its own, records pushed as they arrive).
   * Default `"polling"`.
   */
  readonly retrieval?: Retrieval
  /**
   * With `retrieval: "fanout"`, the stream consumer's name (registered if missing, reused if
   * there). Default the application name. Without leases a consumer the run registered is
   * deregistered when it ends; with leases it stays, since other workers share it.
   */
  readonly consumerName?: string
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

/** One run of a source: its chunks, and how its batches are decoded, delivered and checkpointed. */
export interface SourceRun<A> {
  /** Raw records, decoded only when their batch runs. */
  readonly chunks: Stream.Stream<RecordChunk<KinesisRecord>, KinesisError | LeaseStoreError, Kinesis>
  /** Decodes a batch's records (see {@link DecodeOptions}). */
  readonly decode: (
    records: ReadonlyArray<KinesisRecord>,
    options: DecodeOptions
  ) => Either.Either<ReadonlyArray<StreamRecord<A>>, DecodeError | DeaggregateError>
  /** What of a closed batch may still go to the sink: with leases, not the shards lost meanwhile. */
  readonly deliverable: (draft: Draft<KinesisRecord>) => Draft<KinesisRecord>
  readonly fencingTokens: (draft: Draft<KinesisRecord>) => ReadonlyMap<string, number>
  /**
   * Checkpoints a batch the sink finished, with the operator state of the shards in `states`
   * (each in one write with its shard's position); answers the shards whose state was written.
   */
  readonly commit: (
    draft: Draft<KinesisRecord>,
    states: ReadonlyMap<string, Uint8Array>
  ) => Effect.Effect<ReadonlySet<string>, CheckpointError | LeaseStoreError>
  /**
   * The shards being read now (with leases: under which holding), once a child's parents ended:
   * a stateful pipeline holds their state even while they bring no records.
   */
  readonly activeShards: () => ReadonlyMap<string, LeaseSession | undefined>
  /** The operator state committed for a shard (with leases: under the holding `session`). */
  readonly loadState: (
    shardId: string,
    session: LeaseSession | undefined
  ) => Effect.Effect<StoredState, CheckpointError | LeaseStoreError | KinesisError, Kinesis>
  /** The stream and shard a shard id of this run's records stands for (merged runs prefix them). */
  readonly origin: (shardId: string) => { readonly streamName: string; readonly shardId: string }
  /** A graceful stop began. */
  readonly shutdown: Effect.Effect<void>
  /** An interrupted run first finishes the batch in the sink (with leases: a clean handoff to the next owner). */
  readonly finishInFlightOnInterrupt: boolean
  /** With leases: the lease table's rows for this stream (every worker's), for the dashboard. */
  readonly leaseTable?: Effect.Effect<ReadonlyArray<Lease>, LeaseStoreError> | undefined
}

/** Why a source could not start. */
export type SourceStartError = CheckpointError | LeaseStoreError | KinesisError | InvalidOption

/** A source with its options checked, ready to start; `R` is where it keeps positions (CheckpointStore or LeaseStore). */
export interface ResolvedSource<A, R = CheckpointStore | LeaseStore> {
  readonly scope: CheckpointScope
  readonly batchInterval: Duration.Duration
  readonly maxBatchRecords: number
  /** Payload bytes a batch holds at most (one bigger record alone passes it); undefined: no byte cap. */
  readonly maxBatchBytes?: number | undefined
  /**
   * Opens the source for one run, in the run's scope. `stateful`: the pipeline keeps operator
   * state, so a child shard starts only once its parents' final state is committed.
   */
  readonly start: (options: { readonly stateful: boolean }) => Effect.Effect<SourceRun<A>, SourceStartError, Scope.Scope | Kinesis | R>
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

const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024

/** Checks the options and builds the source; fails with {@link InvalidOption} naming what to change. */
export const resolveKinesisSource = <A>(
  options: KinesisSourceOptions<A> | LeasedSourceOptions<A>
): Effect.Effect<ResolvedSource<A>, InvalidOption> =>
  Effect.gen(function* () {
    const streamName = yield* textOption("streamName", options.streamName)
    const applicationName = yield* textOption("applicationName", options.applicationName ?? "shardline")
    const batchInterval = yield* durationOption("batchInterval", options.batchInterval, 0, Duration.zero, true)
    const maxBatchRecords = yield* integerOption("maxBatchRecords", options.maxBatchRecords, 10_000, 1)
    const maxBatchBytes = yield* integerOption("maxBatchBytes", options.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, 1)
    const startAt = yield* checkStartAt(options.startAt ?? "TRIM_HORIZON")
    const reader = yield* resolveReaderOptions(options.reader)
    const codec = options.codec
    if (typeof codec?.decode !== "function") {
      return yield* new InvalidOption({ option: "codec", given: typeof codec, expected: "a Codec, e.g. Codec.protobuf(Schema)" })
    }
    const wanted = options.shardIds === undefined ? undefined : new Set(options.shardIds)
    const deaggregate = options.deaggregate !== false
    const filter = options.filter
    const badFilter = checkFilter(filter)
    if (badFilter !== undefined) return yield* badFilter
    const retrieval = options.retrieval ?? "polling"
    if (retrieval !== "polling" && retrieval !== "fanout") {
      return yield* new InvalidOption({ option: "retrieval", given: JSON.stringify(retrieval) ?? String(retrieval), expected: `"polling" or "fanout"` })
    }
    const consumerName = yield* textOption("consumerName", options.consumerName ?? applicationName)
    const scope = { applicationName, streamName }
    const leases = "leases" in options && options.leases !== undefined ? yield* resolveCoordination(options.leases) : undefined
    if (leases !== undefined && wanted !== undefined) {
      return yield* new InvalidOption({ option: "shardIds", given: JSON.stringify(options.shardIds), expected: "no shardIds with leases (the lease table decides who reads which shard)" })
    }
    // A stream that is not there (or a region, endpoint or credentials that do not work) fails here, before anything starts.
    const verified = verifyStream(streamName, reader.retry)
    const start: ResolvedSource<A>["start"] =
      leases === undefined
        ? ({ stateful }) =>
          Effect.zipRight(
            verified,
            Effect.flatMap(shardReading(streamName, retrieval, consumerName, reader, true), (read) =>
              startCheckpointed({ scope, codec, deaggregate, filter, reader, read, startAt, wanted, stateful }))
          )
        : () =>
          Effect.zipRight(
            verified,
            Effect.flatMap(shardReading(streamName, retrieval, consumerName, reader, false), (read) =>
              startLeased({ scope, codec, deaggregate, filter, reader, read, startAt, settings: leases }))
          )
    return { scope, batchInterval, maxBatchRecords, maxBatchBytes, start }
  })

/** Reads every (wanted) shard in lineage order from the positions in the CheckpointStore. */
const startCheckpointed = <A>(config: {
  readonly scope: CheckpointScope
  readonly codec: Codec<A>
  readonly deaggregate: boolean
  readonly filter: RecordFilter | undefined
  readonly read: ShardReading
  readonly reader: ShardReaderSettings
  readonly startAt: InitialPosition
  readonly wanted: ReadonlySet<string> | undefined
  readonly stateful: boolean
}): Effect.Effect<SourceRun<A>, CheckpointError, CheckpointStore> =>
  Effect.gen(function* () {
    const { scope, codec, reader, wanted } = config
    const store = yield* CheckpointStore
    const checkpoints = yield* store.load(scope)
    const streamName = scope.streamName
    const meter = checkpointMeter(scope.applicationName, streamName, undefined)
    /** Every write of positions or state, counted. */
    const save: typeof store.save = (...args) =>
      store.save(...args).pipe(Effect.tapBoth({ onFailure: () => meter.failed("error"), onSuccess: () => meter.written }))
    const list = listShards(streamName, reader.retry)
    // Shards with a checkpoint of their own (they never inherit their parents' state).
    const started = new Set(checkpoints.keys())
    // Shards read in this run, completed once their SHARD_END (and final state) is committed.
    const endCommitted = new Map<string, Deferred.Deferred<void>>()
    // Children that took their parents' state, for pruning the parents' copy once all took theirs.
    const inherited = new Map<string, ReadonlyArray<string>>()
    let lastListing: ReadonlyArray<ShardInfo> = []
    const reading = new Map<string, undefined>()

    const read = (shard: ShardInfo, position: ShardPosition) => {
      endCommitted.set(shard.shardId, Deferred.unsafeMake<void>(FiberId.none))
      const records = config.read({ streamName, shardId: shard.shardId, position, closed: shard.closed }).pipe(Stream.map((chunk) => rawChunk(chunk)))
      // With operator state, a child waits for its parents' final state to be committed.
      const waitFor = config.stateful ? parentsOf(shard).flatMap((p) => endCommitted.get(p) ?? []) : []
      return Stream.unwrap(Effect.as(Effect.forEach(waitFor, Deferred.await).pipe(Effect.tap(() => void reading.set(shard.shardId, undefined))), records))
    }

    const chunks = readInLineageOrder({
      list,
      ended: new Set([...checkpoints].filter(([, c]) => c._tag === "ShardEnd").map(([id]) => id)),
      wanted: (shardId) => wanted === undefined || wanted.has(shardId),
      initial: config.startAt,
      checkpointed: (shardId) => {
        const checkpoint = checkpoints.get(shardId)
        return checkpoint?._tag === "Sequence" ? ShardPosition.afterCheckpoint(checkpoint) : undefined
      },
      read
    })

    const loadState = (shardId: string) =>
      Effect.gen(function* () {
        const own = yield* store.loadState(scope, shardId)
        const stored = yield* storedState({
          shardId,
          own,
          started: started.has(shardId),
          list: Effect.tap(list, (shards) => void (lastListing = shards)),
          parentState: (parent) => store.loadState(scope, parent)
        })
        if (stored._tag === "Inherited") {
          const shard = lastListing.find((s) => s.shardId === shardId)
          if (shard !== undefined) inherited.set(shardId, parentsOf(shard))
        }
        return stored
      })

    // A parent's state is dropped once each of its children has a state or checkpoint of its own.
    const pruneParents = (written: ReadonlySet<string>) =>
      Effect.suspend(() => {
        const done: Array<string> = []
        for (const child of written) {
          const parents = inherited.get(child)
          inherited.delete(child)
          for (const parent of parents ?? []) {
            const children = lastListing.filter((s) => parentsOf(s).includes(parent)).map((s) => s.shardId)
            if (children.every((c) => started.has(c))) done.push(parent)
          }
        }
        return done.length === 0 ? Effect.void : save(scope, new Map(), new Map(done.map((p) => [p, new Uint8Array(0)])))
      })

    const commit = (draft: Draft<KinesisRecord>, states: ReadonlyMap<string, Uint8Array>) =>
      Effect.gen(function* () {
        if (draft.checkpoints.size === 0 && states.size === 0) return noShards
        yield* save(scope, draft.checkpoints, states)
        for (const shardId of [...draft.checkpoints.keys(), ...states.keys()]) started.add(shardId)
        for (const [shardId, c] of draft.checkpoints) {
          const ended = endCommitted.get(shardId)
          if (c._tag === "ShardEnd") reading.delete(shardId)
          if (c._tag === "ShardEnd" && ended !== undefined) yield* Deferred.succeed(ended, undefined)
        }
        const written = new Set(states.keys())
        if (inherited.size > 0) yield* pruneParents(written)
        return written
      })

    return {
      chunks,
      decode: (records, options) => decodeRecords(codec, records, { ...options, deaggregate: config.deaggregate, filter: config.filter }),
      deliverable: (draft) => draft,
      fencingTokens: () => noTokens,
      commit,
      activeShards: () => reading,
      loadState,
      origin: (shardId) => ({ streamName, shardId }),
      shutdown: Effect.void,
      finishInFlightOnInterrupt: false
    }
  })

const noShards: ReadonlySet<string> = new Set()
const noTokens: ReadonlyMap<string, number> = new Map()
