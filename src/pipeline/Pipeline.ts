import { Effect, type Pipeable } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type { CheckpointError, CheckpointStore } from "../checkpoint/index.js"
import type { DecodeError } from "../codec/index.js"
import type { DeaggregateError } from "../kpl/index.js"
import type { DashboardError } from "../dashboard/server.js"
import type { DeadLetterError } from "../deadletter/index.js"
import type { InvalidOption } from "../config/index.js"
import type { KinesisError } from "../kinesis/index.js"
import type { LeaseStore, LeaseStoreError } from "../lease/index.js"
import type { StateRestoreError } from "../state/errors.js"
import type { BatchContext, RunContext } from "../state/Stage.js"
import { type StreamRecord, withValue } from "./Batch.js"
import type { GracefulStopTimeout } from "./errors.js"
import type { SinkRecordsFailed } from "./sinkFailures.js"
import { applySteps, type RecordStep, skip } from "./steps.js"
import {
  type KinesisSourceOptions,
  type LeasedSourceOptions,
  resolveKinesisSource,
  type ResolvedSource
} from "./KinesisSource.js"

export { type BatchDone, type DashboardRunOptions, foreachBatch, type PipelineSummary, type RunOptions } from "./run.js"
export type { SinkErrorOptions } from "./sinkFailures.js"

const TypeId: unique symbol = Symbol.for("shardline/Pipeline")

/**
 * Records in, records out: the pipeline's operators applied to one batch. Operators whose first
 * stage takes records one at a time also offer `feed`, so the decode loop can hand each record
 * over as it is decoded instead of building the batch's records first.
 */
export type Operators<A, E, R> = ((
  records: ReadonlyArray<StreamRecord<any>>,
  context: BatchContext
) => Effect.Effect<ReadonlyArray<StreamRecord<A>>, E, R>) & { readonly feed?: Feed<A, E, R> }

/** A batch fed record by record: `add` each (in batch order), then `finish` answers the output. */
export interface Feed<A, E, R> {
  readonly add: (record: StreamRecord<any>, context: BatchContext) => void
  readonly finish: (context: BatchContext) => Effect.Effect<ReadonlyArray<StreamRecord<A>>, E, R>
}

/** Operators that take records one at a time (`add`) and answer at the batch's end (`finish`). */
export const feedable = <A, B, E, R>(
  add: (record: StreamRecord<A>, context: BatchContext) => void,
  finish: (context: BatchContext) => Effect.Effect<ReadonlyArray<StreamRecord<B>>, E, R>
): Operators<B, E, R> => {
  const run = (records: ReadonlyArray<StreamRecord<any>>, context: BatchContext) =>
    Effect.suspend(() => {
      for (let i = 0; i < records.length; i++) add(records[i]!, context)
      return finish(context)
    })
  return Object.assign(run, { feed: { add, finish } })
}

/**
 * A micro-batch pipeline over a Kinesis stream: a description, run by a sink such as
 * {@link foreachBatch}. `A` is what each record holds after the operators, `E` what they may fail
 * with, `R` what the source (a `CheckpointStore`, or a `LeaseStore` with leases) and the operators need.
 */
export interface Pipeline<A, E = never, R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>
  /** @internal The leading per-record steps, run inside the decode loop. */
  readonly steps: ReadonlyArray<RecordStep>
  /**
   * @internal Builds the operators after the steps for one run; stateful ones register their
   * state with the run and check their options against it (e.g. windows against the batch interval).
   */
  readonly build: (run: RunContext) => Effect.Effect<Operators<A, E, R>, InvalidOption>
  /** @internal No operators after the steps yet: a per-record operator joins the steps. */
  readonly fusable: boolean
  /**
   * @internal Every record out comes from exactly one record in, with its position (map, filter,
   * flatMap, mapEffect): a sink's failed records then say how far each shard got.
   */
  readonly perRecord: boolean
}

/** What any pipeline run may fail with besides its operators' and sink's own errors. */
export type PipelineError =
  | KinesisError
  | DecodeError
  | DeaggregateError
  | CheckpointError
  | LeaseStoreError
  | InvalidOption
  | GracefulStopTimeout
  | StateRestoreError
  | DeadLetterError
  | SinkRecordsFailed
  | DashboardError

class PipelineImpl<A, E, R> implements Pipeline<A, E, R> {
  readonly [TypeId]: typeof TypeId = TypeId
  constructor(
    readonly source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>,
    readonly steps: ReadonlyArray<RecordStep>,
    readonly build: (run: RunContext) => Effect.Effect<Operators<A, E, R>, InvalidOption>,
    readonly fusable: boolean,
    readonly perRecord: boolean
  ) {}
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

export const isPipeline = (u: unknown): u is Pipeline<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/** A pipeline over a source, with no operators yet. */
export const fromSource = <A, R>(source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>): Pipeline<A, never, R> =>
  new PipelineImpl(source, [], noOperators, true, true)

const noOperators = () => Effect.succeed((records: ReadonlyArray<StreamRecord<any>>) => Effect.succeed(records))

/** A pipeline over a source with operators built per run (for combinators such as `merge`). */
export const fromSourceWith = <A, E, R>(
  source: Effect.Effect<ResolvedSource<unknown, R>, InvalidOption>,
  build: (run: RunContext) => Effect.Effect<Operators<A, E, R>, InvalidOption>,
  perRecord: boolean
): Pipeline<A, E, R> => new PipelineImpl(source, [], build, false, perRecord)

/** The pipeline's steps and operators as operators alone (for a side of `merge`, which decodes apart). */
export const buildAll = <A, E, R>(self: Pipeline<A, E, R>, run: RunContext): Effect.Effect<Operators<A, E, R>, InvalidOption> =>
  Effect.map(self.build(run), (operators): Operators<A, E, R> =>
    self.steps.length === 0 ? operators : (records, context) => operators(applySteps(records, self.steps), context))

/** Appends a per-record step: fused into the decode loop while nothing else came before it. */
export const withStep = <A, E, R, B>(self: Pipeline<A, E, R>, step: RecordStep): Pipeline<B, E, R> =>
  self.fusable
    ? new PipelineImpl<B, E, R>(self.source, [...self.steps, step], self.build as any, true, self.perRecord)
    : withOperators(self, (records) => Effect.sync(() => applySteps(records, [step])))

/**
 * Appends operators to a pipeline. `next` is called once per run (so stateful operators get fresh
 * state and register it), and answers what to do with each batch. `perRecord`: each record out
 * comes from one record in (false for anything that aggregates).
 */
export const addOperators = <A, E, R, B, E2, R2>(
  self: Pipeline<A, E, R>,
  next: (run: RunContext) => Effect.Effect<
    (records: ReadonlyArray<StreamRecord<A>>, context: BatchContext) => Effect.Effect<ReadonlyArray<StreamRecord<B>>, E2, R2>,
    InvalidOption
  >,
  perRecord = false
): Pipeline<B, E | E2, R | R2> =>
  new PipelineImpl(self.source, self.steps, (run) =>
    Effect.zipWith(self.build(run), Effect.suspend(() => next(run)), (first, second): Operators<B, E | E2, R | R2> => {
      // Nothing before `second` but the fused steps: it is the operators, `feed` and all.
      if (self.fusable) return second as Operators<B, E2, R2>
      const both = (records: ReadonlyArray<StreamRecord<any>>, context: BatchContext) =>
        Effect.flatMap(first(records, context), (out) => second(out, context))
      const feed = first.feed
      return feed === undefined
        ? both
        : Object.assign(both, {
          feed: { add: feed.add, finish: (context: BatchContext) => Effect.flatMap(feed.finish(context), (out) => second(out, context)) }
        })
    }), false, self.perRecord && perRecord)

/** Appends a plain, stateless step on each batch's records. */
const withOperators = <A, E, R, B, E2, R2>(
  self: Pipeline<A, E, R>,
  next: (records: ReadonlyArray<StreamRecord<A>>) => Effect.Effect<ReadonlyArray<StreamRecord<B>>, E2, R2>
): Pipeline<B, E | E2, R | R2> => addOperators(self, () => Effect.succeed(next), true)

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
  return fromSource(resolveKinesisSource(options) as Effect.Effect<ResolvedSource<unknown, any>, InvalidOption>)
}

/** Replaces each value; the record's metadata stays. */
export const map: {
  <A, B>(f: (value: A, record: StreamRecord<A>) => B): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E, R>
  <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => B): Pipeline<B, E, R>
} = dual(2, <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => B) =>
  withStep<A, E, R, B>(self, f))

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
  withStep<A, E, R, A>(self, (value, record) => (predicate(value, record) ? value : skip)))

/** Replaces each value by zero or more values, each with the original record's metadata. */
export const flatMap: {
  <A, B>(f: (value: A, record: StreamRecord<A>) => Iterable<B>): <E, R>(self: Pipeline<A, E, R>) => Pipeline<B, E, R>
  <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => Iterable<B>): Pipeline<B, E, R>
} = dual(2, <A, E, R, B>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => Iterable<B>) =>
  withOperators(self, (records) =>
    Effect.sync(() => {
      const out: Array<StreamRecord<B>> = []
      for (const r of records) for (const value of f(r.value, r)) out.push(withValue(r, value))
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
      Effect.forEach(records, (r) => Effect.map(f(r.value, r), (value) => withValue(r, value)))
    )
)

