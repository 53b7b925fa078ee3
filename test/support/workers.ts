/**
 * Workers sharing one stream through one lease table, in one process: each worker is a fiber
 * running a leased pipeline. A crash cuts the worker off from the lease store first (its last
 * writes never land, as with a killed process) and then interrupts it.
 */
import { Deferred, type Duration, Effect, Fiber, type Scope } from "effect"
import {
  type Batch,
  Codec,
  type InitialPosition,
  type Kinesis,
  type LeaseCoordinationOptions,
  LeaseStore,
  type LeaseStoreApi,
  LeaseStoreError,
  Pipeline,
  type ShardReaderOptions
} from "../../src/index.js"

/** One record as a sink saw it. */
export interface Seen {
  readonly worker: string
  readonly batchId: number
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly value: string
  readonly token: number
}

export interface WorkerOptions {
  readonly streamName: string
  readonly applicationName?: string
  readonly batchInterval?: Duration.DurationInput
  readonly leases?: Omit<LeaseCoordinationOptions, "workerId">
  readonly reader?: ShardReaderOptions
  readonly startAt?: InitialPosition
  /** Default 5 seconds. */
  readonly gracefulStopTimeout?: Duration.DurationInput
  /** Operators between the source and the sink; their outputs are recorded as JSON text in `value`. */
  readonly operators?: (pipeline: Pipeline.Pipeline<string, never, LeaseStore>) => Pipeline.Pipeline<unknown, never, LeaseStore>
  /** Runs inside the sink before the batch is recorded (e.g. to hold a batch in flight). */
  readonly beforeRecord?: (worker: string, batch: Batch<unknown>) => Effect.Effect<void>
  /** As in `Pipeline.foreachBatch`. Default 1. */
  readonly parallelism?: number
}

interface Running {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly stop: Deferred.Deferred<void>
  severed: boolean
}

/** A lease store that fails every call once `severed()` says so. */
const severable = (store: LeaseStoreApi, severed: () => boolean): LeaseStoreApi => {
  const guard =
    <Args extends ReadonlyArray<unknown>, A, E>(operation: string, f: (...args: Args) => Effect.Effect<A, E>) =>
    (...args: Args): Effect.Effect<A, E | LeaseStoreError> =>
      Effect.suspend((): Effect.Effect<A, E | LeaseStoreError> =>
        severed() ? Effect.fail(new LeaseStoreError({ operation, store: store.name, reason: "the worker crashed" })) : f(...args)
      )
  return {
    name: store.name,
    list: guard("list", store.list),
    listScopes: guard("listScopes", store.listScopes),
    get: guard("get", store.get),
    create: guard("create", store.create),
    take: guard("take", store.take),
    renew: guard("renew", store.renew),
    checkpoint: guard("checkpoint", store.checkpoint),
    loadState: guard("loadState", store.loadState),
    release: guard("release", store.release),
    setChildren: guard("setChildren", store.setChildren),
    delete: guard("delete", store.delete)
  }
}

export const makeWorkers = (options: WorkerOptions) =>
  Effect.gen(function* () {
    const store = yield* LeaseStore
    const scope = yield* Effect.scope
    const running = new Map<string, Running>()
    const seen: Array<Seen> = []
    const failures: Array<{ worker: string; error: unknown }> = []
    const lost: Array<{ worker: string; shardId: string; reason: string }> = []

    const start = (worker: string): Effect.Effect<void, never, Kinesis | Scope.Scope> =>
      Effect.gen(function* () {
        if (running.has(worker)) return
        const stop = yield* Deferred.make<void>()
        const entry: { severed: boolean } = { severed: false }
        const pipeline = Pipeline.fromKinesis({
          streamName: options.streamName,
          applicationName: options.applicationName ?? "workers",
          codec: Codec.utf8,
          batchInterval: options.batchInterval ?? "200 millis",
          reader: options.reader ?? { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" },
          ...(options.startAt === undefined ? {} : { startAt: options.startAt }),
          leases: {
            failoverTime: "1 second",
            shardSyncInterval: "2 seconds",
            ...options.leases,
            workerId: worker,
            hooks: {
              ...options.leases?.hooks,
              onLeaseLost: (event) =>
                Effect.zipRight(
                  Effect.sync(() => void lost.push({ worker, shardId: event.shardId, reason: event.reason._tag })),
                  options.leases?.hooks?.onLeaseLost?.(event) ?? Effect.void
                )
            }
          }
        })
        const transformed = options.operators === undefined ? pipeline : options.operators(pipeline)
        const text = options.operators === undefined ? (v: unknown) => v as string : (v: unknown) => JSON.stringify(v)
        const run = transformed.pipe(
          Pipeline.foreachBatch(
            (batch: Batch<unknown>) =>
              Effect.zipRight(options.beforeRecord?.(worker, batch) ?? Effect.void, Effect.sync(() => {
                if (entry.severed) return
                for (const r of batch.records) {
                  seen.push({
                    worker,
                    batchId: batch.batchId,
                    shardId: r.shardId,
                    sequenceNumber: r.sequenceNumber,
                    partitionKey: r.partitionKey,
                    value: text(r.value),
                    token: batch.fencingTokens.get(r.shardId) ?? -1
                  })
                }
              })),
            {
              stopWhen: Deferred.await(stop),
              gracefulStopTimeout: options.gracefulStopTimeout ?? "5 seconds",
              ...(options.parallelism === undefined ? {} : { parallelism: options.parallelism })
            }
          ),
          Effect.provideService(LeaseStore, severable(store, () => entry.severed)),
          Effect.tapError((error) => Effect.sync(() => void (entry.severed || failures.push({ worker, error }))))
        )
        const fiber = yield* Effect.forkIn(run, scope)
        running.set(worker, Object.assign(entry, { fiber, stop }))
      })

    /** Takes a running worker out of the running set and ends it with `end`; nothing if it is not running. */
    const ending = (worker: string, end: (r: Running) => Effect.Effect<unknown>) =>
      Effect.suspend(() => {
        const r = running.get(worker)
        if (r === undefined) return Effect.void
        running.delete(worker)
        return Effect.asVoid(end(r))
      })

    /** Asks a worker to stop gracefully; answers once it has (drained, checkpointed, released). */
    const stop = (worker: string) =>
      ending(worker, (r) => Effect.zipRight(Deferred.succeed(r.stop, undefined), Fiber.await(r.fiber)))

    /** Interrupts a worker (scope close in code): it finishes the batch in its sink, checkpoints, releases. */
    const interrupt = (worker: string) => ending(worker, (r) => Fiber.interrupt(r.fiber))

    /** Kills a worker: its store calls fail from now on, then it is interrupted (not awaited). */
    const crash = (worker: string) =>
      ending(worker, (r) => {
        r.severed = true
        return Effect.forkIn(Fiber.interrupt(r.fiber), scope)
      })

    return {
      start,
      stop,
      crash,
      interrupt,
      fiber: (worker: string) => running.get(worker)?.fiber,
      seen,
      failures,
      lost,
      alive: () => [...running.keys()],
      leases: store.list({ applicationName: options.applicationName ?? "workers", streamName: options.streamName })
    }
  })
