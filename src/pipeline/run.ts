import { Cause, Clock, Context, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Schedule, Stream } from "effect"
import type { DecodeError } from "../codec/index.js"
import { type DeaggregateError, deaggregate, isAggregated } from "../kpl/index.js"
import { DeadLetter, type DeadLetterRecord } from "../deadletter/index.js"
import { dual } from "effect/Function"
import { durationOption, integerOption } from "../config/index.js"
import type { Kinesis } from "../kinesis/index.js"
import { pipelineMeter } from "../metrics/meters.js"
import { type DashboardOptions, serve as serveDashboard } from "../dashboard/server.js"
import { DashboardState, type DashboardStateOptions } from "../dashboard/state.js"
import { StateRuntime } from "../state/StateRuntime.js"
import type { StatefulStage } from "../state/Stage.js"
import type { KinesisRecord } from "../consumer/index.js"
import type { Batch, Draft, RecordOrigin, StreamRecord } from "./Batch.js"
import { batchChunks } from "./batcher.js"
import { GracefulStopTimeout } from "./errors.js"
import { type batchItemFailures, checkpointsBefore, deliver, type GivenUp, resolveSinkErrors, type SinkErrorOptions } from "./sinkFailures.js"
import type { DecodeOptions, PoisonRecord } from "./decodeChunk.js"
import { type Delivery, runInLanes } from "./lanes.js"
import type { SourceRun } from "./KinesisSource.js"
import { isPipeline, type Pipeline, type PipelineError } from "./Pipeline.js"

/** What a run did, returned when it ends. */
export interface PipelineSummary {
  readonly batches: number
  /** Records read from Kinesis and checkpointed. */
  readonly records: number
  /** Shards read to their end (closed shards) during the run. */
  readonly shardsEnded: number
  /** Records sent to the dead-letter destination (records that did not decode, or the sink gave up on). */
  readonly deadLettered: number
  /** Records the source's `filter` skipped (read and checkpointed, never decoded). */
  readonly filtered: number
}

/** A run that did nothing: where every run's counts start. */
export const emptySummary: PipelineSummary = { batches: 0, records: 0, shardsEnded: 0, deadLettered: 0, filtered: 0 }

/** How a run stops and which batches reach the sink. */
export interface RunOptions {
  /**
   * When this completes, the run stops gracefully: reading stops, what was read already goes
   * through the sink as the last batches, their checkpoints are written, and the run returns.
   */
  readonly stopWhen?: Effect.Effect<unknown>
  /**
   * A graceful stop that takes longer fails with {@link GracefulStopTimeout}. Default 10 batch
   * intervals (Spark's default). With leases it also bounds how long an interrupted worker lets
   * the batch in its sink finish before it releases its leases.
   */
  readonly gracefulStopTimeout?: Duration.DurationInput
  /** The KCL's name for {@link RunOptions.gracefulStopTimeout}; either may be given. */
  readonly gracefulShutdownTimeout?: Duration.DurationInput
  /** Leave out batches with no records (their checkpoints, if any, are still written). Default false. */
  readonly skipEmptyBatches?: boolean
  /**
   * What to do when the sink fails, or answers {@link BatchItemFailures} (Lambda's controls). By
   * default the run fails with the sink's error and the batch is not checkpointed (after a
   * partial failure: each shard up to just before its first failed record).
   */
  readonly onSinkError?: SinkErrorOptions
  /**
   * Sink calls per shard at once (Lambda's ParallelizationFactor). Each shard's records of a batch
   * are split into this many lanes by a hash of their partition key, and every lane is handed to
   * the sink as a sub-batch of its own (same `batchId`, `lane` set), all at once: records of one
   * key stay in order, while a slow call no longer holds up the shard's other keys. Lanes run up
   * to `maxBatchesInFlight` batches ahead of each other; a batch is checkpointed once all its
   * lanes and every batch before it are done. `onSinkError` applies to each sub-batch. Default 1.
   */
  readonly parallelism?: number
  /**
   * With `parallelism` above 1: batches read, decoded and handed to lanes but not yet checkpointed,
   * at most. With stateful operators always 1 (a state snapshot belongs to one batch). Default 4.
   */
  readonly maxBatchesInFlight?: number
  /** Called once the source has started (stream verified, positions or leases loaded), before the first batch. */
  readonly onStarted?: Effect.Effect<void>
  /**
   * Called after each batch is done: through the sink (every lane), its given-up records sent to
   * the dead-letter destination, and its checkpoint written. For lifecycle events and metrics.
   */
  readonly onBatchDone?: (done: BatchDone) => Effect.Effect<void>
  /**
   * Serves the live dashboard for as long as the run: a page with the batch timeline (input rate,
   * processing time, scheduling delay), the shards (owner, lag, last checkpoint, state), the
   * leases by worker and the recent errors and dead letters, updated as batches finish. Off by
   * default; bound to 127.0.0.1 unless `host` says otherwise (it has no authentication).
   *
   * @example
   * ```ts
   * Pipeline.foreachBatch(sink, { dashboard: { port: 9470 } }) // http://127.0.0.1:9470/
   * ```
   */
  readonly dashboard?: DashboardRunOptions
}

/** {@link RunOptions.dashboard}: where it listens, what it keeps, and who to tell its address. */
export interface DashboardRunOptions extends DashboardOptions, DashboardStateOptions {
  /** Called with the page's address once it listens (with `port: 0`, the only way to learn it). Default: logs it. */
  readonly onListening?: (url: string) => Effect.Effect<void>
}

/** A batch the run finished, as {@link RunOptions.onBatchDone} sees it. */
export interface BatchDone {
  /** The batch's id; undefined for a batch that did not go to the sink (empty, with `skipEmptyBatches`). */
  readonly batchId: number | undefined
  /** Records handed to the sink (after operators). */
  readonly records: number
  /** Records read from Kinesis into the batch. */
  readonly sourceRecords: number
  readonly closedBy: Batch<unknown>["closedBy"]
  /** The positions written. */
  readonly checkpoints: Batch<unknown>["checkpoints"]
  /** Records of the batch sent to the dead-letter destination (undecodable, or given up by the sink). */
  readonly deadLettered: number
  /** Records the source's filter skipped. */
  readonly filtered: number
  /** When the batch opened and closed (its interval passed, a cap was reached, or the source ended). */
  readonly openedAt: Date
  readonly closedAt: Date
  /** When its processing started (decoding, operators, then the sink) and when it was done (checkpoint written). */
  readonly startedAt: Date
  readonly finishedAt: Date
  /** The latest MillisBehindLatest of each shard in the batch. */
  readonly millisBehindLatest: ReadonlyMap<string, number>
}

/**
 * Runs the pipeline, handing each batch to `sink` in order; a batch reaches the sink only after the
 * one before it succeeded, and its shard positions are checkpointed right after (at-least-once).
 * Ends when every shard is read to its end, when `stopWhen` completes (gracefully), or with the
 * first failure. A failure keeps what succeeded: when the source fails, the records read before it
 * go through the sink and are checkpointed first; when the sink fails, the batch is not
 * checkpointed (with per-record operators, each shard is checkpointed up to its first record the
 * sink did not take), so a restart reads the rest again. `onSinkError` retries, bisects and gives
 * up records instead; a sink may answer {@link batchItemFailures} to fail only some records.
 *
 * @example
 * ```ts
 * const run = views.pipe(
 *   Pipeline.foreachBatch((batch) => Effect.log(`${batch.records.length} page views`), { stopWhen: onSignal() })
 * )
 * Effect.runPromise(run.pipe(Effect.provide([Kinesis.layer({ region: "eu-west-1" }), CheckpointStore.layerMemory])))
 * ```
 */
export const foreachBatch: {
  <A, E2, R2>(
    sink: (batch: Batch<A>) => Effect.Effect<unknown, E2, R2>,
    options?: RunOptions
  ): <E, R>(self: Pipeline<A, E, R>) => Effect.Effect<PipelineSummary, E | E2 | PipelineError, R | R2 | Kinesis>
  <A, E, R, E2, R2>(
    self: Pipeline<A, E, R>,
    sink: (batch: Batch<A>) => Effect.Effect<unknown, E2, R2>,
    options?: RunOptions
  ): Effect.Effect<PipelineSummary, E | E2 | PipelineError, R | R2 | Kinesis>
} = dual(
  (args) => isPipeline(args[0]),
  <A, E, R, E2, R2>(
    self: Pipeline<A, E, R>,
    sink: (batch: Batch<A>) => Effect.Effect<unknown, E2, R2>,
    options: RunOptions = {}
  ) =>
    Effect.scoped(
      Effect.gen(function* () {
        const source = yield* self.source
        const gracefulStopTimeout = yield* durationOption(
          options.gracefulStopTimeout === undefined ? "gracefulShutdownTimeout" : "gracefulStopTimeout",
          options.gracefulStopTimeout ?? options.gracefulShutdownTimeout,
          Duration.times(source.batchInterval, 10)
        )
        const stopRequested = yield* Deferred.make<void>()
        const sinkErrors = yield* resolveSinkErrors(options.onSinkError)
        const parallelism = yield* integerOption("parallelism", options.parallelism, 1, 1, 1_000)
        const maxBatchesInFlight = yield* integerOption("maxBatchesInFlight", options.maxBatchesInFlight, 4, 1)
        const dashboard = options.dashboard === undefined ? undefined : yield* startDashboard(options.dashboard)
        const onFailure = options.onSinkError?.onFailure
        const failedSinks = onFailure === undefined
          ? yield* Effect.serviceOption(DeadLetter)
          : Option.some(Context.get(yield* Layer.build(onFailure), DeadLetter))
        const deadLetters = Option.orElse(yield* Effect.serviceOption(DeadLetter), () => failedSinks)
        // Records the sink keeps failing on are given up only when asked to, and when there is somewhere to put them.
        const canGiveUp = options.onSinkError !== undefined && Option.isSome(failedSinks)
        const stages: Array<StatefulStage> = []
        const operators = yield* self.build({
          batchInterval: Duration.toMillis(source.batchInterval),
          register: (stage) => void stages.push(stage)
        })
        const input = (yield* source.start({ stateful: stages.length > 0 })) as SourceRun<A>
        const leaseTable = input.leaseTable
        if (dashboard !== undefined && leaseTable !== undefined) {
          // Every worker's leases, as the table holds them: owners, checkpoints, who holds how many.
          yield* Effect.forkScoped(Effect.repeat(
            Effect.ignore(Effect.flatMap(leaseTable, (leases) => Effect.sync(() => dashboard.fromLeases(leases)))),
            Schedule.spaced("1 second")
          ))
        }
        const meter = pipelineMeter(source.scope.applicationName, source.scope.streamName)
        if (options.onStarted !== undefined) yield* options.onStarted
        const state = new StateRuntime(stages, input.loadState)
        /** Dead letters sent: counted in the metrics, and listed on the dashboard. */
        const sentDeadLetters = (letters: ReadonlyArray<DeadLetterRecord>) =>
          Effect.zipRight(meter.deadLetters(letters), Effect.sync(() => dashboard?.deadLetterRecords(letters)))
        const steps = inFlightSteps(gracefulStopTimeout, input.shutdown)
        // Added after the source started, so it runs before the source's own finalizers (lease release).
        if (input.finishInFlightOnInterrupt) yield* Effect.addFinalizer(() => steps.settle)
        if (options.stopWhen !== undefined) {
          yield* options.stopWhen.pipe(
            Effect.zipRight(Deferred.succeed(stopRequested, undefined)),
            Effect.zipRight(input.shutdown),
            Effect.forkScoped
          )
        }
        const drafts = batchChunks(input.chunks, {
          batchInterval: source.batchInterval,
          maxBatchRecords: source.maxBatchRecords,
          maxBatchBytes: source.maxBatchBytes,
          stop: Deferred.await(stopRequested)
        })
        let batchId = 0
        let summary = emptySummary
        /** Decodes a closed batch and runs its operators: the batch for the sink, if it goes there. */
        const prepare = (closed: Draft<KinesisRecord>) =>
          Effect.gen(function* () {
            const startedAt = yield* Clock.currentTimeMillis
            // With leases, a shard lost since its records were read is not delivered: its new owner reads it again.
            const draft = input.deliverable(closed)
            const endedShards: Array<string> = []
            for (const [shardId, c] of draft.checkpoints) if (c._tag === "ShardEnd") endedShards.push(shardId)
            // Stateful operators see every batch, records or not: windows slide and state times out.
            if (state.active) yield* state.prepare(draft, input.activeShards())
            const context = state.context(draft.closedAt)
            const feed = operators.feed
            // With a DeadLetter service, records that cannot be read go there and the batch goes on without them.
            const poisoned: Array<readonly [PoisonRecord, DecodeError | DeaggregateError]> = []
            const tally = { filtered: 0 }
            const decodeOptions: DecodeOptions = {
              now: draft.closedAt,
              tally,
              steps: self.steps,
              each: feed === undefined ? undefined : (r) => feed.add(r, context),
              poison: Option.isSome(deadLetters) ? (r, error) => void poisoned.push([r, error]) : undefined
            }
            let decoded: ReadonlyArray<StreamRecord<A>> = noRecords
            if (draft.records.length > 0) {
              const result = input.decode(draft.records, decodeOptions)
              if (Either.isLeft(result)) {
                // Without a dead-letter destination the first record that cannot be read fails the run.
                yield* meter.decodeErrors(1)
                return yield* Effect.fail(result.left)
              }
              decoded = result.right
            }
            yield* meter.filtered(tally.filtered)
            if (poisoned.length > 0 && Option.isSome(deadLetters)) {
              yield* meter.decodeErrors(poisoned.length)
              const letters = yield* deadLettersOf(input.origin, poisoned)
              yield* deadLetters.value.send(letters)
              yield* sentDeadLetters(letters)
            }
            let records: ReadonlyArray<StreamRecord<A>>
            if (feed !== undefined) records = yield* feed.finish(context)
            else records = decoded.length > 0 || state.active ? yield* operators(decoded, context) : decoded
            const delivered = draft.records.length > 0 || records.length > 0 || options.skipEmptyBatches !== true
            const batch: Batch<A> | undefined = delivered
              ? {
                batchId: batchId++,
                records,
                sourceRecords: draft.records.length,
                openedAt: new Date(draft.openedAt),
                closedAt: new Date(draft.closedAt),
                closedBy: draft.closedBy,
                checkpoints: draft.checkpoints,
                millisBehindLatest: draft.millisBehindLatest,
                fencingTokens: input.fencingTokens(draft)
              }
              : undefined
            return { draft, batch, endedShards, poisoned: poisoned.length, filtered: tally.filtered, startedAt }
          })
        type Prepared = Effect.Effect.Success<ReturnType<typeof prepare>>
        /** Once the sink is done with a batch: its given-up records to the destination, then its checkpoint. */
        const settle = (prepared: Prepared, delivery: Delivery<A, E2>) =>
          Effect.gen(function* () {
            const { draft } = prepared
            if (Either.isLeft(delivery)) {
              // What the sink did take stays done: each shard is checkpointed just before its first
              // record not delivered. Only where every record out is one record in, and no state
              // (which holds every record of the batch) has to be committed with it.
              if (self.perRecord && !state.active) yield* input.commit(checkpointsBefore(draft, delivery.left.records), noStates)
              return yield* Effect.fail(delivery.left.error)
            }
            let givenUp = 0
            if (delivery.right.length > 0 && Option.isSome(failedSinks)) {
              const letters = yield* sinkDeadLetters(input.origin, draft.records, delivery.right)
              yield* failedSinks.value.send(letters)
              yield* sentDeadLetters(letters)
              givenUp = delivery.right.length
            }
            if (state.active) state.committed(draft, yield* input.commit(draft, state.snapshots()))
            else yield* input.commit(draft, noStates)
            if (prepared.batch !== undefined) {
              yield* meter.batchDone(draft.closedAt, prepared.startedAt, yield* Clock.currentTimeMillis, prepared.batch.records.length - givenUp)
            }
            if (options.onBatchDone !== undefined || dashboard !== undefined) {
              const done: BatchDone = {
                batchId: prepared.batch?.batchId,
                records: prepared.batch?.records.length ?? 0,
                sourceRecords: draft.records.length,
                closedBy: draft.closedBy,
                checkpoints: draft.checkpoints,
                deadLettered: prepared.poisoned + givenUp,
                filtered: prepared.filtered,
                openedAt: new Date(draft.openedAt),
                closedAt: new Date(draft.closedAt),
                startedAt: new Date(prepared.startedAt),
                finishedAt: new Date(yield* Clock.currentTimeMillis),
                millisBehindLatest: draft.millisBehindLatest
              }
              if (prepared.batch !== undefined) dashboard?.batchDone(done)
              else {
                // Not a batch (empty, skipped), but positions and lags may still have moved (a shard's end).
                for (const [shardId, checkpoint] of draft.checkpoints) dashboard?.shard({ shardId, checkpoint })
                for (const [shardId, millisBehindLatest] of draft.millisBehindLatest) dashboard?.shard({ shardId, millisBehindLatest })
              }
              if (options.onBatchDone !== undefined) yield* options.onBatchDone(done)
            }
            summary = {
              batches: summary.batches + (prepared.batch === undefined ? 0 : 1),
              records: summary.records + draft.records.length,
              shardsEnded: summary.shardsEnded + prepared.endedShards.length,
              deadLettered: summary.deadLettered + prepared.poisoned + givenUp,
              filtered: summary.filtered + prepared.filtered
            }
          })
        // Every sink call is counted: each lane, retry and bisected half.
        const meteredSink = (batch: Batch<A>) =>
          Effect.zipRight(
            meter.sinkCall,
            Effect.tapErrorCause(Effect.suspend(() => sink(batch)), (cause) => {
              if (Cause.isInterruptedOnly(cause)) return Effect.void
              if (dashboard !== undefined) {
                const error = Cause.squash(cause)
                dashboard.error({ tag: sinkErrorTag(error), message: error instanceof Error ? error.message : String(error), shardId: batch.records[0]?.shardId })
              }
              return meter.sinkFailure
            })
          )
        const deliverBatch = (batch: Batch<A>) => deliver(meteredSink, batch, sinkErrors, canGiveUp)
        const run = parallelism === 1
          ? drafts.pipe(
            // The next batch fills while the sink works on this one.
            Stream.buffer({ capacity: 1 }),
            Stream.runForEach((draft) => {
              const step = Effect.flatMap(prepare(draft), (prepared) =>
                prepared.batch === undefined
                  ? settle(prepared, Either.right(noRecords))
                  : Effect.flatMap(Effect.either(deliverBatch(prepared.batch)), (delivery) => settle(prepared, delivery)))
              return input.finishInFlightOnInterrupt ? steps.run(step) : step
            })
          )
          : runInLanes({
            drafts,
            prepare,
            deliver: deliverBatch,
            settle,
            parallelism,
            // A state snapshot belongs to one batch: with state, a batch settles before the next one's operators run.
            maxBatchesInFlight: state.active ? 1 : maxBatchesInFlight,
            finishOnInterrupt: input.finishInFlightOnInterrupt ? { timeout: gracefulStopTimeout, onInterrupt: input.shutdown } : undefined
          })
        // Once a stop is asked, the drain has `gracefulStopTimeout` to finish.
        const deadline = Deferred.await(stopRequested).pipe(
          Effect.zipRight(Effect.sleep(gracefulStopTimeout)),
          Effect.zipRight(Effect.fail(new GracefulStopTimeout({ timeout: gracefulStopTimeout })))
        )
        yield* Effect.raceFirst(run, deadline)
        return summary
      })
    )
)

/**
 * Runs each batch step on a fiber of its own, so that interrupting the run does not cut a step
 * off: a worker handing its leases over first lets the batch in its sink complete and checkpoint,
 * so the next owner does not process it again. `settle` (a scope finalizer, run before the leases
 * are released) waits for the step in flight, at most `timeout`, then interrupts it.
 */
const inFlightSteps = (timeout: Duration.Duration, onInterrupt: Effect.Effect<void>) => {
  let current: Fiber.RuntimeFiber<unknown, unknown> | undefined
  const run = <A, E, R>(step: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        // restore: the step itself stays interruptible, so a stuck sink can be cut off after the timeout.
        const fiber = yield* Effect.forkDaemon(restore(step))
        current = fiber
        return yield* restore(Fiber.join(fiber)).pipe(Effect.onInterrupt(() => onInterrupt))
      })
    )
  const settle = Effect.suspend(() => {
    const fiber = current
    if (fiber === undefined) return Effect.void
    // Finalizers run uninterruptibly: the wait itself must be interruptible for the timeout to cut it.
    return Effect.ignore(Effect.timeout(Effect.interruptible(Fiber.await(fiber)), timeout)).pipe(
      Effect.zipRight(Fiber.interrupt(fiber)),
      Effect.asVoid
    )
  })
  return { run, settle }
}

/** The stream and shard a batch's shard id stands for (merged pipelines prefix shard ids with their stream). */
type Origin = SourceRun<unknown>["origin"]

/** A record given up, as a dead letter: where it came from, its bytes, why, and when. */
const deadLetter = (
  origin: Origin,
  from: RecordOrigin,
  data: Uint8Array,
  reason: DeadLetterRecord["reason"],
  now: number
): DeadLetterRecord => ({
  ...origin(from.shardId),
  sequenceNumber: from.sequenceNumber,
  subSequenceNumber: from.subSequenceNumber ?? 0,
  partitionKey: from.partitionKey,
  approximateArrivalTimestamp: from.approximateArrivalTimestamp,
  data,
  reason,
  failedAt: new Date(now)
})

/** Poison records as dead letters: raw bytes, where they came from, and the decode error (never the payload in the message). */
const deadLettersOf = (origin: Origin, poisoned: ReadonlyArray<readonly [PoisonRecord, DecodeError | DeaggregateError]>) =>
  Effect.map(Clock.currentTimeMillis, (now) =>
    poisoned.map(([r, error]) => {
      const kind = error._tag === "DeaggregateError" ? "deaggregate" : "decode"
      return deadLetter(origin, r, r.data, { kind, message: error.message, attempts: 1 }, now)
    }))

/** Records the sink gave up on, as dead letters: the raw record each came from (by shard and sequence number). */
const sinkDeadLetters = <A>(
  origin: Origin,
  raw: ReadonlyArray<KinesisRecord>,
  failed: ReadonlyArray<GivenUp<A>>
) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const byPosition = new Map(raw.map((r) => [`${r.shardId}/${r.sequenceNumber}`, r]))
    // Each aggregate is expanded once, however many of its user records were given up.
    const expanded = new Map<KinesisRecord, ReadonlyArray<Uint8Array> | undefined>()
    const bytesOf = (carrier: KinesisRecord, subSequenceNumber: number): Uint8Array => {
      if (!isAggregated(carrier.data)) return carrier.data
      if (!expanded.has(carrier)) {
        const users = deaggregate(carrier)
        expanded.set(carrier, Either.isRight(users) ? users.right.map((u) => u.data) : undefined)
      }
      return expanded.get(carrier)?.[subSequenceNumber] ?? carrier.data
    }
    return failed.map(({ attempts, message, record }) => {
      // A result of an aggregating operator has no bytes of its own: what it carries is its latest record's.
      // Inside a KPL aggregate, a user record's own bytes, to replay it as itself.
      const carrier = byPosition.get(`${record.shardId}/${record.sequenceNumber}`)
      return deadLetter(origin, record, carrier === undefined ? new Uint8Array(0) : bytesOf(carrier, record.subSequenceNumber), { kind: "sink", message, attempts }, now)
    })
  })

const noStates: ReadonlyMap<string, Uint8Array> = new Map()
const noRecords: ReadonlyArray<never> = []

/** The dashboard of a run: its state, served for as long as the run's scope. */
const startDashboard = (options: DashboardRunOptions) =>
  Effect.gen(function* () {
    const { maxBatches, maxErrors, now, onListening, ...serveOptions } = options
    const state = yield* DashboardState.make({
      ...(maxBatches === undefined ? {} : { maxBatches }),
      ...(maxErrors === undefined ? {} : { maxErrors }),
      ...(now === undefined ? {} : { now })
    })
    const server = yield* serveDashboard(serveOptions, state)
    yield* onListening === undefined ? Effect.logInfo(`shardline dashboard: ${server.url}`) : onListening(server.url)
    return state
  })

/** What a failed sink call is called on the dashboard: its tag, its class name, or "SinkError". */
const sinkErrorTag = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string") return error._tag
  return error instanceof Error && error.name !== "Error" ? error.name : "SinkError"
}
