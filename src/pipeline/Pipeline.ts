import { Deferred, Duration, Effect, Fiber, type Pipeable, Stream } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type { CheckpointError, CheckpointStore } from "../checkpoint/index.js"
import type { DecodeError } from "../codec/index.js"
import { durationOption, type InvalidOption } from "../config/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"
import type { LeaseStore, LeaseStoreError } from "../lease/index.js"
import type { Batch, BatchDraft, StreamRecord } from "./Batch.js"
import { batchChunks } from "./batcher.js"
import { GracefulStopTimeout } from "./errors.js"
import {
  type KinesisSourceOptions,
  type LeasedSourceOptions,
  resolveKinesisSource,
  type ResolvedSource,
  type SourceRun
} from "./KinesisSource.js"

const TypeId: unique symbol = Symbol.for("shardline/Pipeline")

/** Records in, records out: the pipeline's operators applied to one batch. */
type Operators<A, E, R> = (records: ReadonlyArray<StreamRecord<any>>) => Effect.Effect<ReadonlyArray<StreamRecord<A>>, E, R>

/**
 * A micro-batch pipeline over a Kinesis stream: a description, run by a sink such as
 * {@link foreachBatch}. `A` is what each record holds after the operators, `E` what they may fail
 * with, `R` what the source (a `CheckpointStore`, or a `LeaseStore` with leases) and the operators need.
 */
export interface Pipeline<A, E = never, R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>
  /** @internal */
  readonly operators: Operators<A, E, R>
}

/** What any pipeline run may fail with besides its operators' and sink's own errors. */
export type PipelineError = KinesisError | DecodeError | CheckpointError | LeaseStoreError | InvalidOption | GracefulStopTimeout

/** What a run did, returned when it ends. */
export interface PipelineSummary {
  readonly batches: number
  /** Records read from Kinesis and checkpointed. */
  readonly records: number
  /** Shards read to their end (closed shards) during the run. */
  readonly shardsEnded: number
}

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
}

class PipelineImpl<A, E, R> implements Pipeline<A, E, R> {
  readonly [TypeId]: typeof TypeId = TypeId
  constructor(
    readonly source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>,
    readonly operators: Operators<A, E, R>
  ) {}
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

const isPipeline = (u: unknown): u is Pipeline<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

const withOperators = <A, E, R, B, E2, R2>(
  self: Pipeline<A, E, R>,
  next: (records: ReadonlyArray<StreamRecord<A>>) => Effect.Effect<ReadonlyArray<StreamRecord<B>>, E2, R2>
): Pipeline<B, E | E2, R | R2> => new PipelineImpl(self.source, (records) => Effect.flatMap(self.operators(records), next))

/**
 * A pipeline reading every shard of a Kinesis stream concurrently, decoding each record with
 * `codec`, keeping positions in the `CheckpointStore`. With `leases`, the shards are shared with
 * every other worker of the same application through the `LeaseStore`, and positions are kept in
 * the leases.
 *
 * @example
 * ```ts
 * const views = Pipeline.fromKinesis({
 *   streamName: "clickstream",
 *   codec: Codec.protobuf(PageViewSchema),
 *   batchInterval: "1 second",
 *   maxBatchRecords: 5_000
 * })
 * // Scaled out: start this in as many processes as needed, all with the same lease table.
 * const shared = Pipeline.fromKinesis({
 *   streamName: "clickstream",
 *   codec: Codec.protobuf(PageViewSchema),
 *   batchInterval: "1 second",
 *   leases: { failoverTime: "10 seconds" }
 * })
 * ```
 */
export function fromKinesis<A>(options: LeasedSourceOptions<A>): Pipeline<A, never, LeaseStore>
export function fromKinesis<A>(options: KinesisSourceOptions<A>): Pipeline<A, never, CheckpointStore>
export function fromKinesis<A>(options: KinesisSourceOptions<A> | LeasedSourceOptions<A>): Pipeline<A, never, any> {
  return new PipelineImpl(resolveKinesisSource(options) as Effect.Effect<ResolvedSource<unknown, any>, InvalidOption>, (records) =>
    Effect.succeed(records as ReadonlyArray<StreamRecord<A>>)
  )
}

/** Replaces each value; the record's metadata stays. */
export const map: {
  <A, B>(f: (value: A, record: StreamRecord<A>) => B): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E, R>
  <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => B): Pipeline<B, E, R>
} = dual(2, <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => B) =>
  withOperators(self, (records) =>
    Effect.sync(() => {
      const out = new Array<StreamRecord<B>>(records.length)
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!
        out[i] = { ...r, value: f(r.value, r) }
      }
      return out
    })
  ))

/** Keeps the records whose value passes; a type guard narrows the value's type. */
export const filter: {
  <A, B extends A>(
    refinement: (value: A, record: StreamRecord<A>) => value is B
  ): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E, R>
  <A>(predicate: (value: A, record: StreamRecord<A>) => boolean): <E, R>(self: Pipeline<A, E, R>) => Pipeline<A, E, R>
  <A, E, R, B extends A>(
    self: Pipeline<A, E, R>,
    refinement: (value: A, record: StreamRecord<A>) => value is B
  ): Pipeline<B, E, R>
  <A, E, R>(self: Pipeline<A, E, R>, predicate: (value: A, record: StreamRecord<A>) => boolean): Pipeline<A, E, R>
} = dual(2, <A, E, R>(self: Pipeline<A, E, R>, predicate: (value: A, record: StreamRecord<A>) => boolean) =>
  withOperators(self, (records) => Effect.sync(() => records.filter((r) => predicate(r.value, r)))))

/** Replaces each value by zero or more values, each with the original record's metadata. */
export const flatMap: {
  <A, B>(f: (value: A, record: StreamRecord<A>) => Iterable<B>): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E, R>
  <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => Iterable<B>): Pipeline<B, E, R>
} = dual(2, <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => Iterable<B>) =>
  withOperators(self, (records) =>
    Effect.sync(() => {
      const out: Array<StreamRecord<B>> = []
      for (const r of records) for (const value of f(r.value, r)) out.push({ ...r, value })
      return out
    })
  ))

/** Replaces each value through an effect, one record after another in batch order. */
export const mapEffect: {
  <A, B, E2, R2>(
    f: (value: A, record: StreamRecord<A>) => Effect.Effect<B, E2, R2>
  ): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E | E2, R | R2>
  <A, E, R, B, E2, R2>(
    self: Pipeline<A, E, R>,
    f: (value: A, record: StreamRecord<A>) => Effect.Effect<B, E2, R2>
  ): Pipeline<B, E | E2, R | R2>
} = dual(
  2,
  <A, E, R, B, E2, R2>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => Effect.Effect<B, E2, R2>) =>
    withOperators(self, (records) =>
      Effect.forEach(records, (r) => Effect.map(f(r.value, r), (value): StreamRecord<B> => ({ ...r, value })))
    )
)

/**
 * Runs the pipeline, handing each batch to `sink` in order; a batch reaches the sink only after the
 * one before it succeeded, and its shard positions are checkpointed right after (at-least-once).
 * Ends when every shard is read to its end, when `stopWhen` completes (gracefully), or with the
 * first failure (the failed batch is not checkpointed, so a restart reads it again).
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
        const input = (yield* source.start) as SourceRun<A>
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
          stop: Deferred.await(stopRequested)
        })
        let batchId = 0
        const step = (summary: PipelineSummary, closed: BatchDraft<A>) =>
          Effect.gen(function* () {
            // With leases, a shard lost since its records were read is not delivered: its new owner reads it again.
            const draft = input.deliverable(closed)
            let shardsEnded = 0
            for (const c of draft.checkpoints.values()) if (c._tag === "ShardEnd") shardsEnded++
            const delivered = draft.records.length > 0 || options.skipEmptyBatches !== true
            if (delivered) {
              const records = yield* self.operators(draft.records)
              yield* sink({
                batchId: batchId++,
                records,
                sourceRecords: draft.records.length,
                openedAt: new Date(draft.openedAt),
                closedAt: new Date(draft.closedAt),
                closedBy: draft.closedBy,
                checkpoints: draft.checkpoints,
                millisBehindLatest: draft.millisBehindLatest,
                fencingTokens: input.fencingTokens(draft)
              })
            }
            yield* input.commit(draft)
            return {
              batches: summary.batches + (delivered ? 1 : 0),
              records: summary.records + draft.records.length,
              shardsEnded: summary.shardsEnded + shardsEnded
            }
          })
        const run = drafts.pipe(
          // The next batch fills while the sink works on this one.
          Stream.buffer({ capacity: 1 }),
          Stream.runFoldEffect({ batches: 0, records: 0, shardsEnded: 0 } as PipelineSummary, (summary, draft) =>
            input.finishInFlightOnInterrupt ? steps.run(step(summary, draft)) : step(summary, draft)
          )
        )
        // Once a stop is asked, the drain has `gracefulStopTimeout` to finish.
        const deadline = Deferred.await(stopRequested).pipe(
          Effect.zipRight(Effect.sleep(gracefulStopTimeout)),
          Effect.zipRight(Effect.fail(new GracefulStopTimeout({ timeout: gracefulStopTimeout })))
        )
        return yield* Effect.raceFirst(run, deadline)
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
