import type { StartingPosition, SubscribeToShardEvent } from "@aws-sdk/client-kinesis"
import { Clock, Duration, Effect, Either, Stream } from "effect"
import { Kinesis, type KinesisApi, type KinesisError } from "../kinesis/index.js"
import { shardMeter } from "../metrics/meters.js"
import { errorClassOf, retryKinesis } from "../retry/index.js"
import type { PrefetchBudget } from "./PrefetchBudget.js"
import { resumeInside, shardChunks, toRecord, whenGone } from "./shardChunks.js"
import type { ShardChunk, ShardReaderSettings, ShardReadTarget } from "./ShardReader.js"
import { iteratorRequest, ShardPosition } from "./ShardPosition.js"
import { fanOutUnsupported } from "./StreamConsumer.js"

/** What to read with enhanced fan-out: a shard from a position, through a registered consumer. */
export interface FanOutReadTarget extends ShardReadTarget {
  /** An ACTIVE consumer of the stream, e.g. from {@link acquireStreamConsumer}. */
  readonly consumerArn: string
}

/** The reader settings fan-out uses (the polling ones, `limit` and the delays, do not apply). */
export type FanOutReaderSettings = Pick<ShardReaderSettings, "retry" | "maxPrefetchRecords" | "maxPrefetchBytes">

/** SubscribeToShard allows 1 call per second per consumer per shard. */
const subscribeSpacing = Duration.seconds(1)

/**
 * The SubscribeToShard starting position for a shard position.
 *
 * @example
 * ```ts
 * startingPosition(ShardPosition.afterSequenceNumber("4968...")) // { Type: "AFTER_SEQUENCE_NUMBER", SequenceNumber: "4968..." }
 * ```
 */
export const startingPosition = (position: ShardPosition): StartingPosition => {
  const request = iteratorRequest(position)
  return {
    Type: request.ShardIteratorType,
    ...(request.StartingSequenceNumber !== undefined ? { SequenceNumber: request.StartingSequenceNumber } : {}),
    ...(request.Timestamp !== undefined ? { Timestamp: request.Timestamp } : {})
  }
}

/**
 * Reads one shard with enhanced fan-out (SubscribeToShard) as a stream of chunks, one per pushed
 * event with records, ending after the chunk marked `shardEnded` when the shard is closed: the same
 * output as {@link readShard}. When the service ends a subscription (every 5 minutes) or it fails
 * with a retryable error, it resubscribes right after the last event's continuation sequence number,
 * never sooner than 1 s after the previous call for the shard; failures are retried by class with
 * `settings.retry` (counts start afresh once a subscription has delivered an event). The next event
 * is not read while `maxPrefetchRecords` or `maxPrefetchBytes` are held unconsumed (HTTP flow
 * control then holds the service back); interrupting the stream aborts the subscription.
 *
 * @example
 * ```ts
 * const chunks = Stream.unwrapScoped(Effect.map(
 *   acquireStreamConsumer({ streamName: "clicks", consumerName: "analytics" }),
 *   (consumer) => readShardFanOut({ streamName: "clicks", shardId: "shardId-000000000000", position: ShardPosition.trimHorizon, consumerArn: consumer.consumerArn }, settings)
 * ))
 * ```
 */
export const readShardFanOut = (
  target: FanOutReadTarget,
  settings: FanOutReaderSettings
): Stream.Stream<ShardChunk, KinesisError, Kinesis> =>
  shardChunks(settings, (kinesis, { budget, emit }) => subscribeShard(kinesis, target, settings, budget, emit))

/** ResourceInUse refusals of a renewal taken as routine (a second apart) before the retry policy counts them. */
const routineRefusals = 5

const isResourceInUse = (error: KinesisError) => error._tag === "KinesisThrottled" && error.errorName === "ResourceInUseException"

/** How one subscription ended: the shard is done, or the service (or a fault) ended it and it is renewed. */
type Ended = "shardEnded" | "resubscribe"

const subscribeShard = (
  kinesis: KinesisApi,
  target: FanOutReadTarget,
  settings: FanOutReaderSettings,
  budget: PrefetchBudget,
  emit: (chunk: ShardChunk) => Effect.Effect<unknown>
): Effect.Effect<void, KinesisError> =>
  Effect.gen(function* () {
    const callTarget = { streamName: target.streamName, shardId: target.shardId }
    const subscribe = kinesis.subscribeToShard
    if (subscribe === undefined) return yield* Effect.fail(fanOutUnsupported("SubscribeToShard", callTarget))
    const meter = shardMeter(target.streamName, target.shardId)
    const start = target.position
    const markResume = resumeInside(start)
    // Where the next subscription starts: after the last event's continuation sequence number.
    let position = start
    let firstRecordSeen = false
    let lastCallAt: number | undefined
    let endedEmitted = false

    const onEvent = (event: SubscribeToShardEvent): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const records = (event.Records ?? []).map((r) => toRecord(target.shardId, r))
        // Resuming inside a KPL aggregate: its first user records are done.
        if (!firstRecordSeen && records.length > 0) {
          firstRecordSeen = true
          markResume(records)
        }
        const continuation = event.ContinuationSequenceNumber ?? undefined
        const shardEnded = continuation === undefined
        if (!shardEnded) position = ShardPosition.afterSequenceNumber(continuation)
        let bytes = 0
        for (const r of records) bytes += r.data.byteLength
        yield* meter.response(records.length, bytes, event.MillisBehindLatest, records[records.length - 1]?.approximateArrivalTimestamp)
        if (records.length > 0 || shardEnded) {
          const childShards = event.ChildShards?.map((c) => ({ shardId: c.ShardId ?? "", parentShardIds: c.ParentShards ?? [] }))
          yield* budget.add(records.length, bytes)
          endedEmitted = shardEnded
          yield* emit({
            shardId: target.shardId,
            records,
            bytes,
            millisBehindLatest: event.MillisBehindLatest,
            shardEnded,
            ...(shardEnded && childShards !== undefined && childShards.length > 0 ? { childShards } : {})
          })
        }
        // The next event is pulled only once there is room: pushing stops at the HTTP layer.
        if (!shardEnded) yield* budget.awaitRoom
        return shardEnded
      })

    // One SubscribeToShard call, read to its end. A retryable failure after at least one event is a
    // dropped subscription, renewed with fresh retry counts; before any event it fails, to be retried.
    const subscribeOnce: Effect.Effect<Ended, KinesisError> = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const wait = lastCallAt === undefined ? 0 : lastCallAt + Duration.toMillis(subscribeSpacing) - now
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      lastCallAt = yield* Clock.currentTimeMillis
      yield* meter.subscribeCall
      let delivered = 0
      let ended = false
      const result = yield* Effect.either(
        subscribe(
          { ConsumerARN: target.consumerArn, ShardId: target.shardId, StartingPosition: startingPosition(position) },
          callTarget
        ).pipe(
          Stream.mapEffect((event) => {
            delivered++
            return Effect.map(onEvent(event), (shardEnded) => {
              ended = shardEnded
              return shardEnded
            })
          }),
          Stream.takeUntil((shardEnded) => shardEnded),
          Stream.runDrain
        )
      )
      if (Either.isLeft(result)) {
        const error = result.left
        if (delivered > 0 && errorClassOf(error) !== undefined) return "resubscribe"
        return yield* Effect.fail(error)
      }
      return ended ? "shardEnded" : "resubscribe"
    })

    // Right after a renewal the service may still hold the previous subscription (Kinesis refuses a
    // new one within 5 s of the last): that ResourceInUse is routine, waited out a second at a time
    // (subscribeOnce spaces the calls) without using up the retry policy, whatever it is.
    let renewing = false
    const attempt = Effect.suspend(() =>
      renewing ? Effect.retry(subscribeOnce, { times: routineRefusals, while: isResourceInUse }) : subscribeOnce)
    const retried = retryKinesis(settings.retry)(attempt).pipe(whenGone(target, "shardEnded" as Ended))
    while ((yield* retried) === "resubscribe") {
      // The service ended the subscription (or it dropped after progress): renew it from `position`.
      renewing = true
    }
    yield* meter.ended
    if (!endedEmitted) {
      yield* emit({ shardId: target.shardId, records: [], bytes: 0, millisBehindLatest: 0, shardEnded: true })
    }
  })
