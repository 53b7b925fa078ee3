import { Effect, type Layer } from "effect"
import type { Duration } from "effect"
import { CheckpointStore } from "../checkpoint/index.js"
import type { Codec } from "../codec/index.js"
import { InvalidOption } from "../config/index.js"
import type { InitialPosition, ShardReaderOptions } from "../consumer/index.js"
import type { LeaseCoordinationOptions, LifecycleHooks } from "../coordinator/index.js"
import { DeadLetter, type DeadLetterRecord } from "../deadletter/index.js"
import type { MissingDependency } from "../internal/optionalDependency.js"
import { Kinesis, type KinesisOptions } from "../kinesis/index.js"
import { type DynamoDbLeaseStoreOptions, LeaseStore, type LeaseStoreError, type SqliteLeaseStoreOptions } from "../lease/index.js"
import type { Batch } from "../pipeline/Batch.js"
import type { RetrySchedule } from "../retry/index.js"
import type { BatchItemFailures } from "../pipeline/sinkFailures.js"
import type { RecordFilter } from "../pipeline/filter.js"
import type { Retrieval } from "../pipeline/retrieval.js"

/** What the sink may answer: nothing (the whole batch is done), or the records it failed on. */
export type SinkResult = void | undefined | BatchItemFailures

/** Handed to each sink call besides the batch. */
export interface SinkContext {
  /**
   * Aborted when the consumer cuts the call off: a graceful stop that ran past
   * `gracefulStopTimeout`. Pass it to `fetch`, database drivers and the like.
   */
  readonly signal: AbortSignal
}

/**
 * Where records go that cannot be processed (the sink gave up on them, or they do not decode):
 * a JSON Lines file (`readDeadLetters` reads it back), another Kinesis stream, or a function of
 * yours (a rejected promise fails the run with `DeadLetterError`).
 *
 * @example
 * ```ts
 * const toFile: DeadLetterDestination = { file: "./dead-letters.jsonl" }
 * const toStream: DeadLetterDestination = { kinesisStream: "orders-dlq" }
 * const toQueue: DeadLetterDestination = async (records) => { await queue.sendAll(records) }
 * ```
 */
export type DeadLetterDestination =
  | { readonly file: string }
  | { readonly kinesisStream: string }
  | ((records: ReadonlyArray<DeadLetterRecord>) => Promise<void> | void)

/**
 * Lambda-style handling of a failing sink, as the core's `SinkErrorOptions`, with the dead-letter
 * destination (`onFailure`) given as a {@link DeadLetterDestination}.
 *
 * @example
 * ```ts
 * const onSinkError: ConsumerSinkErrorOptions = {
 *   maxRetryAttempts: 2,
 *   retry: backoff({ base: "50 millis", cap: "1 second", maxRetries: Infinity }),
 *   bisectBatchOnError: true,
 *   onFailure: { file: "./failed-orders.jsonl" }
 * }
 * ```
 */
export interface ConsumerSinkErrorOptions {
  /** Retries of a failing batch (or half batch) before it is split or given up. Default 0. */
  readonly maxRetryAttempts?: number
  /** Waits between retries, e.g. `backoff({ ... })`. Default: 100 ms doubling, at most 5 s. */
  readonly retry?: RetrySchedule
  /** Split a batch that still fails into halves, recursively, to isolate the records the sink cannot take. Default false. */
  readonly bisectBatchOnError?: boolean
  /** Records older than this once the sink failed on them are given up at once. Default: no limit. */
  readonly maxRecordAge?: Duration.DurationInput
  /**
   * Where records the sink gave up on go. Default: the consumer's `deadLetter`; with neither,
   * the run fails with the sink's last error.
   */
  readonly onFailure?: DeadLetterDestination
}

/** Where a consumer without leases keeps its positions: in memory (lost when it stops) or in a JSON file. */
export type CheckpointsOption = "memory" | { readonly file: string }

/** The lease table: in memory (one process), SQLite (processes on one machine) or DynamoDB (a fleet). */
export type LeaseStoreOption =
  | "memory"
  | { readonly sqlite: SqliteLeaseStoreOptions }
  | { readonly dynamodb: DynamoDbLeaseStoreOptions }

/** The core's lease hooks, as functions that may return promises. A hook that throws or rejects is logged and ignored. */
export type ConsumerLeaseHooks = {
  readonly [K in keyof LifecycleHooks]?: (event: Parameters<NonNullable<LifecycleHooks[K]>>[0]) => void | Promise<void>
}

/**
 * Share the stream's shards with other workers through a lease table (the core's
 * `LeaseCoordinationOptions`, plus the table in `store`); positions are kept in the leases.
 *
 * @example
 * ```ts
 * const leases: ConsumerLeaseOptions = { store: { sqlite: { path: "./leases.db" } }, failoverTime: "10 seconds" }
 * ```
 */
export interface ConsumerLeaseOptions extends Omit<LeaseCoordinationOptions, "hooks"> {
  readonly store: LeaseStoreOption
  readonly hooks?: ConsumerLeaseHooks
}

/** What every consumer takes, whichever way it keeps positions. */
export interface ConsumerBaseOptions<A> {
  readonly streamName: string
  /** Turns each record's bytes into `A`, e.g. `Codec.protobuf(OrderSchema)` or a generated `OrderCodec`. */
  readonly codec: Codec<A>
  /** A batch closes this long after it opened, e.g. `"1 second"` or `1000` (milliseconds). */
  readonly batchInterval: Duration.DurationInput
  /** A batch also closes when it holds this many records. Default 10,000. */
  readonly maxBatchRecords?: number
  /** Where shards without a checkpoint start. Default `"TRIM_HORIZON"`. */
  readonly startAt?: InitialPosition
  /** Whose checkpoints these are (the KCL's application name). Default `"shardline"`. */
  readonly applicationName?: string
  /** Read only these shards (not with leases). Default all. */
  readonly shardIds?: ReadonlyArray<string>
  /** How each shard is polled (limit, poll delays, prefetch, retries). */
  readonly reader?: ShardReaderOptions
  /** Expand KPL aggregates into their user records. Default true. */
  readonly deaggregate?: boolean
  /** `"polling"` (GetRecords, the default) or `"fanout"` (enhanced fan-out). */
  readonly retrieval?: Retrieval
  /** With `retrieval: "fanout"`, the stream consumer's name. Default the application name. */
  readonly consumerName?: string
  /** How to reach Kinesis (region, endpoint, credentials, ...); left out, the AWS SDK's own resolution. */
  readonly kinesis?: KinesisOptions
  /**
   * Called with each batch, one at a time, in order; the batch's positions are checkpointed once
   * its promise resolves. Reject (or throw) to fail it: see `onSinkError`. Resolve with
   * `batchItemFailures(records)` to fail only some records.
   */
  readonly sink: (batch: Batch<A>, context: SinkContext) => SinkResult | Promise<SinkResult>
  /** Retries, bisection and dead letters for a failing sink. Default: the first failure fails the run. */
  readonly onSinkError?: ConsumerSinkErrorOptions
  /** Where records that do not decode go (and, with `onSinkError`, those the sink gave up on). Default: a record that does not decode fails the run. */
  readonly deadLetter?: DeadLetterDestination
  /** How long a graceful `stop()` may take to drain; past it, `done` rejects with `GracefulStopTimeout`. Default 10 batch intervals. */
  readonly gracefulStopTimeout?: Duration.DurationInput
  /** The KCL's name for `gracefulStopTimeout`. */
  readonly gracefulShutdownTimeout?: Duration.DurationInput
  /** Leave out batches with no records. Default false. */
  readonly skipEmptyBatches?: boolean
  /** A batch also closes before the record that would take its payload bytes past this. Default 64 MiB. */
  readonly maxBatchBytes?: number
  /**
   * Skips records before they are decoded, on their metadata or raw bytes (e.g.
   * `RecordFilter.partitionKey({ prefix: "eu-" })`); skipped records are still checkpointed.
   */
  readonly filter?: RecordFilter
  /**
   * Sink calls per shard at once, split by partition key (Lambda's ParallelizationFactor): one
   * key's records stay in order, and a batch is checkpointed once all its calls and every batch
   * before it are done. The sink is then called with sub-batches (`batch.lane` set). Default 1.
   */
  readonly parallelism?: number
  /** With `parallelism`: batches in flight at most. Default 4. */
  readonly maxBatchesInFlight?: number
  /**
   * Serves the live dashboard (batch timeline, shards, leases, recent errors and dead letters) for
   * as long as the consumer runs, on 127.0.0.1 unless `host` says otherwise. Its address comes
   * with the `listening` event (`{ what: "dashboard", url }`).
   */
  readonly dashboard?: { readonly port: number; readonly host?: string }
  /**
   * Serves shardline's metrics as Prometheus text (`GET /metrics`) for as long as the consumer
   * runs, on 127.0.0.1 unless `host` says otherwise. Its address comes with the `listening` event.
   */
  readonly metrics?: { readonly port: number; readonly host?: string; readonly path?: string }
}

/**
 * A consumer's options: the stream, codec, batching and sink, and where positions are kept:
 * `checkpoints` for a consumer on its own, or `leases` to share the shards with other workers.
 *
 * @example
 * ```ts
 * const options: ConsumerOptions<Purchase> = {
 *   streamName: "purchases",
 *   codec: PurchaseCodec,
 *   batchInterval: "1 second",
 *   kinesis: { region: "eu-west-1" },
 *   checkpoints: { file: ".shardline/checkpoints.json" },
 *   sink: async (batch) => { await db.insertMany(batch.records.map((r) => r.value)) }
 * }
 * ```
 */
export type ConsumerOptions<A> = ConsumerBaseOptions<A> & (
  | { readonly checkpoints: CheckpointsOption; readonly leases?: undefined }
  | { readonly leases: ConsumerLeaseOptions; readonly checkpoints?: undefined }
)

const invalid = (option: string, given: unknown, expected: string) =>
  new InvalidOption({ option, given: typeof given === "object" && given !== null ? JSON.stringify(given) ?? typeof given : String(given), expected })

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

/** A dead-letter destination as a layer, checked. */
export const deadLetterLayer = (
  option: string,
  destination: DeadLetterDestination
): Effect.Effect<Layer.Layer<DeadLetter, never, Kinesis>, InvalidOption> => {
  if (typeof destination === "function") {
    return Effect.succeed(DeadLetter.layerFunction("function", (records) => Effect.tryPromise(async () => destination(records))))
  }
  const given: unknown = destination
  if (isObject(given) && typeof given.file === "string") return Effect.succeed(DeadLetter.layerFile({ path: given.file }))
  if (isObject(given) && typeof given.kinesisStream === "string") {
    return Effect.succeed(DeadLetter.layerKinesis({ streamName: given.kinesisStream }))
  }
  return Effect.fail(invalid(option, destination, `{ file: path }, { kinesisStream: name } or an async function of the dead letters`))
}

/** Where positions are kept: a checkpoint store, or a lease table. */
export type StoreLayer =
  | { readonly _tag: "Checkpoints"; readonly layer: Layer.Layer<CheckpointStore> }
  | { readonly _tag: "Leases"; readonly layer: Layer.Layer<LeaseStore, LeaseStoreError | MissingDependency> }

const checkpointsIn = (layer: Layer.Layer<CheckpointStore>) => Effect.succeed<StoreLayer>({ _tag: "Checkpoints", layer })
const leasesIn = (layer: Layer.Layer<LeaseStore, LeaseStoreError | MissingDependency>) => Effect.succeed<StoreLayer>({ _tag: "Leases", layer })

/** Where positions are kept, as the layer the pipeline needs (checked). */
export const storeLayer = (options: ConsumerOptions<unknown>): Effect.Effect<StoreLayer, InvalidOption> => {
  const { checkpoints, leases } = options
  if (checkpoints !== undefined && leases !== undefined) {
    return Effect.fail(invalid("checkpoints", checkpoints, "either checkpoints or leases, not both (with leases, positions are kept in the lease table)"))
  }
  if (leases !== undefined) {
    const store: unknown = isObject(leases) ? leases.store : undefined
    if (store === "memory") return leasesIn(LeaseStore.layerMemory)
    if (isObject(store) && isObject(store.sqlite)) return leasesIn(LeaseStore.layerSqlite(store.sqlite as unknown as SqliteLeaseStoreOptions))
    if (isObject(store) && isObject(store.dynamodb)) return leasesIn(LeaseStore.layerDynamoDB(store.dynamodb as unknown as DynamoDbLeaseStoreOptions))
    return Effect.fail(invalid("leases.store", store, `"memory", { sqlite: { path } } or { dynamodb: { tableName } }`))
  }
  if (checkpoints === "memory") return checkpointsIn(CheckpointStore.layerMemory)
  if (isObject(checkpoints) && typeof checkpoints.file === "string") return checkpointsIn(CheckpointStore.layerFile({ path: checkpoints.file }))
  return Effect.fail(invalid("checkpoints", checkpoints, `"memory" or { file: path } (or leases: { store, ... })`))
}

/** The lease options for the core: promise hooks as effects (a failing hook is logged and ignored). */
export const coreLeases = (leases: ConsumerLeaseOptions): LeaseCoordinationOptions => {
  const { hooks, store: _store, ...rest } = leases
  if (hooks === undefined) return rest
  const wrap = <E>(name: string, hook: ((event: E) => void | Promise<void>) | undefined) =>
    hook === undefined
      ? undefined
      : (event: E) =>
        Effect.tryPromise(async () => hook(event)).pipe(
          Effect.catchAll((error) => Effect.logWarning(`shardline: the ${name} hook failed; ignored`, error.cause))
        )
  const core: { -readonly [K in keyof LifecycleHooks]: LifecycleHooks[K] } = {}
  const acquired = wrap("onLeaseAcquired", hooks.onLeaseAcquired)
  const lost = wrap("onLeaseLost", hooks.onLeaseLost)
  const ended = wrap("onShardEnded", hooks.onShardEnded)
  const shutdown = wrap("onShutdownRequested", hooks.onShutdownRequested)
  if (acquired !== undefined) core.onLeaseAcquired = acquired
  if (lost !== undefined) core.onLeaseLost = lost
  if (ended !== undefined) core.onShardEnded = ended
  if (shutdown !== undefined) core.onShutdownRequested = shutdown
  return { ...rest, hooks: core }
}

/** The Kinesis client layer, checked. */
export const kinesisLayer = (options: KinesisOptions | undefined): Effect.Effect<Layer.Layer<Kinesis>, InvalidOption> =>
  options === undefined || isObject(options)
    ? Effect.succeed(Kinesis.layer(options ?? {}))
    : Effect.fail(invalid("kinesis", options, "{ region?, endpoint?, credentials?, requestHandler? }"))

