/**
 * Enhanced fan-out on MemoryKinesis, in virtual time: consumers, SubscribeToShard as Kinesis pushes
 * it, `readShardFanOut` over it (renewal after 5 minutes, split shards, faults from a plan), and a
 * fan-out pipeline under `PipelineTest`.
 */
import type { SubscribeToShardCommandInput, SubscribeToShardEvent } from "@aws-sdk/client-kinesis"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Exit, Fiber, Option, Scope, Stream, TestClock } from "effect"
import {
  acquireStreamConsumer,
  type FanOutReaderSettings,
  type KinesisRecord,
  readShardFanOut,
  resolveReaderOptions,
  ShardPosition
} from "../src/consumer/index.js"
import { Kinesis, type KinesisApi } from "../src/kinesis/index.js"
import { backoff, Codec, Pipeline } from "../src/index.js"
import { type FaultPlan, Faults, MemoryKinesis, PipelineTest } from "../src/testing/index.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const textOf = (r: KinesisRecord) => decoder.decode(r.data)
const shardId = (i: number) => `shardId-${String(i).padStart(12, "0")}`
const shard0 = shardId(0)
const streamArn = (name: string) => `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`
const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

/** Puts `values` in order (each its own key) on the stream, all on shard 0 unless `hashKey` says otherwise. */
const put = (api: KinesisApi, streamName: string, vs: ReadonlyArray<string>, hashKey = "0") =>
  Effect.orDie(api.putRecords({
    StreamName: streamName,
    Records: vs.map((v) => ({ PartitionKey: v, ExplicitHashKey: hashKey, Data: encoder.encode(v) }))
  }))

/** Retries with no jitter, so call times are exact. */
const retry = backoff({ base: "100 millis", cap: "1 second", maxRetries: 20, jitter: false })
const settings = Effect.orDie(
  Effect.map(resolveReaderOptions({ retry }), (s): FanOutReaderSettings => s)
)

/** A one-shard (or `shardCount`) stream "s" with an ACTIVE consumer "c". */
const withConsumer = (shardCount = 1) =>
  Effect.gen(function* () {
    const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount }] })
    const consumer = yield* acquireStreamConsumer({ streamName: "s", consumerName: "c" }).pipe(
      Effect.provideService(Kinesis, memory.api),
      Effect.orDie
    )
    return { memory, consumerArn: consumer.consumerArn }
  })

/** The api with each SubscribeToShard's clock time and starting position noted. */
const noting = (api: KinesisApi) => {
  const subscriptions: Array<{ readonly at: number; readonly position: string }> = []
  const noted: KinesisApi = {
    ...api,
    subscribeToShard: (input, target) =>
      Stream.unwrap(Effect.map(TestClock.currentTimeMillis, (at) => {
        const p = input.StartingPosition!
        subscriptions.push({ at, position: p.SequenceNumber === undefined ? p.Type! : `${p.Type}:${p.SequenceNumber}` })
        return api.subscribeToShard!(input, target)
      }))
  }
  return { api: noted, subscriptions }
}

/** Reads `n` records of shard 0 of "s" from TRIM_HORIZON through `api`, on a fiber. */
const readFork = (api: KinesisApi, consumerArn: string, n: number) =>
  Effect.flatMap(settings, (s) =>
    readShardFanOut({ streamName: "s", shardId: shard0, position: ShardPosition.trimHorizon, consumerArn }, s).pipe(
      Stream.mapConcat((chunk) => chunk.records),
      Stream.take(n),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.provideService(Kinesis, api),
      Effect.fork
    ))

/** Moves the clock in `step`s until the fiber is done (at most `limit` steps). */
const runOut = <A, E>(fiber: Fiber.Fiber<A, E>, step: Duration.DurationInput = "1 second", limit = 1000) =>
  Effect.gen(function* () {
    for (let i = 0; i < limit && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

describe("MemoryKinesis stream consumers", () => {
  it.effect("register (CREATING, then ACTIVE), describe by ARN or by stream + name, list, deregister", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      yield* TestClock.setTime(1_700_000_000_000)
      const summary = yield* api.describeStreamSummary({ StreamName: "s" })
      expect(summary.StreamDescriptionSummary?.StreamARN).toBe(streamArn("s"))
      const registered = yield* api.registerStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "c" })
      const arn = `${streamArn("s")}/consumer/c:1700000000`
      expect(registered.Consumer).toEqual({
        ConsumerName: "c",
        ConsumerARN: arn,
        ConsumerStatus: "CREATING",
        ConsumerCreationTimestamp: new Date(1_700_000_000_000)
      })
      const description = {
        ConsumerName: "c",
        ConsumerARN: arn,
        ConsumerStatus: "ACTIVE",
        ConsumerCreationTimestamp: new Date(1_700_000_000_000),
        StreamARN: streamArn("s")
      }
      expect((yield* api.describeStreamConsumer!({ ConsumerARN: arn })).ConsumerDescription).toEqual(description)
      expect((yield* api.describeStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "c" })).ConsumerDescription)
        .toEqual(description)
      const again = yield* Effect.flip(api.registerStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "c" }))
      expect(again).toMatchObject({ _tag: "KinesisRequestError", errorName: "ResourceInUseException", retryable: false })
      yield* api.registerStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "d" })
      const listed = yield* api.listStreamConsumers!({ StreamARN: streamArn("s") })
      expect(listed.Consumers?.map((c) => [c.ConsumerName, c.ConsumerStatus])).toEqual([["c", "ACTIVE"], ["d", "ACTIVE"]])
      const page = yield* api.listStreamConsumers!({ StreamARN: streamArn("s"), MaxResults: 1 })
      expect(page.Consumers?.map((c) => c.ConsumerName)).toEqual(["c"])
      const rest = yield* api.listStreamConsumers!({ StreamARN: streamArn("s"), NextToken: page.NextToken! })
      expect([rest.Consumers?.map((c) => c.ConsumerName), rest.NextToken]).toEqual([["d"], undefined])
      expect((yield* api.describeStreamSummary({ StreamName: "s" })).StreamDescriptionSummary?.ConsumerCount).toBe(2)

      yield* api.deregisterStreamConsumer!({ ConsumerARN: arn })
      const gone = yield* Effect.flip(api.describeStreamConsumer!({ ConsumerARN: arn }))
      expect(gone._tag).toBe("KinesisResourceNotFound")
      yield* api.deregisterStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "d" })
      expect((yield* api.listStreamConsumers!({ StreamARN: streamArn("s") })).Consumers).toEqual([])
      const noStream = yield* Effect.flip(api.listStreamConsumers!({ StreamARN: streamArn("nope") }))
      expect(noStream._tag).toBe("KinesisResourceNotFound")
    }))

  it.effect("acquireStreamConsumer registers without waiting, and deregisters what it registered", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const scope = yield* Scope.make()
      const consumer = yield* acquireStreamConsumer({ streamName: "s", consumerName: "app" }).pipe(
        Scope.extend(scope),
        Effect.provideService(Kinesis, api)
      )
      expect(consumer).toMatchObject({ streamArn: streamArn("s"), consumerName: "app", created: true })
      expect(yield* TestClock.currentTimeMillis).toBe(0)
      yield* Scope.close(scope, Exit.void)
      expect((yield* api.listStreamConsumers!({ StreamARN: streamArn("s") })).Consumers).toEqual([])
    }))
})

describe("MemoryKinesis SubscribeToShard", () => {
  const subscribe = (api: KinesisApi, input: SubscribeToShardCommandInput) =>
    api.subscribeToShard!(input).pipe(
      Stream.map((e: SubscribeToShardEvent) => ({
        records: (e.Records ?? []).map((r) => decoder.decode(r.Data)),
        continuation: e.ContinuationSequenceNumber,
        behind: e.MillisBehindLatest
      }))
    )

  it.scoped("pushes an event each second with the records since the last, and its continuation", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const [a] = yield* put(memory.api, "s", ["a"]).pipe(Effect.map((out) => out.Records!))
      yield* TestClock.adjust("500 millis")
      const events: Array<{ at: number; records: Array<string>; continuation: string | undefined; behind: number | undefined }> = []
      const fiber = yield* subscribe(memory.api, { ConsumerARN: consumerArn, ShardId: shard0, StartingPosition: { Type: "TRIM_HORIZON" } })
        .pipe(
          Stream.mapEffect((e) => Effect.map(TestClock.currentTimeMillis, (at) => ({ ...e, at }))),
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.fork
        )
      yield* TestClock.adjust("1200 millis")
      const [b, c] = yield* put(memory.api, "s", ["b", "c"]).pipe(Effect.map((out) => out.Records!))
      yield* TestClock.adjust("2 seconds")
      expect(events).toEqual([
        { at: 500, records: ["a"], continuation: a!.SequenceNumber, behind: 0 },
        { at: 1500, records: [], continuation: a!.SequenceNumber, behind: 0 },
        { at: 2500, records: ["b", "c"], continuation: c!.SequenceNumber, behind: 0 },
        { at: 3500, records: [], continuation: c!.SequenceNumber, behind: 0 }
      ])
      expect(b!.SequenceNumber! < c!.SequenceNumber!).toBe(true)

      // One open subscription per consumer and shard: the second is refused, as a retryable throttle.
      const second = yield* Effect.flip(
        Stream.runDrain(subscribe(memory.api, { ConsumerARN: consumerArn, ShardId: shard0, StartingPosition: { Type: "LATEST" } }))
      )
      expect(second).toMatchObject({ _tag: "KinesisThrottled", errorName: "ResourceInUseException", shardId: shard0 })
      yield* Fiber.interrupt(fiber)
      const third = yield* subscribe(memory.api, {
        ConsumerARN: consumerArn,
        ShardId: shard0,
        StartingPosition: { Type: "AFTER_SEQUENCE_NUMBER", SequenceNumber: a!.SequenceNumber! }
      }).pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(third).map((e) => e.records)).toEqual([["b", "c"]])
    }))

  it.scoped("a subscription ends by itself after 5 minutes: 300 events", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const fiber = yield* subscribe(memory.api, { ConsumerARN: consumerArn, ShardId: shard0, StartingPosition: { Type: "LATEST" } })
        .pipe(Stream.runCount, Effect.fork)
      yield* TestClock.adjust("299 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(300)
    }))

  it.scoped("the continuation of an empty shard (among others with records) is a valid position on it", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer(2)
      const high = (2n ** 127n).toString()
      yield* put(memory.api, "s", ["x", "y"])
      const events = (input: SubscribeToShardCommandInput) =>
        subscribe(memory.api, input).pipe(Stream.take(1), Stream.runCollect, Effect.map((c) => Chunk.unsafeHead(c)))
      const first = yield* events({ ConsumerARN: consumerArn, ShardId: shardId(1), StartingPosition: { Type: "TRIM_HORIZON" } })
      expect(first.records).toEqual([])
      yield* put(memory.api, "s", ["z"], high)
      const after = yield* events({
        ConsumerARN: consumerArn,
        ShardId: shardId(1),
        StartingPosition: { Type: "AFTER_SEQUENCE_NUMBER", SequenceNumber: first.continuation! }
      })
      expect(after.records).toEqual(["z"])
      const unknown = yield* Effect.flip(events({ ConsumerARN: `${consumerArn}x`, ShardId: shard0, StartingPosition: { Type: "LATEST" } }))
      expect(unknown._tag).toBe("KinesisResourceNotFound")
    }))
})

describe("readShardFanOut over MemoryKinesis", () => {
  it.scoped("reads every record once, in order, from TRIM_HORIZON, also records put while it reads", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const before = values("before", 30)
      const during = values("during", 20)
      yield* put(memory.api, "s", before)
      const reader = yield* readShardFanOut({ streamName: "s", shardId: shard0, position: ShardPosition.trimHorizon, consumerArn }, yield* settings).pipe(
        Stream.mapConcat((chunk) => chunk.records),
        Stream.take(50),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.provideService(Kinesis, memory.api),
        Effect.fork
      )
      yield* TestClock.adjust("1500 millis")
      yield* put(memory.api, "s", during)
      // Pushed with the next event, at 2 s.
      yield* TestClock.adjust("499 millis")
      expect(Option.isNone(yield* Fiber.poll(reader))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const records = yield* Fiber.join(reader)
      expect(records.map(textOf)).toEqual([...before, ...during])
      expect(records.map((r) => r.approximateArrivalTimestamp?.getTime())).toEqual([
        ...before.map(() => 0),
        ...during.map(() => 1500)
      ])
      expect(records.every((r) => r.shardId === shard0)).toBe(true)
    }))

  it.scoped("a subscription ended by the 5-minute limit is renewed from the continuation: nothing lost or repeated", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const { api, subscriptions } = noting(memory.api)
      const batches = [values("a", 5), values("b", 5), values("c", 5), values("d", 5)]
      yield* put(memory.api, "s", batches[0]!)
      const reader = yield* readFork(api, consumerArn, 20)
      yield* TestClock.adjust("2 minutes")
      const [, , , , lastB] = (yield* put(memory.api, "s", batches[1]!)).Records!
      // Put after the first subscription's last event (at 299 s), before it ends (at 300 s).
      yield* TestClock.adjust("179500 millis")
      yield* put(memory.api, "s", batches[2]!)
      yield* TestClock.adjust("1 second")
      yield* put(memory.api, "s", batches[3]!)
      const records = yield* runOut(reader)
      expect(records.map(textOf)).toEqual(batches.flat())
      expect(subscriptions).toEqual([
        { at: 0, position: "TRIM_HORIZON" },
        { at: 300_000, position: `AFTER_SEQUENCE_NUMBER:${lastB!.SequenceNumber}` }
      ])
    }))

  it.scoped("a split shard ends with shardEnded and its children", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const before = values("pre", 10)
      const late = values("late", 5)
      yield* put(memory.api, "s", before)
      const reader = yield* readShardFanOut({ streamName: "s", shardId: shard0, position: ShardPosition.trimHorizon, consumerArn }, yield* settings).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.provideService(Kinesis, memory.api),
        Effect.fork
      )
      yield* TestClock.adjust("1500 millis")
      yield* put(memory.api, "s", late)
      const [low, high] = yield* memory.splitShard("s", shard0)
      // Goes to a child, not to the closed parent.
      yield* put(memory.api, "s", ["child"])
      const chunks = yield* runOut(reader, "100 millis")
      expect(chunks.flatMap((c) => c.records).map(textOf)).toEqual([...before, ...late])
      expect(chunks.map((c) => [c.records.length, c.shardEnded])).toEqual([[10, false], [5, true]])
      expect(chunks[1]!.childShards).toEqual([
        { shardId: low, parentShardIds: [shard0] },
        { shardId: high, parentShardIds: [shard0] }
      ])
      expect(yield* TestClock.currentTimeMillis).toBe(2000)
    }))
})

describe("readShardFanOut through Faults", () => {
  it.scoped("ResourceInUse on the first subscriptions and dropped subscriptions: resubscribed >= 1 s apart, every record once", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const plan: FaultPlan = {
        seed: 1,
        faults: [
          { operation: "SubscribeToShard", kind: { _tag: "AwsError", name: "ResourceInUseException" }, at: [0, 1] },
          { operation: "SubscribeToShard", kind: { _tag: "ConnectionReset", afterMs: 2500 }, at: [2] },
          { operation: "SubscribeToShard", kind: { _tag: "ConnectionReset", afterMs: 300 }, at: [3] }
        ]
      }
      const { api, calls } = yield* Effect.orDie(Faults.wrap(memory.api, plan))
      const first = values("first", 10)
      const second = values("second", 5)
      const third = values("third", 5)
      yield* put(memory.api, "s", first)
      const reader = yield* readFork(api, consumerArn, 20)
      // Subscribed at 2 s (after two refusals 1 s apart), dropped at 4.5 s; events at 2, 3 and 4 s.
      yield* TestClock.adjust("3500 millis")
      yield* put(memory.api, "s", second)
      // Resubscribed at 4.5 s, dropped at 4.8 s after one event: these come with the next subscription.
      yield* TestClock.adjust("1200 millis")
      yield* put(memory.api, "s", third)
      const records = yield* runOut(reader, "100 millis")
      expect(records.map(textOf)).toEqual([...first, ...second, ...third])
      const log = (yield* calls).filter((c) => c.operation === "SubscribeToShard")
      expect(log.map((c) => [c.at, c.outcome, c.error?._tag])).toEqual([
        [0, "injected", "KinesisThrottled"],
        [1000, "injected", "KinesisThrottled"],
        [2000, "injected", "KinesisRequestError"],
        [4500, "injected", "KinesisRequestError"],
        [5500, "interrupted", undefined]
      ])
      expect(log[2]!.error).toMatchObject({ errorName: "ECONNRESET", retryable: true, shardId: shard0, streamName: "s" })
      expect(log.every((c) => c.streamName === "s" && c.shardId === shard0)).toBe(true)
    }))

  it.scoped("a failed subscription is logged with its faults; a clean one with the records it delivered", () =>
    Effect.gen(function* () {
      const { consumerArn, memory } = yield* withConsumer()
      const { api, calls } = yield* Effect.orDie(Faults.wrap(memory.api, {
        seed: 1,
        faults: [
          { operation: "SubscribeToShard", kind: { _tag: "Latency", ms: 700 }, at: [0] },
          { operation: "SubscribeToShard", kind: { _tag: "Throttle" }, at: [0] }
        ]
      }))
      yield* put(memory.api, "s", ["a", "b"])
      yield* memory.splitShard("s", shard0)
      const input = { ConsumerARN: consumerArn, ShardId: shard0, StartingPosition: { Type: "TRIM_HORIZON" as const } }
      const throttled = yield* Effect.flip(Stream.runDrain(api.subscribeToShard!(input)).pipe(Effect.fork, Effect.flatMap(runOut)))
      expect(throttled).toMatchObject({ _tag: "KinesisThrottled", errorName: "LimitExceededException" })
      const events = yield* Stream.runCollect(api.subscribeToShard!(input))
      expect(Chunk.size(events)).toBe(1)
      expect(yield* calls).toEqual([
        {
          operation: "SubscribeToShard",
          at: 0,
          outcome: "injected",
          streamName: "s",
          shardId: shard0,
          error: throttled,
          faults: [{ _tag: "Latency", ms: 700 }, { _tag: "Throttle" }]
        },
        { operation: "SubscribeToShard", at: 1000, outcome: "ok", streamName: "s", shardId: shard0, records: 2 }
      ])
    }))

  it.effect("the consumer calls go through the rules and the log too", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const { api, calls } = yield* Effect.orDie(Faults.wrap(memory.api, {
        seed: 1,
        faults: [{ operation: "RegisterStreamConsumer", kind: { _tag: "InternalFailure" }, at: [0] }]
      }))
      const failed = yield* Effect.flip(api.registerStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "c" }))
      expect(failed).toMatchObject({ _tag: "KinesisRequestError", retryable: true })
      const { Consumer } = yield* api.registerStreamConsumer!({ StreamARN: streamArn("s"), ConsumerName: "c" })
      yield* api.describeStreamConsumer!({ ConsumerARN: Consumer!.ConsumerARN! })
      yield* api.listStreamConsumers!({ StreamARN: streamArn("s") })
      yield* api.deregisterStreamConsumer!({ ConsumerARN: Consumer!.ConsumerARN! })
      expect((yield* calls).map((c) => [c.operation, c.outcome, c.streamName])).toEqual([
        ["RegisterStreamConsumer", "injected", "s"],
        ["RegisterStreamConsumer", "ok", "s"],
        ["DescribeStreamConsumer", "ok", "s"],
        ["ListStreamConsumers", "ok", "s"],
        ["DeregisterStreamConsumer", "ok", "s"]
      ])
      // A service without the fan-out calls stays without them behind the wrapper.
      const { subscribeToShard: _, ...polling } = memory.api
      const plain = yield* Faults.wrap(polling, [])
      expect(plain.api.subscribeToShard).toBeUndefined()
    }))
})

describe("a fan-out pipeline under PipelineTest", () => {
  // Seeds whose plans hit both kinds (every seed from 1 to 20 reads exactly once; these also prove the faults happened).
  it.scoped.each([4, 16, 19])("reads every record exactly once through a seeded plan of ResourceInUse and dropped subscriptions (seed %i)", (seed) =>
    Effect.gen(function* () {
      const pipeline = Pipeline.fromKinesis({
        streamName: "events",
        codec: Codec.utf8,
        batchInterval: "1 second",
        retrieval: "fanout",
        consumerName: "app",
        reader: { retry }
      })
      const plan: FaultPlan = {
        seed,
        faults: [
          { operation: "SubscribeToShard", kind: { _tag: "AwsError", name: "ResourceInUseException" }, rate: 0.3 },
          { operation: "SubscribeToShard", kind: { _tag: "ConnectionReset", afterMs: 1500 }, rate: 0.4 }
        ]
      }
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 2, faults: plan })
      const records = (from: number, count: number) =>
        Array.from({ length: count }, (_, i) => ({ partitionKey: `k${from + i}`, data: encoder.encode(`v${from + i}`) }))
      const expected = (count: number) => Array.from({ length: count }, (_, i) => `v${i}`).sort()
      yield* test.put(records(0, 60))
      yield* test.advance(3)
      yield* test.put(records(60, 60))
      yield* test.advance(4)
      yield* test.put(records(120, 60))
      yield* test.drain()
      yield* test.stop
      const read = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      expect([...read].sort()).toEqual(expected(180))
      // The consumer the run registered is deregistered when it stops.
      expect((yield* test.kinesis.api.listStreamConsumers!({ StreamARN: streamArn("events") })).Consumers).toEqual([])
      const log = yield* test.calls
      const subscriptions = log.filter((c) => c.operation === "SubscribeToShard")
      const injected = (name: string) => subscriptions.filter((c) => c.faults?.some((f) => f._tag === name)).length
      expect(subscriptions.length).toBeGreaterThan(0)
      expect(injected("AwsError")).toBeGreaterThan(0)
      expect(injected("ConnectionReset")).toBeGreaterThan(0)
      const resets = subscriptions.filter((c) => c.faults?.some((f) => f._tag === "ConnectionReset"))
      expect(resets.every((c) => c.outcome === "injected" && c.error?._tag === "KinesisRequestError")).toBe(true)
      expect(subscriptions.filter((c) => c.outcome === "failed")).toEqual([])
      expect(log.filter((c) => c.operation === "GetRecords" || c.operation === "GetShardIterator")).toEqual([])
    }))
})
