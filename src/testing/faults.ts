import { Context, Effect, Layer } from "effect"
import type { InvalidOption } from "../config/index.js"
import {
  ExpiredIterator,
  Kinesis,
  type KinesisApi,
  type KinesisError,
  type KinesisOperation,
  KinesisThrottled
} from "../kinesis/index.js"
import { checkFaultPlan } from "./faultCheck.js"
import { type FaultKind, type FaultPlan, injected, rulesOf, throttleErrorName } from "./faultPlan.js"
import { wrapRules } from "./faultWrapper.js"

/** How a recorded call ended: passed through and succeeded or failed, failed by a rule, or interrupted. */
export type CallOutcome = "ok" | "failed" | "injected" | "interrupted"

/**
 * One call that reached the wrapped service. A SubscribeToShard is one call for its whole
 * subscription: `at` is when it started, and it is logged when the subscription ends.
 */
export interface RecordedCall {
  readonly operation: KinesisOperation
  /** When the call started, in `Clock` millis (so `TestClock` time in tests). */
  readonly at: number
  readonly outcome: CallOutcome
  readonly streamName?: string
  readonly shardId?: string
  /** For a GetRecords that succeeded: how many records it returned; for a SubscribeToShard that ended without error: how many it delivered. */
  readonly records?: number
  /** For "failed" and "injected": the error. */
  readonly error?: KinesisError
  /** The faults injected into this call, in rule order; failed PutRecords entries as the indexes chosen. */
  readonly faults?: ReadonlyArray<FaultKind>
}

/** Which calls a fault aims at; what is left out matches any call. */
export interface CallFilter {
  readonly operation: KinesisOperation | "*"
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
}

/** What a rule sees of a call. Stream and shard are known for GetRecords when its iterator came through the wrapper. */
export interface FaultCall {
  readonly operation: KinesisOperation
  /** 0-based count of earlier calls to this operation. */
  readonly index: number
  /** 0-based count of earlier calls to this operation on the same stream. */
  readonly indexOnStream: number
  readonly input: unknown
  readonly streamName: string | undefined
  readonly shardId: string | undefined
  /** 0-based count of earlier calls matching `filter`; undefined when this call does not match it. */
  readonly indexOf: (filter: CallFilter) => number | undefined
}

/**
 * Decides what happens to a call before it reaches the wrapped service: nothing (undefined), an
 * error to fail with, or a {@link FaultKind}. A `Latency` delays the call and the next rules are
 * still asked; anything else decides the call and ends the asking.
 */
export type FaultRule = (call: FaultCall) => KinesisError | FaultKind | undefined

/** The calls recorded by `Faults.layer`. */
export class KinesisCalls extends Context.Tag("shardline/testing/KinesisCalls")<KinesisCalls, {
  /** Every call so far, in the order they ended. */
  readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>>
}>() {}

/** A wrapped service and its call log. */
export interface WrappedKinesis {
  readonly api: KinesisApi
  readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>>
}

const isPlan = (faults: FaultPlan | ReadonlyArray<FaultRule>): faults is FaultPlan => !Array.isArray(faults)

/** The rules of a plan, after checking it. */
const fromPlan = (plan: FaultPlan): Effect.Effect<ReadonlyArray<FaultRule>, InvalidOption> =>
  Effect.map(checkFaultPlan(plan), rulesOf)

function wrap(api: KinesisApi, rules: ReadonlyArray<FaultRule>): Effect.Effect<WrappedKinesis>
function wrap(api: KinesisApi, faults: FaultPlan | ReadonlyArray<FaultRule>): Effect.Effect<WrappedKinesis, InvalidOption>
function wrap(api: KinesisApi, faults: FaultPlan | ReadonlyArray<FaultRule>) {
  return isPlan(faults) ? Effect.flatMap(fromPlan(faults), (rules) => wrapRules(api, rules)) : wrapRules(api, faults)
}

type FaultsLayer<E> = Layer.Layer<Kinesis | KinesisCalls, E, Kinesis>

function layer(rules: ReadonlyArray<FaultRule>): FaultsLayer<never>
function layer(faults: FaultPlan | ReadonlyArray<FaultRule>): FaultsLayer<InvalidOption>
function layer(faults: FaultPlan | ReadonlyArray<FaultRule>): FaultsLayer<InvalidOption> {
  return Layer.effectContext(
    Effect.gen(function* () {
      const wrapped = yield* wrap(yield* Kinesis, faults)
      return Context.make(Kinesis, wrapped.api).pipe(Context.add(KinesisCalls, { calls: wrapped.calls }))
    })
  )
}

/**
 * Fault injection and a call log for the Kinesis service, for tests of retries, dropped
 * connections, iterator renewal, back-pressure and enhanced fan-out (the consumer calls, and
 * SubscribeToShard: see {@link FaultKind}). Faults come as rules (functions) or as a
 * {@link FaultPlan} (data).
 *
 * @example
 * ```ts
 * const kinesis = Faults.layer([
 *   Faults.throttle("GetRecords", { times: 3 }),
 *   Faults.expireIterator({ times: 1 })
 * ]).pipe(Layer.provide(MemoryKinesis.layer({ streams: [{ name: "clicks", shardCount: 2 }] })))
 * // or: Faults.layer({ seed: 1, faults: [{ operation: "GetRecords", kind: { _tag: "Throttle" }, rate: 0.2 }] })
 * // ...later, in the test: const log = yield* (yield* KinesisCalls).calls
 * ```
 */
export const Faults = {
  /** Wraps a service: rules are asked in order before each call (see {@link FaultRule}); a plan is checked first. */
  wrap,

  /** Wraps the `Kinesis` provided below it, and provides the call log as {@link KinesisCalls}. */
  layer,

  /** Checks a plan and turns it into rules, to combine with hand-written ones. */
  fromPlan,

  /**
   * The first `times` calls to `operation` (to `streamName`'s, when given) fail with
   * {@link KinesisThrottled}: ProvisionedThroughputExceeded for data calls, LimitExceeded otherwise.
   */
  throttle: (
    operation: KinesisOperation,
    options: { readonly times: number; readonly streamName?: string }
  ): FaultRule =>
  (call) => {
    if (call.operation !== operation) return undefined
    const { streamName, times } = options
    const hit = streamName === undefined
      ? call.index < times
      : call.streamName === streamName && call.indexOnStream < times
    if (!hit) return undefined
    return new KinesisThrottled({
      operation,
      streamName: call.streamName,
      shardId: call.shardId,
      errorName: throttleErrorName(operation),
      cause: new Error(injected)
    })
  },

  /** The first `times` GetRecords calls fail with {@link ExpiredIterator}. */
  expireIterator: (options: { readonly times: number }): FaultRule => (call) =>
    call.operation === "GetRecords" && call.index < options.times
      ? new ExpiredIterator({ streamName: call.streamName, shardId: call.shardId, cause: new Error(injected) })
      : undefined,

  /** The first `times` calls to `operation` fail with `error` (or what it builds from the call). */
  failWith: (
    operation: KinesisOperation,
    error: KinesisError | ((call: FaultCall) => KinesisError),
    options: { readonly times: number }
  ): FaultRule =>
  (call) =>
    call.operation === operation && call.index < options.times
      ? (typeof error === "function" ? error(call) : error)
      : undefined
} as const
