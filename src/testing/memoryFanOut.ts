/**
 * Enhanced fan-out in memory: stream consumers and SubscribeToShard, on Effect's `Clock`.
 */
import type { Consumer, StartingPosition, SubscribeToShardEvent } from "@aws-sdk/client-kinesis"
import { Clock, Duration, Effect, Option, Stream } from "effect"
import type { CallTarget, KinesisApi, KinesisError, KinesisOperation } from "../kinesis/index.js"
import { at, between, invalid, nameOf, notFound, outOfRange, refuse, validation, withStream } from "./memoryCalls.js"
import {
  decodeToken,
  encodeToken,
  findShard,
  firstAtOrAfter,
  formatSeq,
  type MemoryShard,
  type MemoryStream,
  trimHorizon
} from "./memoryModel.js"
import { childShards, startPosition } from "./memoryReads.js"

/** Kinesis ends every subscription after 5 minutes. */
const SUBSCRIPTION_MS = 5 * 60 * 1000
/** How often an open subscription pushes an event. */
const EVENT_EVERY_MS = 1000
const MAX_EVENT_RECORDS = 10_000
/** Registered consumers per stream (the Kinesis quota). */
const MAX_CONSUMERS = 20
const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/
const NEXT_TOKEN_TTL_MS = 5 * 60 * 1000

interface MemoryConsumer {
  readonly name: string
  readonly arn: string
  readonly streamName: string
  readonly streamArn: string
  readonly createdAt: number
}

type FanOutCalls = Required<
  Pick<
    KinesisApi,
    | "registerStreamConsumer"
    | "describeStreamConsumer"
    | "listStreamConsumers"
    | "deregisterStreamConsumer"
    | "subscribeToShard"
  >
>

/** The fan-out calls, and what the rest of MemoryKinesis needs to know of consumers. */
export interface MemoryFanOut {
  readonly calls: FanOutCalls
  readonly consumerCount: (streamArn: string) => number
  /** Forgets a deleted stream's consumers (their open subscriptions fail at their next event). */
  readonly dropStream: (streamArn: string) => void
}

/** The stream named in a stream or consumer ARN (`.../stream/<name>` or `.../stream/<name>/consumer/...`). */
export const streamOfArn = (arn: string | undefined): string | undefined => arn?.match(/:stream\/([^/]+)/)?.[1]

const describeConsumer = (c: MemoryConsumer): Consumer => ({
  ConsumerName: c.name,
  ConsumerARN: c.arn,
  // Registration is instant here: a consumer is ACTIVE from the moment its registration answered.
  ConsumerStatus: "ACTIVE",
  ConsumerCreationTimestamp: new Date(c.createdAt)
})

const toStartInput = (position: StartingPosition | undefined) => ({
  ShardIteratorType: position?.Type,
  StartingSequenceNumber: position?.SequenceNumber,
  Timestamp: position?.Timestamp
})

/**
 * The sequence number a subscription continues after when it is at `position`: the shard's last
 * record before it, or (none yet) the seq just before the shard's first, which no shard owns.
 */
const continuationAt = (shard: MemoryShard, position: number): string => {
  const last = shard.records[firstAtOrAfter(shard.records, position) - 1]
  return formatSeq(last?.seq ?? Math.max(0, shard.startingSeq - 1))
}

export const makeFanOut = (streams: ReadonlyMap<string, MemoryStream>): MemoryFanOut => {
  // By consumer ARN, in registration order.
  const consumers = new Map<string, MemoryConsumer>()
  // Open subscriptions, by consumer ARN and shard.
  const open = new Set<string>()

  const ofStream = (streamArn: string) => [...consumers.values()].filter((c) => c.streamArn === streamArn)

  /** The stream an ARN names (ResourceNotFound when absent or when the ARN is not this stream's). */
  const withStreamArn = <A>(
    operation: KinesisOperation,
    streamArn: string | undefined,
    f: (stream: MemoryStream, target: CallTarget) => Effect.Effect<A, KinesisError>
  ) => {
    const name = nameOf({ StreamARN: streamArn })
    const target = { streamName: name ?? streamOfArn(streamArn) }
    if (streamArn === undefined) return invalid(operation, target, "StreamARN is required.")
    return withStream(streams, operation, name, target, (stream) =>
      stream.arn === streamArn ? f(stream, target) : notFound(operation, target, `Stream ${streamArn}`))
  }

  /** A consumer by `ConsumerARN`, or by `StreamARN` + `ConsumerName`. */
  const findConsumer = (
    operation: KinesisOperation,
    input: { ConsumerARN?: string | undefined; StreamARN?: string | undefined; ConsumerName?: string | undefined },
    given: CallTarget | undefined
  ): Effect.Effect<MemoryConsumer, KinesisError> => {
    const target = given ?? { streamName: streamOfArn(input.ConsumerARN ?? input.StreamARN) }
    if (input.ConsumerARN !== undefined) {
      const found = consumers.get(input.ConsumerARN)
      return found === undefined ? notFound(operation, target, `Consumer ${input.ConsumerARN}`) : Effect.succeed(found)
    }
    if (input.StreamARN === undefined || input.ConsumerName === undefined) {
      return invalid(operation, target, "Either ConsumerARN or both StreamARN and ConsumerName are required.")
    }
    const { ConsumerName, StreamARN } = input
    return withStreamArn(operation, StreamARN, () => {
      const found = ofStream(StreamARN).find((c) => c.name === ConsumerName)
      return found === undefined
        ? notFound(operation, target, `Consumer ${ConsumerName} of stream ${StreamARN}`)
        : Effect.succeed(found)
    })
  }

  const registerStreamConsumer: FanOutCalls["registerStreamConsumer"] = (input, target) =>
    at((now) =>
      withStreamArn("RegisterStreamConsumer", input.StreamARN, (stream, where) => {
        const here = target ?? where
        const name = input.ConsumerName ?? ""
        if (!CONSUMER_NAME.test(name)) {
          return validation("RegisterStreamConsumer", here, "consumerName", name, "Member must match [a-zA-Z0-9_.-]{1,128}")
        }
        const existing = ofStream(stream.arn)
        if (existing.some((c) => c.name === name)) {
          return refuse(
            "RegisterStreamConsumer",
            here,
            "ResourceInUseException",
            `Consumer ${name} under stream ${stream.arn} already exists.`
          )
        }
        if (existing.length >= MAX_CONSUMERS) {
          return refuse("RegisterStreamConsumer", here, "LimitExceededException", `Stream ${stream.name} has ${MAX_CONSUMERS} consumers.`)
        }
        const consumer: MemoryConsumer = {
          name,
          arn: `${stream.arn}/consumer/${name}:${Math.floor(now / 1000)}`,
          streamName: stream.name,
          streamArn: stream.arn,
          createdAt: now
        }
        consumers.set(consumer.arn, consumer)
        return Effect.succeed({ Consumer: { ...describeConsumer(consumer), ConsumerStatus: "CREATING" as const } })
      }))

  const describeStreamConsumer: FanOutCalls["describeStreamConsumer"] = (input, target) =>
    Effect.map(findConsumer("DescribeStreamConsumer", input, target), (c) => ({
      ConsumerDescription: { ...describeConsumer(c), StreamARN: c.streamArn }
    }))

  const listStreamConsumers: FanOutCalls["listStreamConsumers"] = (input, target) =>
    at((now) =>
      withStreamArn("ListStreamConsumers", input.StreamARN, (stream, where) => {
        const here = target ?? where
        if (outOfRange(input.MaxResults, 1, 10_000)) {
          return validation("ListStreamConsumers", here, "maxResults", input.MaxResults, between(1, 10_000))
        }
        let offset = 0
        if (input.NextToken !== undefined) {
          const token = decodeToken("ListStreamConsumers", input.NextToken)
          if (token === undefined || token[0] !== stream.arn) return invalid("ListStreamConsumers", here, "Invalid NextToken.")
          const [, tokenOffset, issued] = token as [string, number, number]
          if (now - issued > NEXT_TOKEN_TTL_MS) {
            return refuse("ListStreamConsumers", here, "ExpiredNextTokenException", "NextToken has expired.")
          }
          offset = tokenOffset
        }
        const all = ofStream(stream.arn)
        const end = offset + (input.MaxResults ?? 100)
        return Effect.succeed({
          Consumers: all.slice(offset, end).map(describeConsumer),
          ...(end < all.length ? { NextToken: encodeToken("ListStreamConsumers", [stream.arn, end, now]) } : {})
        })
      }))

  const deregisterStreamConsumer: FanOutCalls["deregisterStreamConsumer"] = (input, target) =>
    Effect.flatMap(findConsumer("DeregisterStreamConsumer", input, target), (c) => Effect.sync(() => void consumers.delete(c.arn)))

  /** The consumer, its stream and the shard, as they are now (any of them may have gone since the subscription opened). */
  const lookUp = (consumerArn: string, shardId: string, target: CallTarget) =>
    Effect.suspend(() => {
      const consumer = consumers.get(consumerArn)
      if (consumer === undefined) return notFound("SubscribeToShard", target, `Consumer ${consumerArn}`)
      return withStream(streams, "SubscribeToShard", consumer.streamName, target, (stream) => {
        const shard = findShard(stream, shardId)
        return shard === undefined
          ? notFound("SubscribeToShard", target, `Shard ${shardId} in stream ${stream.name}`)
          : Effect.succeed({ consumer, stream, shard })
      })
    })

  const subscribeToShard: FanOutCalls["subscribeToShard"] = (input, target) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const consumerArn = input.ConsumerARN ?? ""
        const shardId = input.ShardId ?? ""
        const where = target ?? { streamName: streamOfArn(consumerArn), shardId }
        const startedAt = yield* Clock.currentTimeMillis
        const { shard, stream } = yield* lookUp(consumerArn, shardId, where)
        let position = yield* startPosition(toStartInput(input.StartingPosition), stream, shard, startedAt, "SubscribeToShard")
        const key = `${consumerArn}|${shard.key}`
        yield* Effect.acquireRelease(
          Effect.suspend(() => {
            if (open.has(key)) {
              const message = `Another active subscription exists for consumer ${consumerArn} on shard ${shardId}.`
              return refuse("SubscribeToShard", where, "ResourceInUseException", message)
            }
            open.add(key)
            return Effect.void
          }),
          () => Effect.sync(() => void open.delete(key))
        )

        let lastEventAt: number | undefined
        let ended = false
        const next: Effect.Effect<SubscribeToShardEvent, Option.Option<KinesisError>> = Effect.gen(function* () {
          if (ended) return yield* Effect.fail(Option.none())
          let now = yield* Clock.currentTimeMillis
          if (lastEventAt !== undefined) {
            const due = Math.min(lastEventAt + EVENT_EVERY_MS, startedAt + SUBSCRIPTION_MS)
            if (due > now) {
              yield* Effect.sleep(Duration.millis(due - now))
              now = yield* Clock.currentTimeMillis
            }
          }
          // The service ends the subscription: the caller resubscribes from the last continuation.
          if (now >= startedAt + SUBSCRIPTION_MS) return yield* Effect.fail(Option.none())
          lastEventAt = now
          const current = yield* Effect.mapError(lookUp(consumerArn, shardId, where), Option.some)
          const records = current.shard.records
          position = Math.max(position, trimHorizon(current.stream, current.shard, now))
          const start = firstAtOrAfter(records, position)
          const batch = records.slice(start, start + MAX_EVENT_RECORDS)
          const last = batch[batch.length - 1]
          if (last !== undefined) position = last.seq + 1
          const following = records[start + batch.length]
          // A closed shard read to its end: the last event names no continuation, but the children.
          ended = current.shard.endingSeq !== undefined && following === undefined
          return {
            Records: batch.map((r) => ({
              SequenceNumber: r.sequenceNumber,
              ApproximateArrivalTimestamp: new Date(r.arrival),
              Data: Uint8Array.from(r.data),
              PartitionKey: r.partitionKey
            })),
            ContinuationSequenceNumber: ended ? undefined : continuationAt(current.shard, position),
            MillisBehindLatest: following === undefined ? 0 : Math.max(0, now - following.arrival),
            ...(ended ? { ChildShards: childShards(current.stream, current.shard) } : {})
          }
        })
        return Stream.repeatEffectOption(next)
      })
    )

  return {
    calls: {
      registerStreamConsumer,
      describeStreamConsumer,
      listStreamConsumers,
      deregisterStreamConsumer,
      subscribeToShard
    },
    consumerCount: (streamArn) => ofStream(streamArn).length,
    dropStream: (streamArn) => {
      for (const c of ofStream(streamArn)) consumers.delete(c.arn)
    }
  }
}
