import { Cause, Clock, Context, Effect, Exit, Layer, Option } from "effect"
import {
  type CallTarget,
  ExpiredIterator,
  Kinesis,
  type KinesisApi,
  type KinesisError,
  type KinesisOperation,
  KinesisThrottled
} from "../kinesis/index.js"

/** How a recorded call ended: passed through and succeeded or failed, failed by a rule, or interrupted. */
export type CallOutcome = "ok" | "failed" | "injected" | "interrupted"

/** One call that reached the wrapped service. */
export interface RecordedCall {
  readonly operation: KinesisOperation
  /** When the call started, in `Clock` millis (so `TestClock` time in tests). */
  readonly at: number
  readonly outcome: CallOutcome
  readonly streamName?: string
  readonly shardId?: string
  /** For a GetRecords that succeeded: how many records it returned. */
  readonly records?: number
  /** For "failed" and "injected": the error. */
  readonly error?: KinesisError
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
}

/** Decides whether a call fails, and with what, before it reaches the wrapped service. */
export type FaultRule = (call: FaultCall) => KinesisError | undefined

/** The calls recorded by `Faults.layer`. */
export class KinesisCalls extends Context.Tag("shardline/testing/KinesisCalls")<KinesisCalls, {
  /** Every call so far, in the order they ended. */
  readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>>
}>() {}

const injected = "injected by shardline/testing Faults"

const wrap = (
  api: KinesisApi,
  rules: ReadonlyArray<FaultRule>
): Effect.Effect<{ readonly api: KinesisApi; readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>> }> =>
  Effect.sync(() => {
    const log: Array<RecordedCall> = []
    const counts = new Map<string, number>()
    // Iterators handed out through the wrapper, so GetRecords calls can be told apart by shard.
    const iterators = new Map<string, CallTarget>()
    const next = (key: string): number => {
      const n = counts.get(key) ?? 0
      counts.set(key, n + 1)
      return n
    }

    const guard = <A>(
      operation: KinesisOperation,
      input: unknown,
      target: CallTarget,
      run: Effect.Effect<A, KinesisError>,
      seen: (output: A) => Partial<RecordedCall> = () => ({})
    ): Effect.Effect<A, KinesisError> =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.suspend(() => {
          const { shardId, streamName } = target
          const call: FaultCall = {
            operation,
            index: next(operation),
            indexOnStream: next(`${operation}/${streamName ?? ""}`),
            input,
            streamName,
            shardId
          }
          const base = {
            operation,
            at,
            ...(streamName === undefined ? {} : { streamName }),
            ...(shardId === undefined ? {} : { shardId })
          }
          for (const rule of rules) {
            const error = rule(call)
            if (error !== undefined) {
              log.push({ ...base, outcome: "injected", error })
              return Effect.fail(error)
            }
          }
          return Effect.onExit(run, (exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit)) return log.push({ ...base, outcome: "ok", ...seen(exit.value) })
              if (Cause.isInterruptedOnly(exit.cause)) return log.push({ ...base, outcome: "interrupted" })
              const error = Cause.failureOption(exit.cause)
              log.push({ ...base, outcome: "failed", ...(Option.isSome(error) ? { error: error.value } : {}) })
            }))
        }))

    const targetOf = (input: { StreamName?: string | undefined; ShardId?: string | undefined }): CallTarget => ({
      streamName: input.StreamName,
      shardId: input.ShardId
    })
    const remember = (iterator: string | undefined, target: CallTarget) => {
      if (iterator !== undefined) iterators.set(iterator, target)
    }

    const wrapped: KinesisApi = {
      createStream: (input) => guard("CreateStream", input, targetOf(input), api.createStream(input)),
      describeStreamSummary: (input) =>
        guard("DescribeStreamSummary", input, targetOf(input), api.describeStreamSummary(input)),
      listShards: (input, target) =>
        guard("ListShards", input, target ?? targetOf(input), api.listShards(input, target)),
      getShardIterator: (input) => {
        const target = targetOf(input)
        return guard("GetShardIterator", input, target, api.getShardIterator(input), (out) => {
          remember(out.ShardIterator, target)
          return {}
        })
      },
      getRecords: (input, target) =>
        Effect.suspend(() => {
          const known = target ?? iterators.get(input.ShardIterator ?? "") ?? {}
          return guard("GetRecords", input, known, api.getRecords(input, target), (out) => {
            remember(out.NextShardIterator, known)
            return { records: out.Records?.length ?? 0 }
          })
        }),
      putRecord: (input) => guard("PutRecord", input, targetOf(input), api.putRecord(input)),
      putRecords: (input) => guard("PutRecords", input, targetOf(input), api.putRecords(input)),
      splitShard: (input) =>
        guard("SplitShard", input, { streamName: input.StreamName, shardId: input.ShardToSplit }, api.splitShard(input)),
      mergeShards: (input) =>
        guard(
          "MergeShards",
          input,
          { streamName: input.StreamName, shardId: input.ShardToMerge },
          api.mergeShards(input)
        ),
      deleteStream: (input) => guard("DeleteStream", input, targetOf(input), api.deleteStream(input))
    }
    return { api: wrapped, calls: Effect.sync(() => log.slice()) }
  })

const dataPlane = new Set<KinesisOperation>(["GetRecords", "PutRecord", "PutRecords"])

/**
 * Fault injection and a call log for the Kinesis service, for tests of retries, iterator
 * renewal and back-pressure.
 *
 * @example
 * ```ts
 * const kinesis = Faults.layer([
 *   Faults.throttle("GetRecords", { times: 3 }),
 *   Faults.expireIterator({ times: 1 })
 * ]).pipe(Layer.provide(MemoryKinesis.layer({ streams: [{ name: "clicks", shardCount: 2 }] })))
 * // ...later, in the test: const log = yield* (yield* KinesisCalls).calls
 * ```
 */
export const Faults = {
  /** Wraps a service: rules are asked in order before each call, the first error returned is the call's failure. */
  wrap,

  /** Wraps the `Kinesis` provided below it, and provides the call log as {@link KinesisCalls}. */
  layer: (rules: ReadonlyArray<FaultRule>): Layer.Layer<Kinesis | KinesisCalls, never, Kinesis> =>
    Layer.effectContext(
      Effect.gen(function* () {
        const wrapped = yield* wrap(yield* Kinesis, rules)
        return Context.make(Kinesis, wrapped.api).pipe(Context.add(KinesisCalls, { calls: wrapped.calls }))
      })
    ),

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
    const errorName = dataPlane.has(operation) ? "ProvisionedThroughputExceededException" : "LimitExceededException"
    return new KinesisThrottled({
      operation,
      streamName: call.streamName,
      shardId: call.shardId,
      errorName,
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
