import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Chunk, Effect, Either, Fiber, Option, Schedule, Stream, TestClock, TestContext } from "effect"
import { InvalidOption } from "../src/config/index.js"
import {
  backoff,
  Codec,
  isRetryable,
  Kinesis,
  type KinesisApi,
  KinesisRequestError,
  Pipeline,
  readShard,
  resolveReaderOptions,
  RetryPolicy,
  ShardPosition
} from "../src/index.js"
import {
  arbitraryFaultPlan,
  checkFaultPlan,
  type FaultKind,
  type FaultPlan,
  Faults,
  isInjected,
  MemoryKinesis,
  PipelineTest
} from "../src/testing/index.js"
import { faultKindTags } from "../src/testing/faultPlan.js"
import { expectWrittenTwice, planOf, putOne, setup, shard0, storedIn } from "./support/faults.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const reset = (afterMs: number, reachedService?: boolean): FaultKind =>
  reachedService === undefined
    ? { _tag: "ConnectionReset", afterMs }
    : { _tag: "ConnectionReset", afterMs, reachedService }

describe("ConnectionReset", () => {
  it.effect("drops the connection afterMs into the call: a retryable ECONNRESET, and the request never reached the service", () =>
    Effect.gen(function* () {
      const { api, calls, memory } = yield* setup(planOf({ operation: "PutRecord", kind: reset(1500), times: 1 }))
      const fiber = yield* Effect.fork(Effect.flip(putOne(api)))
      yield* TestClock.adjust("1499 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toBeInstanceOf(KinesisRequestError)
      expect(error).toMatchObject({ operation: "PutRecord", streamName: "t", errorName: "ECONNRESET", retryable: true })
      expect(isRetryable(error)).toBe(true)
      expect(isInjected(error)).toBe(true)
      // The shape of what the SDK's NodeHttpHandler rejects with on a reset socket.
      expect(error.cause).toBeInstanceOf(Error)
      expect(error.cause).toMatchObject({ code: "ECONNRESET" })
      expect((error.cause as Error).message).toContain("socket hang up")
      expect(yield* storedIn(memory.api)).toEqual([])
      expect(yield* calls).toEqual([
        { operation: "PutRecord", at: 0, outcome: "injected", streamName: "t", error, faults: [reset(1500)] }
      ])
    }))

  it.effect("with reachedService the record is written although the call fails, so a producer's retry writes it twice", () =>
    Effect.gen(function* () {
      const error = yield* expectWrittenTwice(reset(1500, true), 1500, "ECONNRESET")
      expect(error.message).toContain("its answer was lost")
    }))

  it.effect("with reachedService the call fails at afterMs even when the service never answers", () =>
    Effect.gen(function* () {
      const hanging: KinesisApi = { ...(yield* MemoryKinesis.make()).api, describeStreamSummary: () => Effect.never }
      const { api } = yield* Effect.orDie(
        Faults.wrap(hanging, planOf({ operation: "DescribeStreamSummary", kind: reset(700, true) }))
      )
      const fiber = yield* Effect.fork(Effect.flip(api.describeStreamSummary({ StreamName: "s" })))
      yield* TestClock.adjust("699 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toMatchObject({ errorName: "ECONNRESET" })
    }))

  it.effect("an ECONNRESET returned by a hand-written rule is logged as a reset at once", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "t", shardCount: 1 }] })
      const dropped = new KinesisRequestError({
        operation: "PutRecord",
        errorName: "ECONNRESET",
        retryable: true,
        cause: new Error("socket hang up")
      })
      const { api, calls } = yield* Faults.wrap(memory.api, [Faults.failWith("PutRecord", dropped, { times: 1 })])
      expect(yield* Effect.flip(putOne(api))).toBe(dropped)
      expect((yield* calls)[0]!.faults).toEqual([reset(0)])
    }))
})

describe("ConnectionReset in plans", () => {
  const bad: ReadonlyArray<readonly [string, string, unknown]> = [
    ["a negative afterMs", "faults[0].kind.afterMs", reset(-1)],
    ["a NaN afterMs", "faults[0].kind.afterMs", reset(Number.NaN)],
    ["an infinite afterMs", "faults[0].kind.afterMs", reset(Infinity)],
    ["a missing afterMs", "faults[0].kind.afterMs", { _tag: "ConnectionReset" }],
    ["a text afterMs", "faults[0].kind.afterMs", { _tag: "ConnectionReset", afterMs: "100" }],
    [
      "a reachedService that is not a boolean",
      "faults[0].kind.reachedService",
      { _tag: "ConnectionReset", afterMs: 1, reachedService: "yes" }
    ]
  ]
  for (const [what, option, kind] of bad) {
    it.effect(`the checker rejects ${what}, naming ${option}`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(checkFaultPlan(planOf({ operation: "GetRecords", kind: kind as FaultKind })))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.option).toBe(option)
        expect(error.message).toContain(`Invalid option ${option}:`)
      }))
  }

  it.effect("the checker accepts a reset at 0 ms, on any operation, with or without reachedService", () =>
    Effect.gen(function* () {
      const plan = planOf(
        { operation: "*", kind: reset(0) },
        { operation: "PutRecord", kind: reset(250.5, true) },
        { operation: "GetShardIterator", kind: reset(10, false) }
      )
      expect(yield* checkFaultPlan(plan)).toBe(plan)
      expect(faultKindTags).toContain("ConnectionReset")
    }))

  it("the arbitrary draws resets, with and without reachedService, within maxTimeoutMs, that pass the check", () => {
    const plans = fc.sample(
      arbitraryFaultPlan({
        operations: ["GetRecords", "PutRecord", "*"],
        kinds: ["ConnectionReset"],
        maxTimeoutMs: 800
      }),
      { seed: 3, numRuns: 200 }
    )
    const kinds = plans.flatMap((p) => p.faults.map((f) => f.kind))
    expect(kinds.length).toBeGreaterThan(100)
    for (const kind of kinds) {
      expect(kind._tag).toBe("ConnectionReset")
      const { afterMs } = kind as Extract<FaultKind, { readonly _tag: "ConnectionReset" }>
      expect(Number.isInteger(afterMs) && afterMs >= 0 && afterMs <= 800).toBe(true)
    }
    const reached = kinds.filter((k) => "reachedService" in k && k.reachedService === true).length
    expect(reached).toBeGreaterThan(kinds.length / 4)
    expect(reached).toBeLessThan((kinds.length * 3) / 4)
    for (const plan of plans) expect(Either.isRight(Effect.runSync(Effect.either(checkFaultPlan(plan))))).toBe(true)
    // Among every kind it is drawn too, but not by default (existing seeded properties keep their plans).
    const everything = fc.sample(arbitraryFaultPlan({ kinds: faultKindTags, maxFaults: 8 }), { seed: 4, numRuns: 100 })
    expect(everything.some((p) => p.faults.some((f) => f.kind._tag === "ConnectionReset"))).toBe(true)
    const defaults = fc.sample(arbitraryFaultPlan({ maxFaults: 8 }), { seed: 4, numRuns: 100 })
    expect(defaults.some((p) => p.faults.some((f) => f.kind._tag === "ConnectionReset"))).toBe(false)
  })
})

describe("a pipeline on a flaky connection", () => {
  const shardIds = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]

  for (const reachedService of [false, true]) {
    it.scoped(
      `resets on ~30% of GetRecords and on GetShardIterator calls${reachedService ? " (answers lost)" : ""}: every record exactly once, in shard order`,
      () =>
        Effect.gen(function* () {
          const pipeline = Pipeline.fromKinesis({
            streamName: "flaky",
            codec: Codec.utf8,
            batchInterval: "1 second",
            reader: { limit: 10, retry: RetryPolicy.patient }
          })
          const test = yield* PipelineTest.make(pipeline, undefined, {
            shardCount: 3,
            faults: {
              seed: 2024,
              faults: [
                { operation: "GetRecords", kind: reset(300, reachedService), rate: 0.3 },
                // The first iterator of two shards: the reader cannot start before it retries.
                { operation: "GetShardIterator", kind: reset(50, reachedService), at: [0, 2] }
              ]
            }
          })
          const values = Array.from({ length: 450 }, (_, i) => `r${i}`)
          const placed = yield* test.put(
            values.map((v, i) => ({ partitionKey: `k${i * 7919}`, data: encoder.encode(v) }))
          )
          yield* test.drain({ maxIntervals: 120 })
          yield* test.advance(3)
          const delivered = (yield* test.batches).flatMap((b) => b.records)
          expect(delivered).toHaveLength(values.length)
          for (const shardId of shardIds) {
            const want = placed.flatMap((p, i) => (p.shardId === shardId ? [[p.sequenceNumber, values[i]]] : []))
            expect(want.length).toBeGreaterThan(100)
            const got = delivered.filter((r) => r.shardId === shardId).map((r) => [r.sequenceNumber, r.value])
            expect(got, shardId).toEqual(want)
          }
          const calls = yield* test.calls
          const reads = calls.filter((c) => c.operation === "GetRecords")
          const dropped = reads.filter((c) => c.outcome === "injected")
          expect(dropped.length / reads.length).toBeGreaterThan(0.2)
          expect(dropped.length / reads.length).toBeLessThan(0.4)
          for (const c of dropped) expect(c.error).toMatchObject({ errorName: "ECONNRESET", retryable: true })
          const iterators = calls.filter((c) => c.operation === "GetShardIterator")
          expect(iterators.filter((c) => c.outcome === "injected")).toHaveLength(2)
          // Each shard got its one iterator in the end, and never needed another.
          expect(iterators.filter((c) => c.outcome === "ok").map((c) => c.shardId).sort()).toEqual(shardIds)
        }),
      30_000
    )
  }

  for (const reachedService of [false, true]) {
    it.scoped(
      `a producer retrying a PutRecord reset ${reachedService ? "after the service wrote it: the consumer sees it twice" : "before it was sent: the consumer sees it once"}`,
      () =>
        Effect.gen(function* () {
          const test = yield* PipelineTest.make(
            Pipeline.fromKinesis({ streamName: "orders", codec: Codec.utf8, batchInterval: "1 second" }),
            undefined,
            { shardCount: 1 }
          )
          // The producer's PutRecord calls go through their own faults; the pipeline's reads do not.
          const producer = yield* Faults.wrap(
            test.kinesis.api,
            planOf({ operation: "PutRecord", kind: reset(2000, reachedService), at: [1] })
          )
          const send = (value: string) =>
            producer.api.putRecord({ StreamName: "orders", PartitionKey: value, Data: encoder.encode(value) }).pipe(
              Effect.retry({ schedule: Schedule.spaced("1 second"), while: isRetryable })
            )
          const sending = yield* Effect.fork(Effect.forEach(["a", "b", "c"], send))
          yield* test.advance(4)
          yield* Fiber.join(sending)
          // Put around the faults, so drain knows where the stream ends.
          yield* test.put([{ partitionKey: "end", data: encoder.encode("end") }])
          yield* test.drain()
          const delivered = (yield* test.batches).flatMap((b) => b.records)
          const expected = reachedService ? ["a", "b", "b", "c", "end"] : ["a", "b", "c", "end"]
          expect(delivered.map((r) => r.value)).toEqual(expected)
          // Two records, not one delivered twice: only an idempotent sink (or a key in the data) tells them apart.
          expect(new Set(delivered.map((r) => r.sequenceNumber)).size).toBe(delivered.length)
          const log = yield* producer.calls
          expect(log.map((c) => [c.at, c.outcome])).toEqual([[0, "ok"], [0, "injected"], [3000, "ok"], [3000, "ok"]])
          expect(log[1]!.error).toMatchObject({ errorName: "ECONNRESET", retryable: true })
        })
    )
  }
})

describe("readShard on a flaky connection", () => {
  const values = Array.from({ length: 40 }, (_, i) => `r${i}`)
  const forever = backoff({ base: "100 millis", cap: "2 seconds", maxRetries: Infinity, jitter: false })

  /** Reads a closed one-shard stream of `values` to its end through `plan`, on a TestClock. */
  const readAllThrough = (plan: FaultPlan) =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "t", shardCount: 1 }] })
      const Records = values.map((v) => ({ PartitionKey: v, Data: encoder.encode(v) }))
      yield* Effect.orDie(memory.api.putRecords({ StreamName: "t", Records }))
      yield* Effect.orDie(memory.splitShard("t", shard0))
      const { api, calls } = yield* Effect.orDie(Faults.wrap(memory.api, plan))
      const settings = yield* Effect.orDie(resolveReaderOptions({ limit: 7, retry: forever }))
      const target = { streamName: "t", shardId: shard0, position: ShardPosition.trimHorizon }
      const fiber = yield* readShard(target, settings).pipe(
        Stream.runCollect,
        Effect.provideService(Kinesis, api),
        Effect.fork
      )
      for (let i = 0; i < 1000 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("10 seconds")
      if (Option.isNone(yield* Fiber.poll(fiber))) {
        return yield* Effect.dieMessage("the reader did not finish in 10,000 s")
      }
      const chunks = Chunk.toReadonlyArray(yield* Effect.orDie(Fiber.join(fiber)))
      return { read: chunks.flatMap((c) => c.records.map((r) => decoder.decode(r.data))), calls: yield* calls }
    }).pipe(Effect.provide(TestContext.TestContext))

  it("delivers every record exactly once, in order, under any plan of resets, expiries and throttles", async () => {
    let resets = 0
    await fc.assert(
      fc.asyncProperty(
        arbitraryFaultPlan({
          operations: ["GetRecords", "GetShardIterator"],
          kinds: ["ConnectionReset", "ExpiredIterator", "Throttle"],
          maxTimeoutMs: 3000
        }),
        async (plan) => {
          const { calls, read } = await Effect.runPromise(readAllThrough(plan))
          expect(read).toEqual(values)
          resets += calls.filter((c) => c.faults?.some((f) => f._tag === "ConnectionReset")).length
        }
      ),
      { numRuns: 60 }
    )
    expect(resets).toBeGreaterThan(50)
  })
})
