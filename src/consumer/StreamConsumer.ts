import { Duration, Effect, type Scope } from "effect"
import {
  type CallTarget,
  Kinesis,
  type KinesisApi,
  type KinesisError,
  type KinesisOperation,
  KinesisRequestError
} from "../kinesis/index.js"
import { type RetryOption, RetryPolicy, retryKinesis } from "../retry/index.js"

/** An enhanced fan-out consumer registered on a stream, ACTIVE and ready for SubscribeToShard. */
export interface StreamConsumer {
  readonly streamName: string
  readonly streamArn: string
  readonly consumerName: string
  readonly consumerArn: string
  /** True when this acquisition registered it (and so deregisters it on scope close); false when it existed. */
  readonly created: boolean
}

/** Which consumer to register or reuse, and how. */
export interface StreamConsumerOptions {
  readonly streamName: string
  /** Unique per stream; an application's workers share one consumer name (and its 2 MB/s per shard). */
  readonly consumerName: string
  /** Time between DescribeStreamConsumer calls while the consumer is CREATING (or an old one DELETING). Default 1 s. */
  readonly pollInterval?: Duration.DurationInput
  /** Retries of each call, by error class. Default {@link RetryPolicy.default}. */
  readonly retry?: RetryOption
  /**
   * Deregister the consumer when the scope closes, if this call registered it. Default true. Turn
   * it off where other processes share the consumer (workers with leases): they would lose it.
   */
  readonly deregister?: boolean
}

/**
 * The error for a `KinesisApi` without the enhanced fan-out calls (a hand-written test double):
 * fatal, with a message that says what to use instead.
 *
 * @example
 * ```ts
 * const subscribe = api.subscribeToShard ?? (() => Stream.fail(fanOutUnsupported("SubscribeToShard", { streamName, shardId })))
 * ```
 */
export const fanOutUnsupported = (operation: KinesisOperation, target: CallTarget): KinesisRequestError =>
  new KinesisRequestError({
    operation,
    streamName: target.streamName,
    shardId: target.shardId,
    errorName: "UnsupportedOperation",
    retryable: false,
    cause: new Error(
      `the Kinesis service in use has no ${operation} (enhanced fan-out); provide Kinesis.layer(...) or fromClient(client), or read with readShard (polling)`
    )
  })

/** The fan-out calls of `api`, or a fatal error naming the first one missing. */
export const fanOutCalls = (api: KinesisApi, target: CallTarget) => {
  const need = <F>(f: F | undefined, operation: KinesisOperation): Effect.Effect<F, KinesisRequestError> =>
    f === undefined ? Effect.fail(fanOutUnsupported(operation, target)) : Effect.succeed(f)
  return Effect.all({
    register: need(api.registerStreamConsumer, "RegisterStreamConsumer"),
    describe: need(api.describeStreamConsumer, "DescribeStreamConsumer"),
    deregister: need(api.deregisterStreamConsumer, "DeregisterStreamConsumer")
  })
}

const isResourceInUse = (error: KinesisError): boolean =>
  error._tag === "KinesisRequestError" && error.errorName === "ResourceInUseException"

/**
 * Registers an enhanced fan-out consumer of a stream, or reuses the one of that name, and waits
 * until it is ACTIVE (polling on Effect's `Clock`). Closing the scope deregisters it only if this
 * call registered it: a consumer shared with other workers or made by hand is left alone.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const consumer = yield* acquireStreamConsumer({ streamName: "clicks", consumerName: "clicks-analytics" })
 *   yield* readShardFanOut({ streamName: "clicks", shardId, position: ShardPosition.latest, consumerArn: consumer.consumerArn }, settings)
 *     .pipe(Stream.runForEach(handle))
 * }))
 * ```
 */
export const acquireStreamConsumer = (
  options: StreamConsumerOptions
): Effect.Effect<StreamConsumer, KinesisError, Kinesis | Scope.Scope> =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const target: CallTarget = { streamName: options.streamName }
    const calls = yield* fanOutCalls(kinesis, target)
    const retry = retryKinesis(options.retry ?? RetryPolicy.default)
    const pollInterval = Duration.decode(options.pollInterval ?? "1 second")
    const summary = yield* retry(kinesis.describeStreamSummary({ StreamName: options.streamName }))
    const streamArn = summary.StreamDescriptionSummary?.StreamARN ?? ""
    const byName = { StreamARN: streamArn, ConsumerName: options.consumerName }

    // Registered with its release in one uninterruptible step, so a consumer this call made is
    // always deregistered; waiting for ACTIVE comes after and stays interruptible.
    const registered = yield* Effect.acquireRelease(
      registerOrReuse(calls, byName, target, pollInterval, retry),
      ({ consumerArn, created }) =>
        created && options.deregister !== false
          ? retry(calls.deregister({ ConsumerARN: consumerArn }, target)).pipe(
            Effect.catchAll((error) => Effect.logWarning(`could not deregister consumer ${consumerArn}: ${error.message}`))
          )
          : Effect.void
    )
    while (true) {
      const described = yield* retry(calls.describe({ ConsumerARN: registered.consumerArn }, target))
      if (described.ConsumerDescription?.ConsumerStatus === "ACTIVE") break
      yield* Effect.sleep(pollInterval)
    }
    return {
      streamName: options.streamName,
      streamArn,
      consumerName: options.consumerName,
      consumerArn: registered.consumerArn,
      created: registered.created
    }
  })

type Calls = Effect.Effect.Success<ReturnType<typeof fanOutCalls>>

const registerOrReuse = (
  calls: Calls,
  byName: { readonly StreamARN: string; readonly ConsumerName: string },
  target: CallTarget,
  pollInterval: Duration.Duration,
  retry: <A, E extends KinesisError, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<{ readonly consumerArn: string; readonly created: boolean }, KinesisError> =>
  Effect.gen(function* () {
    while (true) {
      const registered = yield* Effect.either(retry(calls.register(byName, target)))
      if (registered._tag === "Right") {
        return { consumerArn: registered.right.Consumer?.ConsumerARN ?? "", created: true }
      }
      if (!isResourceInUse(registered.left)) return yield* Effect.fail(registered.left)
      // The name is taken: reuse that consumer, unless it is on its way out (then register anew).
      const existing = yield* retry(calls.describe(byName, target)).pipe(
        Effect.catchTag("KinesisResourceNotFound", () => Effect.succeed(undefined))
      )
      const description = existing?.ConsumerDescription
      if (description !== undefined && description.ConsumerStatus !== "DELETING") {
        return { consumerArn: description.ConsumerARN ?? "", created: false }
      }
      yield* Effect.sleep(pollInterval)
    }
  })
