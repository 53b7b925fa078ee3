import { Cause, Deferred, Effect, Exit, FiberId, Layer } from "effect"
import { CheckpointStore } from "../checkpoint/index.js"
import { InvalidOption } from "../config/index.js"
import type { MissingDependency } from "../internal/optionalDependency.js"
import { LeaseStore, type LeaseStoreError } from "../lease/index.js"
import { Metrics } from "../metrics/index.js"
import type { Batch } from "../pipeline/Batch.js"
import type { KinesisSourceOptions, LeasedSourceOptions } from "../pipeline/KinesisSource.js"
import { fromKinesis, type Pipeline } from "../pipeline/Pipeline.js"
import { type BatchDone, emptySummary, foreachBatch, type PipelineSummary, type RunOptions } from "../pipeline/run.js"
import type { SinkErrorOptions } from "../pipeline/sinkFailures.js"
import { errorOf, SinkFailed } from "./errors.js"
import { type ConsumerEventName, Emitter, type Listener } from "./events.js"
import { type ConsumerOptions, coreLeases, deadLetterLayer, kinesisLayer, type SinkResult, storeLayer } from "./options.js"

/**
 * A running consumer. It starts as soon as {@link createConsumer} returns; nothing it emits can
 * be missed by listeners attached in the same tick.
 */
export interface Consumer extends AsyncDisposable {
  /**
   * Resolves once the stream is verified and reading started (or when the consumer ended before
   * that without failing); rejects with the run's error if it failed before starting. Awaiting it
   * handles such a failure: `done` then rejects with it too, without an unhandled rejection. A
   * failure after the start still needs `done` awaited or an `error` listener.
   */
  readonly ready: Promise<void>
  /** Resolves with what the run did when it ends (stopped, or every shard read to its end); rejects with its error. */
  readonly done: Promise<PipelineSummary>
  /**
   * Stops gracefully: reading stops, what was read goes through the sink as the last batches,
   * their positions are checkpointed, leases are released. Resolves when the run has ended;
   * rejects as `done` does (e.g. `GracefulStopTimeout`). Calling it again answers the same promise.
   */
  stop(): Promise<void>
  /** Listens to an event; answers a function that removes the listener. */
  on<K extends ConsumerEventName>(event: K, listener: Listener<K>): () => void
  once<K extends ConsumerEventName>(event: K, listener: Listener<K>): () => void
  off<K extends ConsumerEventName>(event: K, listener: Listener<K>): void
}

const noop = () => {}

/**
 * Starts consuming a Kinesis stream with an async function as the sink, on the Effect core (same
 * batching, checkpoints, leases, retries, bisection and dead letters as `Pipeline.foreachBatch`).
 * It returns at once; the consumer starts in the background. Invalid options never throw: they
 * reject `done` (and `ready`) with `InvalidOption`, as a stream that does not exist does.
 *
 * @example
 * ```ts
 * import { Codec, createConsumer, SinkFailed } from "shardline/promise"
 *
 * const consumer = createConsumer({
 *   streamName: "orders",
 *   codec: Codec.json<Order>(),
 *   batchInterval: "1 second",
 *   kinesis: { region: "eu-west-1" },
 *   checkpoints: { file: ".shardline/checkpoints.json" },
 *   sink: async (batch) => { await db.insertMany(batch.records.map((r) => r.value)) },
 *   onSinkError: { maxRetryAttempts: 2, bisectBatchOnError: true, onFailure: { file: "dead-letters.jsonl" } }
 * })
 * consumer.on("batch", (b) => console.log(`batch ${b.batchId}: ${b.records} records`))
 * process.once("SIGTERM", () => void consumer.stop())
 * try {
 *   const summary = await consumer.done
 * } catch (error) {
 *   if (error instanceof SinkFailed) console.error("the database keeps failing", error.cause)
 *   throw error
 * }
 * ```
 */
export const createConsumer = <A>(options: ConsumerOptions<A>): Consumer => {
  const emitter = new Emitter()
  const stopSignal = Deferred.unsafeMake<void>(FiberId.none)
  let started = false
  let stopRequested = false
  // Sink calls per batch (a batch's lanes, retries and halves), until the batch is done.
  const sinkCalls = new Map<number, number>()

  const sink = (part: Batch<A>): Effect.Effect<SinkResult, SinkFailed> =>
    Effect.suspend(() => {
      const calls = (sinkCalls.get(part.batchId) ?? 0) + 1
      sinkCalls.set(part.batchId, calls)
      return Effect.tryPromise({
        try: async (signal) => options.sink(part, { signal }),
        catch: (cause) => new SinkFailed({ cause, batchId: part.batchId, records: part.records.length })
      }).pipe(
        Effect.tapError((error) =>
          Effect.sync(() => emitter.emit("sinkError", { batchId: part.batchId, records: part.records.length, sinkCalls: calls, error }))
        )
      )
    })

  const onStarted = (streamName: string, applicationName: string) =>
    Effect.sync(() => {
      started = true
      emitter.emit("started", { streamName, applicationName })
    })

  const onBatchDone = (done: BatchDone) =>
    Effect.sync(() => {
      // A batch that never went to the sink (empty, with skipEmptyBatches) is no event.
      if (done.batchId === undefined) return
      const calls = sinkCalls.get(done.batchId) ?? 0
      sinkCalls.delete(done.batchId)
      emitter.emit("batch", {
        batchId: done.batchId,
        records: done.records,
        sourceRecords: done.sourceRecords,
        checkpoints: done.checkpoints,
        closedBy: done.closedBy,
        sinkCalls: calls,
        deadLettered: done.deadLettered,
        filtered: done.filtered
      })
    })

  const program = Effect.gen(function* () {
    if (typeof options?.sink !== "function") {
      return yield* new InvalidOption({ option: "sink", given: typeof options?.sink, expected: "an async function of the batch" })
    }
    const kinesis = yield* kinesisLayer(options.kinesis)
    const store = yield* storeLayer(options as ConsumerOptions<unknown>)
    const deadLetter = options.deadLetter === undefined ? undefined : yield* deadLetterLayer("deadLetter", options.deadLetter)
    const onFailure = options.onSinkError?.onFailure === undefined
      ? undefined
      : yield* deadLetterLayer("onSinkError.onFailure", options.onSinkError.onFailure)

    const sourceOptions: KinesisSourceOptions<A> | LeasedSourceOptions<A> =
      options.leases === undefined ? options : { ...options, leases: coreLeases(options.leases) }
    const pipeline = fromKinesis(sourceOptions as KinesisSourceOptions<A>) as Pipeline<A, never, CheckpointStore | LeaseStore>
    const environment = Layer.mergeAll(
      kinesis,
      store.layer as Layer.Layer<CheckpointStore | LeaseStore, LeaseStoreError | MissingDependency>,
      deadLetter === undefined ? Layer.empty : Layer.provide(deadLetter, kinesis)
    )
    const scope = { streamName: options.streamName, applicationName: options.applicationName ?? "shardline" }
    const run = foreachBatch(pipeline, sink, runOptions(options, onFailure, scope)).pipe(Effect.provide(environment))
    if (options.metrics === undefined) return yield* run
    const metrics = options.metrics
    // The endpoint lives as long as the run.
    return yield* Effect.scoped(Effect.gen(function* () {
      const server = yield* Metrics.serve({
        port: metrics.port,
        ...(metrics.host === undefined ? {} : { host: metrics.host }),
        ...(metrics.path === undefined ? {} : { path: metrics.path })
      })
      emitter.emit("listening", { what: "metrics", url: server.url })
      return yield* run
    }))
  })

  // Started after the current tick, so listeners attached right after createConsumer hear everything.
  const fiber = Effect.runFork(Effect.zipRight(Effect.yieldNow(), program))

  let markReady: () => void = noop
  let failReady: (error: unknown) => void = noop
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    failReady = reject
  })
  // `done` carries the error; `ready` never makes an unhandled rejection of its own.
  ready.catch(noop)
  // Whether the caller looked at `ready` (to await it), see `done`'s observer.
  let readyWatched = false
  emitter.once("started", () => markReady())

  const done = new Promise<PipelineSummary>((resolve, reject) => {
    fiber.addObserver((exit) => {
      if (Exit.isSuccess(exit) || (stopRequested && Cause.isInterruptedOnly(exit.cause))) {
        const summary = Exit.isSuccess(exit) ? exit.value : emptySummary
        emitter.emit("stopped", summary)
        markReady()
        resolve(summary)
        return
      }
      const error = errorOf(exit.cause)
      // With an "error" listener, the failure is handled even if no one awaits `done`; so is a
      // failure before the start when `ready` is watched (it says the same thing).
      if (emitter.count("error") > 0 || (!started && readyWatched)) done.catch(noop)
      emitter.emit("error", error)
      failReady(error)
      reject(error)
    })
  })

  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    if (stopped === undefined) {
      stopRequested = true
      Deferred.unsafeDone(stopSignal, Exit.void)
      // Still starting: nothing was read yet, so there is nothing to drain.
      if (!started) fiber.unsafeInterruptAsFork(FiberId.none)
      stopped = done.then(noop)
    }
    return stopped
  }

  const runOptions = (opts: ConsumerOptions<A>, onFailure: SinkErrorOptions["onFailure"], scope: { readonly streamName: string; readonly applicationName: string }): RunOptions => {
    const sinkErrors = opts.onSinkError
    const { onFailure: _given, ...policy } = sinkErrors ?? {}
    return {
      stopWhen: Deferred.await(stopSignal),
      onStarted: onStarted(scope.streamName, scope.applicationName),
      onBatchDone,
      ...(opts.dashboard === undefined
        ? {}
        : {
          dashboard: {
            port: opts.dashboard.port,
            ...(opts.dashboard.host === undefined ? {} : { host: opts.dashboard.host }),
            onListening: (url: string) => Effect.sync(() => emitter.emit("listening", { what: "dashboard", url }))
          }
        }),
      ...(opts.parallelism === undefined ? {} : { parallelism: opts.parallelism }),
      ...(opts.maxBatchesInFlight === undefined ? {} : { maxBatchesInFlight: opts.maxBatchesInFlight }),
      ...(opts.gracefulStopTimeout === undefined ? {} : { gracefulStopTimeout: opts.gracefulStopTimeout }),
      ...(opts.gracefulShutdownTimeout === undefined ? {} : { gracefulShutdownTimeout: opts.gracefulShutdownTimeout }),
      ...(opts.skipEmptyBatches === undefined ? {} : { skipEmptyBatches: opts.skipEmptyBatches }),
      ...(sinkErrors === undefined ? {} : { onSinkError: { ...policy, ...(onFailure === undefined ? {} : { onFailure }) } })
    }
  }

  return {
    get ready() {
      readyWatched = true
      return ready
    },
    done,
    stop,
    on: (event, listener) => emitter.on(event, listener),
    once: (event, listener) => emitter.once(event, listener),
    off: (event, listener) => emitter.off(event, listener),
    [Symbol.asyncDispose]: stop
  }
}
