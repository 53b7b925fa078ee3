import type { PutRecordsResultEntry } from "@aws-sdk/client-kinesis"
import { Context, Data, Deferred, Duration, Effect, Exit, Fiber, type Scope, TestClock } from "effect"
import { type Checkpoint, CheckpointStore, type CheckpointStoreApi, makeMemoryStore } from "../checkpoint/index.js"
import { InvalidOption } from "../config/index.js"
import { Kinesis } from "../kinesis/index.js"
import type { Batch, PipelineError, PipelineSummary } from "../pipeline/index.js"
import type { Pipeline } from "../pipeline/Pipeline.js"
import { foreachBatch } from "../pipeline/Pipeline.js"
import type { SinkErrorOptions } from "../pipeline/sinkFailures.js"
import { checkScenarioPlan } from "./faultCheck.js"
import type { Crash, FaultPlan, ScenarioPlan } from "./faultPlan.js"
import { Faults, type FaultRule, type RecordedCall } from "./faults.js"
import { MemoryKinesis, type MemoryKinesisHandle, type MemoryKinesisOptions } from "./MemoryKinesis.js"

/** One record to put, as a producer would send it. */
export interface TestRecord {
  readonly partitionKey: string
  readonly data: Uint8Array
  /** Decimal hash key, to place the record on a chosen shard. */
  readonly explicitHashKey?: string
}

/** The world a pipeline test runs in. Everything lives in memory and on the test clock. */
export interface PipelineTestOptions {
  /** Streams to create. Default: the pipeline's stream with `shardCount` shards. */
  readonly streams?: MemoryKinesisOptions["streams"]
  /** Shards of the pipeline's stream when `streams` is left out. Default 2. */
  readonly shardCount?: number
  /**
   * Faults injected into the pipeline's Kinesis calls (puts made through the test go around them):
   * rules, a seeded {@link FaultPlan}, or a {@link ScenarioPlan} whose `crashes` the test carries
   * out: each crash kills the run at its point and starts a new one from the checkpoints.
   */
  readonly faults?: ReadonlyArray<FaultRule> | FaultPlan | ScenarioPlan
  /** As in `Pipeline.foreachBatch`. Default false. */
  readonly skipEmptyBatches?: boolean
  /** As in `Pipeline.foreachBatch`. Default 10 batch intervals. */
  readonly gracefulStopTimeout?: Duration.DurationInput
  /** As in `Pipeline.foreachBatch`: retries, bisection and dead letters for a failing sink. */
  readonly onSinkError?: SinkErrorOptions
  /** As in `Pipeline.foreachBatch`: sink calls per shard at once, by partition key. Default 1. */
  readonly parallelism?: number
  /** As in `Pipeline.foreachBatch`, with `parallelism`. Default 4. */
  readonly maxBatchesInFlight?: number
}

/**
 * Waiting for the pipeline gave up: after `intervals` batch intervals, `pending` records put so far
 * were still not checkpointed (or the run is not running: crashed, stopped or failed).
 */
export class PipelineNotDrained extends Data.TaggedError("PipelineNotDrained")<{
  readonly intervals: number
  readonly pending: number
  readonly running: boolean
}> {
  override get message() {
    return `${this.pending} records put were not checkpointed after ${this.intervals} batch intervals` +
      (this.running ? "" : " (the pipeline is not running: restart it after a crash or stop)")
  }
}

/** A run of a pipeline under test, driven by the test: put records, move time, crash, restart. */
export interface PipelineTest<A, E> {
  /** The in-memory Kinesis (for `splitShard`, `mergeShards` and direct calls). */
  readonly kinesis: MemoryKinesisHandle
  /** Puts records in order (PutRecords, 500 at a time), around any injected faults; answers where each went. */
  readonly put: (
    records: Iterable<TestRecord>,
    streamName?: string
  ) => Effect.Effect<ReadonlyArray<{ readonly shardId: string; readonly sequenceNumber: string }>>
  /**
   * Moves the test clock by `intervals` batch intervals (default 1), one interval at a time, and
   * answers the batches the sink finished meanwhile. Fails with the run's error if it failed.
   */
  readonly advance: (intervals?: number) => Effect.Effect<ReadonlyArray<Batch<A>>, E | PipelineError>
  /**
   * Advances interval by interval until every record put to the pipeline's stream so far (with `put`, or through `kinesis.api`) is
   * checkpointed; answers the batches finished meanwhile.
   */
  readonly drain: (options?: {
    /** Give up after this many intervals. Default 100. */
    readonly maxIntervals?: number
  }) => Effect.Effect<ReadonlyArray<Batch<A>>, E | PipelineError | PipelineNotDrained>
  /**
   * Kills the run now, as a crashed process: no graceful stop, nothing more is checkpointed.
   * With `afterSink: true` the kill is armed instead: the next batch goes through the sink and the
   * process dies before its checkpoint is written, the case that makes a restart replay a batch
   * the sink already saw.
   */
  readonly crash: (options?: { readonly afterSink?: boolean }) => Effect.Effect<void>
  /** Starts a new run from the checkpoints (crashing the current one first if it is running). */
  readonly restart: Effect.Effect<void>
  /** Asks the run to stop gracefully and advances time until it has; answers its summary. */
  readonly stop: Effect.Effect<PipelineSummary, E | PipelineError>
  /** Every batch the sink finished, over all runs, in order. */
  readonly batches: Effect.Effect<ReadonlyArray<Batch<A>>>
  /** How many runs were started (1 + restarts). */
  readonly runs: Effect.Effect<number>
  /** Whether a run is going (not crashed, stopped or failed). */
  readonly running: Effect.Effect<boolean>
  /** The checkpoints written for the pipeline's stream, by shard. */
  readonly checkpoints: Effect.Effect<ReadonlyMap<string, Checkpoint>>
  /** Every Kinesis call the pipeline made, with injected faults. */
  readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>>
}

interface Run<E> {
  readonly fiber: Fiber.RuntimeFiber<PipelineSummary, E | PipelineError>
  /** Kills the run when a crash goes off (and starts the next run for a planned one). */
  readonly watcher: Fiber.RuntimeFiber<void>
  readonly stop: Deferred.Deferred<void>
  readonly died: Deferred.Deferred<boolean>
  /** Batches the sink finished in this run. */
  completed: number
}

/** A count of batch intervals: a whole number, at least 0. */
const intervalCount = (option: string, given: number): Effect.Effect<number, InvalidOption> =>
  Number.isSafeInteger(given) && given >= 0
    ? Effect.succeed(given)
    : Effect.fail(new InvalidOption({ option, given: String(given), expected: "a whole number of batch intervals, at least 0" }))

const isScenario = (faults: NonNullable<PipelineTestOptions["faults"]>): faults is ScenarioPlan =>
  !Array.isArray(faults) && "crashes" in faults

/** What a PipelineTest provides itself: the in-memory Kinesis and checkpoint store. */
type Provided = Kinesis | CheckpointStore

const make = <A, E, R, E2 = never, R2 = never>(
  pipeline: Pipeline<A, E, R>,
  sink: (batch: Batch<A>) => Effect.Effect<unknown, E2, R2> = () => Effect.void,
  options: PipelineTestOptions = {}
): Effect.Effect<PipelineTest<A, E | E2>, PipelineError, Exclude<R, Provided> | R2 | Scope.Scope> =>
  Effect.gen(function* () {
    const source = yield* pipeline.source
    const streamName = source.scope.streamName
    const kinesis = yield* MemoryKinesis.make({
      streams: options.streams ?? [{ name: streamName, shardCount: options.shardCount ?? 2 }]
    })
    const faults = options.faults ?? []
    // Crashes are carried out here, in order; faults on calls go to the wrapper.
    const crashes: Array<Crash> = isScenario(faults) ? [...(yield* checkScenarioPlan(faults)).crashes] : []
    const faulty = yield* Faults.wrap(kinesis.api, faults)
    const store = yield* makeMemoryStore()
    const seen: Array<Batch<A>> = []
    // The last sequence number put on each shard of the pipeline's stream: what `drain` waits for.
    const lastPut = new Map<string, bigint>()
    let crashAfterSink = false
    let runs = 0
    let current: Run<E | E2> | undefined

    /**
     * Where a run may die: after the sink finished a batch, or after that batch's checkpoint was
     * saved. Dying completes the run's `died` (true: a planned crash, restart at once) and hangs,
     * so nothing after this point happens before the run is interrupted.
     */
    const crashPoint = (point: "sink" | "checkpoint", hasCheckpoint: boolean) =>
      Effect.suspend(() => {
        const run = current
        if (run === undefined) return Effect.void
        if (point === "sink" && crashAfterSink) {
          crashAfterSink = false
          return Effect.zipRight(Deferred.succeed(run.died, false), Effect.never)
        }
        const next = crashes[0]
        if (next === undefined || next.afterBatch !== run.completed) return Effect.void
        const beforeCheckpoint = next.checkpointed === false || !hasCheckpoint
        if ((point === "sink") !== beforeCheckpoint) return Effect.void
        crashes.shift()
        return Effect.zipRight(Deferred.succeed(run.died, true), Effect.never)
      })

    const checkpointStore: CheckpointStoreApi = {
      ...store,
      save: (scope, checkpoints, states) =>
        Effect.zipRight(store.save(scope, checkpoints, states), crashPoint("checkpoint", true))
    }
    // Restarts happen later, from the test: keep what the pipeline and sink need now.
    const services = (yield* Effect.context<Exclude<R, Provided> | R2>()).pipe(
      Context.add(Kinesis, faulty.api),
      Context.add(CheckpointStore, checkpointStore)
    )
    const scope = yield* Effect.scope

    const recordingSink = (batch: Batch<A>) =>
      Effect.gen(function* () {
        // The sink's answer goes back: it may report failed records (Pipeline.batchItemFailures).
        const answer = yield* sink(batch)
        seen.push(batch)
        if (current !== undefined) current.completed++
        yield* crashPoint("sink", batch.checkpoints.size > 0)
        return answer
      })

    const start: Effect.Effect<void> = Effect.gen(function* () {
      // A planned crash before the first batch: that run starts and dies having done nothing.
      while (crashes[0]?.afterBatch === 0) {
        crashes.shift()
        runs++
      }
      const stop = yield* Deferred.make<void>()
      const died = yield* Deferred.make<boolean>()
      const run = pipeline.pipe(
        foreachBatch(recordingSink, {
          stopWhen: Deferred.await(stop),
          ...(options.skipEmptyBatches === undefined ? {} : { skipEmptyBatches: options.skipEmptyBatches }),
          ...(options.gracefulStopTimeout === undefined ? {} : { gracefulStopTimeout: options.gracefulStopTimeout }),
          ...(options.onSinkError === undefined ? {} : { onSinkError: options.onSinkError }),
          ...(options.parallelism === undefined ? {} : { parallelism: options.parallelism }),
          ...(options.maxBatchesInFlight === undefined ? {} : { maxBatchesInFlight: options.maxBatchesInFlight })
        }),
        Effect.provide(services)
      ) as Effect.Effect<PipelineSummary, E | E2 | PipelineError>
      const fiber = yield* Effect.forkIn(run, scope)
      const watcher = yield* Effect.forkIn(
        Effect.gen(function* () {
          const restart = yield* Deferred.await(died)
          yield* Fiber.interrupt(fiber)
          if (restart) yield* start
        }),
        scope
      )
      runs++
      current = { fiber, watcher, stop, died, completed: 0 }
    })

    /** The run's failure, if it ended with one; a crash (interruption) is not a failure. */
    const failureOfRun = Effect.suspend(() => {
      const exit = current?.fiber.unsafePoll()
      if (exit === undefined || exit === null || Exit.isSuccess(exit) || Exit.isInterrupted(exit)) return Effect.void
      return Effect.failCause(exit.cause)
    })

    const isRunning = Effect.sync(() => current !== undefined && current.fiber.unsafePoll() === null)

    const advance = (count = 1) =>
      Effect.gen(function* () {
        const intervals = yield* intervalCount("intervals", count)
        const before = seen.length
        for (let i = 0; i < intervals; i++) {
          yield* TestClock.adjust(source.batchInterval)
          yield* failureOfRun
        }
        return seen.slice(before)
      })

    const pending = Effect.map(store.load(source.scope), (checkpoints) => {
      let count = 0
      for (const [shardId, last] of lastPut) {
        const at = checkpoints.get(shardId)
        if (at === undefined || (at._tag === "Sequence" && BigInt(at.sequenceNumber) < last)) count++
      }
      return count
    })

    const drain = (drainOptions: { readonly maxIntervals?: number } = {}) =>
      Effect.gen(function* () {
        const maxIntervals = yield* intervalCount("maxIntervals", drainOptions.maxIntervals ?? 100)
        const before = seen.length
        let intervals = 0
        while ((yield* Effect.orDie(pending)) > 0) {
          const running = yield* isRunning
          if (intervals >= maxIntervals || !running) {
            // Shards, not records, are what the checkpoints can tell apart.
            return yield* new PipelineNotDrained({ intervals, pending: yield* Effect.orDie(pending), running })
          }
          yield* advance(1)
          intervals++
        }
        return seen.slice(before)
      })

    const crash = (crashOptions: { readonly afterSink?: boolean } = {}) =>
      Effect.suspend(() => {
        if (crashOptions.afterSink === true) {
          crashAfterSink = true
          return Effect.void
        }
        return current === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(current.fiber))
      })

    const stop = Effect.gen(function* () {
      const run = current
      if (run === undefined) return yield* Effect.dieMessage("PipelineTest.stop: no run was started")
      yield* Deferred.succeed(run.stop, undefined)
      const limit = Duration.sum(
        Duration.decode(options.gracefulStopTimeout ?? Duration.times(source.batchInterval, 10)),
        source.batchInterval
      )
      const step = Duration.toMillis(source.batchInterval)
      for (let waited = 0; run.fiber.unsafePoll() === null && waited <= Duration.toMillis(limit); waited += step) {
        yield* TestClock.adjust(source.batchInterval)
      }
      const exit = run.fiber.unsafePoll()
      if (exit === null) return yield* Effect.dieMessage("PipelineTest.stop: the run did not end")
      if (Exit.isInterrupted(exit)) {
        return yield* Effect.dieMessage("PipelineTest.stop: the run had crashed; restart it before stopping it")
      }
      return yield* exit
    })

    const put: PipelineTest<A, E | E2>["put"] = (records, stream = streamName) =>
      Effect.gen(function* () {
        const all = Array.from(records)
        const out: Array<{ shardId: string; sequenceNumber: string }> = []
        for (let i = 0; i < all.length; i += 500) {
          const Records = all.slice(i, i + 500).map((r) => ({
            PartitionKey: r.partitionKey,
            Data: r.data,
            ...(r.explicitHashKey === undefined ? {} : { ExplicitHashKey: r.explicitHashKey })
          }))
          const result = yield* Effect.orDie(kinesis.api.putRecords({ StreamName: stream, Records }))
          for (const entry of result.Records ?? ([] as Array<PutRecordsResultEntry>)) {
            out.push({ shardId: entry.ShardId!, sequenceNumber: entry.SequenceNumber! })
            noteWritten(stream, entry.ShardId, entry.SequenceNumber)
          }
        }
        return out
      })

    // Puts through the handle (a Producer under test, say) count for `drain` too.
    const noteWritten = (stream: string | undefined, shardId: string | undefined, sequenceNumber: string | undefined) => {
      if (stream !== streamName || shardId === undefined || sequenceNumber === undefined) return
      const at = BigInt(sequenceNumber)
      if ((lastPut.get(shardId) ?? -1n) < at) lastPut.set(shardId, at)
    }
    const watchedApi: typeof kinesis.api = {
      ...kinesis.api,
      putRecord: (input) =>
        Effect.tap(kinesis.api.putRecord(input), (out) => noteWritten(input.StreamName, out.ShardId, out.SequenceNumber)),
      putRecords: (input) =>
        Effect.tap(kinesis.api.putRecords(input), (out) => {
          for (const entry of out.Records ?? []) noteWritten(input.StreamName, entry.ShardId, entry.SequenceNumber)
        })
    }

    yield* start
    return {
      kinesis: { ...kinesis, api: watchedApi },
      put,
      advance,
      drain,
      crash,
      restart: Effect.gen(function* () {
        if (current !== undefined) {
          yield* Fiber.interrupt(current.fiber)
          yield* Fiber.interrupt(current.watcher)
        }
        crashAfterSink = false
        yield* start
      }),
      stop,
      batches: Effect.sync(() => seen.slice()),
      runs: Effect.sync(() => runs),
      running: isRunning,
      checkpoints: Effect.orDie(store.load(source.scope)),
      calls: faulty.calls
    } satisfies PipelineTest<A, E | E2>
  })

/**
 * Runs a pipeline under test: an in-memory Kinesis, in-memory checkpoints and Effect's `TestClock`,
 * so batch boundaries are decided by the test, not by real time. Use inside `it.effect` (which
 * provides the test clock) with a scope; closing the scope ends the run.
 *
 * @example
 * ```ts
 * it.scoped("counts page views", () =>
 *   Effect.gen(function* () {
 *     const counts = new Map<string, number>()
 *     const test = yield* PipelineTest.make(pipeline, (batch) =>
 *       Effect.sync(() => batch.records.forEach((r) => counts.set(r.value.url, (counts.get(r.value.url) ?? 0) + 1)))
 *     )
 *     yield* test.put(views.map((v) => ({ partitionKey: v.sessionId, data: toBinary(PageViewSchema, v) })))
 *     yield* test.drain()
 *     expect(counts.get("/home")).toBe(3)
 *   }))
 * ```
 */
export const PipelineTest = {
  make,

  /**
   * The one-shot form: puts `records`, then either moves exactly `intervals` batch intervals or
   * (without it) drains; stops gracefully, and answers every batch the sink saw.
   *
   * @example
   * ```ts
   * const batches = yield* PipelineTest.run(pipeline, { records, shardCount: 4 })
   * const firstThree = yield* PipelineTest.run(pipeline, { records, intervals: 3 })
   * ```
   */
  run: <A, E, R>(
    pipeline: Pipeline<A, E, R>,
    options: PipelineTestOptions & {
      readonly records: Iterable<TestRecord>
      /** Batch intervals to run for; left out, the run drains. */
      readonly intervals?: number
      /** Without `intervals`: give up draining after this many. Default 100. */
      readonly maxIntervals?: number
    }
  ): Effect.Effect<ReadonlyArray<Batch<A>>, E | PipelineError | PipelineNotDrained, Exclude<R, Provided>> =>
    Effect.scoped(
      Effect.gen(function* () {
        const test = yield* make(pipeline, undefined, options)
        yield* test.put(options.records)
        if (options.intervals !== undefined) {
          yield* test.advance(options.intervals)
        } else {
          yield* test.drain(options.maxIntervals === undefined ? {} : { maxIntervals: options.maxIntervals })
        }
        yield* test.stop
        return yield* test.batches
      })
    )
} as const
