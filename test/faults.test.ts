import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule, TestClock } from "effect"
import {
  Kinesis,
  type KinesisApi,
  type KinesisError,
  KinesisRequestError,
  KinesisThrottled
} from "../src/kinesis/index.js"
import { type FaultRule, Faults, KinesisCalls, MemoryKinesis } from "../src/testing/index.js"
import { outcomes, shard0 } from "./support/faults.js"

const data = new Uint8Array([1, 2, 3])

/** MemoryKinesis with stream "s" (2 shards) and "t" (1 shard), wrapped by `rules`. */
const wrapped = (rules: ReadonlyArray<FaultRule>) =>
  Effect.gen(function* () {
    const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 2 }, { name: "t", shardCount: 1 }] })
    return yield* Faults.wrap(memory.api, rules)
  })

const isThrottle = (error: KinesisError) => error._tag === "KinesisThrottled"


describe("Faults", () => {
  it.effect("throttle fails the first `times` calls of the operation, then lets calls through", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* wrapped([Faults.throttle("ListShards", { times: 2 })])
      const first = yield* Effect.flip(api.listShards({ StreamName: "s" }))
      expect(first).toBeInstanceOf(KinesisThrottled)
      expect(first).toMatchObject({ operation: "ListShards", streamName: "s", errorName: "LimitExceededException" })
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.flip(api.listShards({ StreamName: "s" })))._tag).toBe("KinesisThrottled")
      yield* TestClock.adjust("1 second")
      expect((yield* api.listShards({ StreamName: "s" })).Shards).toHaveLength(2)
      // Other operations were never touched.
      yield* api.describeStreamSummary({ StreamName: "s" })
      const log = yield* calls
      expect(outcomes(log)).toEqual([
        "ListShards:injected",
        "ListShards:injected",
        "ListShards:ok",
        "DescribeStreamSummary:ok"
      ])
      expect(log.map((c) => c.at)).toEqual([0, 1000, 2000, 2000])
      expect(log[0]!.error).toBe(first)
    }))

  it.effect("throttle with a stream name counts and fails only that stream's calls", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* wrapped([Faults.throttle("PutRecord", { times: 1, streamName: "t" })])
      const put = (StreamName: string) => api.putRecord({ StreamName, PartitionKey: "k", Data: data })
      yield* put("s")
      yield* put("s")
      const error = yield* Effect.flip(put("t"))
      expect(error).toMatchObject({ _tag: "KinesisThrottled", errorName: "ProvisionedThroughputExceededException" })
      yield* put("t")
      expect((yield* calls).map((c) => `${c.streamName}:${c.outcome}`)).toEqual(["s:ok", "s:ok", "t:injected", "t:ok"])
    }))

  it.effect("expireIterator fails GetRecords with ExpiredIterator, naming the iterator's shard", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* wrapped([Faults.expireIterator({ times: 1 })])
      const Records = ["a", "b"].map((PartitionKey) => ({ PartitionKey, Data: data }))
      yield* api.putRecords({ StreamName: "t", Records })
      const { ShardIterator } = yield* api.getShardIterator({
        StreamName: "t",
        ShardId: shard0,
        ShardIteratorType: "TRIM_HORIZON"
      })
      const error = yield* Effect.flip(api.getRecords({ ShardIterator }))
      expect(error).toMatchObject({ _tag: "ExpiredIterator", streamName: "t", shardId: shard0 })
      const out = yield* api.getRecords({ ShardIterator })
      expect(out.Records).toHaveLength(2)
      // The next iterator is known to come from the same shard.
      yield* api.getRecords({ ShardIterator: out.NextShardIterator })
      const log = (yield* calls).filter((c) => c.operation === "GetRecords")
      expect(log.map((c) => [c.outcome, c.shardId, c.records])).toEqual([
        ["injected", shard0, undefined],
        ["ok", shard0, 2],
        ["ok", shard0, 0]
      ])
    }))

  it.effect("failWith fails with the given error; rules are asked in order and the first error wins", () =>
    Effect.gen(function* () {
      const denied = new KinesisRequestError({
        operation: "PutRecords",
        errorName: "AccessDeniedException",
        retryable: false,
        cause: new Error("denied")
      })
      const { api, calls } = yield* wrapped([
        Faults.failWith("PutRecords", denied, { times: 1 }),
        Faults.throttle("PutRecords", { times: 2 })
      ])
      const put = api.putRecords({ StreamName: "s", Records: [{ PartitionKey: "k", Data: data }] })
      expect(yield* Effect.flip(put)).toBe(denied)
      expect((yield* Effect.flip(put))._tag).toBe("KinesisThrottled")
      yield* put
      expect(outcomes(yield* calls)).toEqual(["PutRecords:injected", "PutRecords:injected", "PutRecords:ok"])
    }))

  it.effect("failWith can build the error from the call it fails", () =>
    Effect.gen(function* () {
      const { api } = yield* wrapped([
        Faults.failWith(
          "DescribeStreamSummary",
          (call) =>
            new KinesisRequestError({
              operation: call.operation,
              streamName: call.streamName,
              errorName: `call-${call.index}`,
              retryable: true,
              cause: call.input
            }),
          { times: 5 }
        )
      ])
      const error = yield* Effect.flip(api.describeStreamSummary({ StreamName: "t" }))
      expect(error).toMatchObject({ errorName: "call-0", streamName: "t", cause: { StreamName: "t" } })
    }))

  it.effect("records real failures of the wrapped service as failed", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* wrapped([])
      const error = yield* Effect.flip(api.listShards({ StreamName: "nope" }))
      const log = yield* calls
      expect(log).toEqual([{ operation: "ListShards", at: 0, outcome: "failed", streamName: "nope", error }])
      expect(error._tag).toBe("KinesisResourceNotFound")
    }))

  it.effect("records interrupted calls as interrupted", () =>
    Effect.gen(function* () {
      const hanging: KinesisApi = {
        ...(yield* MemoryKinesis.make()).api,
        getRecords: () => Effect.never
      }
      const { api, calls } = yield* Faults.wrap(hanging, [])
      const fiber = yield* Effect.fork(api.getRecords({ ShardIterator: "x" }, { streamName: "s", shardId: shard0 }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect(yield* calls).toEqual([
        { operation: "GetRecords", at: 0, outcome: "interrupted", streamName: "s", shardId: shard0 }
      ])
    }))

  it.effect("a retried call shows each attempt at its Clock time", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* wrapped([Faults.throttle("DescribeStreamSummary", { times: 3 })])
      const fiber = yield* api.describeStreamSummary({ StreamName: "s" }).pipe(
        Effect.retry({ schedule: Schedule.spaced("1 second"), while: isThrottle }),
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect((yield* calls).map((c) => [c.at, c.outcome])).toEqual([
        [0, "injected"],
        [1000, "injected"],
        [2000, "injected"],
        [3000, "ok"]
      ])
    }))

  it.effect("Faults.layer wraps the Kinesis below it and provides the call log", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const error = yield* Effect.flip(kinesis.listShards({ StreamName: "s" }))
      expect(error._tag).toBe("KinesisThrottled")
      expect((yield* kinesis.listShards({ StreamName: "s" })).Shards).toHaveLength(1)
      const { calls } = yield* KinesisCalls
      expect(outcomes(yield* calls)).toEqual(["ListShards:injected", "ListShards:ok"])
    }).pipe(
      Effect.provide(
        Faults.layer([Faults.throttle("ListShards", { times: 1 })]).pipe(
          Layer.provide(MemoryKinesis.layer({ streams: [{ name: "s", shardCount: 1 }] }))
        )
      )
    ))
})
