import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Chunk, Effect, Either, Fiber, Layer, Option, Stream, TestClock, TestContext } from "effect"
import { InvalidOption } from "../src/config/index.js"
import { readShard, resolveReaderOptions, ShardPosition } from "../src/consumer/index.js"
import { Kinesis, type KinesisApi } from "../src/kinesis/index.js"
import { backoff } from "../src/retry/index.js"
import { arbitraryFaultPlan, arbitraryScenarioPlan } from "../src/testing/faultArbitrary.js"
import { checkFaultPlan, checkScenarioPlan } from "../src/testing/faultCheck.js"
import {
  faultKindTags,
  type FaultKind,
  type FaultPlan,
  isInjected,
  type ScenarioPlan
} from "../src/testing/faultPlan.js"
import { type FaultRule, Faults, MemoryKinesis, type RecordedCall } from "../src/testing/index.js"
import { expectWrittenTwice, outcomes, planOf, putOne, setup, shard0, storedIn } from "./support/faults.js"



// --- fault plans ---

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const shard1 = "shardId-000000000001"

const entriesOf = (...values: ReadonlyArray<string>) => values.map((v) => ({ PartitionKey: v, Data: encoder.encode(v) }))
const injectedCount = (calls: ReadonlyArray<RecordedCall>) => calls.filter((c) => c.outcome === "injected").length

describe("Faults from a plan: kinds", () => {
  const errorKinds: ReadonlyArray<readonly [FaultKind, Record<string, unknown>]> = [
    [{ _tag: "Throttle" }, { _tag: "KinesisThrottled", errorName: "ProvisionedThroughputExceededException" }],
    [{ _tag: "AccessDenied" }, { _tag: "KinesisAccessDenied", errorName: "AccessDeniedException", kind: "AccessDenied" }],
    [{ _tag: "InternalFailure" }, { _tag: "KinesisRequestError", errorName: "InternalFailureException", retryable: true }],
    [{ _tag: "ServiceUnavailable" }, { _tag: "KinesisRequestError", errorName: "ServiceUnavailableException", retryable: true }],
    [{ _tag: "AwsError", name: "KMSThrottlingException" }, { _tag: "KinesisThrottled", errorName: "KMSThrottlingException" }],
    [{ _tag: "AwsError", name: "InvalidArgumentException" }, { _tag: "KinesisRequestError", retryable: false }],
    [{ _tag: "AwsError", name: "InternalServerError", fault: "server" }, { _tag: "KinesisRequestError", retryable: true }]
  ]
  for (const [kind, expected] of errorKinds) {
    it.effect(`${JSON.stringify(kind)} fails the call as the real client would, and nothing is written`, () =>
      Effect.gen(function* () {
        const { api, calls, memory } = yield* setup(planOf({ operation: "PutRecord", kind, times: 1 }))
        const error = yield* Effect.flip(putOne(api))
        expect(error).toMatchObject({ ...expected, streamName: "t" })
        expect(isInjected(error)).toBe(true)
        expect(yield* storedIn(memory.api)).toEqual([])
        yield* putOne(api)
        expect(yield* storedIn(memory.api)).toEqual(["a"])
        expect((yield* calls).map((c) => [c.outcome, c.faults])).toEqual([["injected", [kind]], ["ok", undefined]])
      }))
  }

  it.effect("Throttle is LimitExceeded on control-plane calls; ExpiredIterator names the iterator's shard", () =>
    Effect.gen(function* () {
      const { api } = yield* setup(
        planOf(
          { operation: "ListShards", kind: { _tag: "Throttle" } },
          { operation: "GetRecords", kind: { _tag: "ExpiredIterator" }, at: [0] }
        )
      )
      expect(yield* Effect.flip(api.listShards({ StreamName: "s" }))).toMatchObject({
        _tag: "KinesisThrottled",
        errorName: "LimitExceededException"
      })
      const { ShardIterator } = yield* api.getShardIterator({ StreamName: "t", ShardId: shard0, ShardIteratorType: "LATEST" })
      const expired = yield* Effect.flip(api.getRecords({ ShardIterator }))
      expect(expired).toMatchObject({ _tag: "ExpiredIterator", streamName: "t", shardId: shard0 })
      expect(isInjected(expired)).toBe(true)
      expect((yield* api.getRecords({ ShardIterator })).Records).toEqual([])
    }))

  it.effect("Latency delays the call on the TestClock only, then runs it", () =>
    Effect.gen(function* () {
      const { api, calls, memory } = yield* setup(
        planOf({ operation: "PutRecord", kind: { _tag: "Latency", ms: 3_600_000 }, at: [0] })
      )
      const started = Date.now()
      const fiber = yield* Effect.fork(putOne(api))
      yield* TestClock.adjust("3599999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(yield* storedIn(memory.api)).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber)).SequenceNumber).toBeDefined()
      expect(Date.now() - started).toBeLessThan(1000)
      expect(yield* storedIn(memory.api)).toEqual(["a"])
      expect(yield* calls).toEqual([
        { operation: "PutRecord", at: 0, outcome: "ok", streamName: "t", faults: [{ _tag: "Latency", ms: 3_600_000 }] }
      ])
    }))

  it.effect("Latency adds up with the next faults: a slow call can still be throttled", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* setup(
        planOf(
          { operation: "PutRecord", kind: { _tag: "Latency", ms: 200 } },
          { operation: "PutRecord", kind: { _tag: "Latency", ms: 300 } },
          { operation: "PutRecord", kind: { _tag: "Throttle" }, at: [0] }
        )
      )
      const fiber = yield* Effect.fork(Effect.flip(putOne(api)))
      yield* TestClock.adjust("499 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber))._tag).toBe("KinesisThrottled")
      expect((yield* calls)[0]!.faults?.map((f) => f._tag)).toEqual(["Latency", "Latency", "Throttle"])
    }))

  it.effect("Timeout hangs for afterMs, fails retryably with TimeoutError, and the request never reached the service", () =>
    Effect.gen(function* () {
      const { api, calls, memory } = yield* setup(
        planOf({ operation: "PutRecord", kind: { _tag: "Timeout", afterMs: 3000 }, times: 1 })
      )
      const fiber = yield* Effect.fork(Effect.flip(putOne(api)))
      yield* TestClock.adjust("2999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "KinesisRequestError", errorName: "TimeoutError", retryable: true })
      expect(isInjected(error)).toBe(true)
      expect(yield* storedIn(memory.api)).toEqual([])
      expect((yield* calls)[0]).toMatchObject({ outcome: "injected", at: 0, faults: [{ _tag: "Timeout", afterMs: 3000 }] })
    }))

  it.effect("Timeout with a lost response: the record was written, so the producer's retry writes a duplicate", () =>
    Effect.asVoid(expectWrittenTwice({ _tag: "Timeout", afterMs: 3000, lostResponse: true }, 3000, "ETIMEDOUT")))

  it.effect("Timeout with a lost response gives up at afterMs even when the service never answers", () =>
    Effect.gen(function* () {
      const hanging: KinesisApi = { ...(yield* MemoryKinesis.make()).api, describeStreamSummary: () => Effect.never }
      const { api } = yield* Faults.wrap(hanging, planOf({
        operation: "DescribeStreamSummary",
        kind: { _tag: "Timeout", afterMs: 2000, lostResponse: true }
      })).pipe(Effect.orDie)
      const fiber = yield* Effect.fork(Effect.flip(api.describeStreamSummary({ StreamName: "s" })))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toMatchObject({ errorName: "ETIMEDOUT" })
    }))

  it.effect("FailedPutEntries: the chosen entries come back failed and are not written; the others are, in order", () =>
    Effect.gen(function* () {
      const { api, calls, memory } = yield* setup(
        planOf({ operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: [3, 1, 9] }, times: 1 })
      )
      const out = yield* api.putRecords({ StreamName: "t", Records: entriesOf("r0", "r1", "r2", "r3", "r4") })
      expect(out.FailedRecordCount).toBe(2)
      const results = out.Records ?? []
      expect(results.map((r) => r.ErrorCode ?? "ok")).toEqual([
        "ok",
        "ProvisionedThroughputExceededException",
        "ok",
        "ProvisionedThroughputExceededException",
        "ok"
      ])
      expect(results[1]).not.toHaveProperty("SequenceNumber")
      expect(results[1]!.ErrorMessage).toContain("injected by shardline/testing Faults")
      expect([0, 2, 4].map((i) => results[i]!.SequenceNumber !== undefined)).toEqual([true, true, true])
      expect(yield* storedIn(memory.api)).toEqual(["r0", "r2", "r4"])
      expect(yield* calls).toEqual([{
        operation: "PutRecords",
        at: 0,
        outcome: "ok",
        streamName: "t",
        faults: [{ _tag: "FailedPutEntries", entries: [1, 3] }]
      }])
      // Re-sending the failed entries, as a producer does, appends them after the others.
      yield* api.putRecords({ StreamName: "t", Records: entriesOf("r1", "r3") })
      expect(yield* storedIn(memory.api)).toEqual(["r0", "r2", "r4", "r1", "r3"])
    }))

  it.effect("FailedPutEntries \"one\" fails exactly one entry (chosen by the seed); a rate of 1 fails them all", () =>
    Effect.gen(function* () {
      const { api, calls, memory } = yield* setup(
        planOf(
          { operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: "one", errorCode: "InternalFailure" }, at: [0] },
          { operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: { rate: 1 } }, at: [1] }
        )
      )
      const values = ["r0", "r1", "r2", "r3", "r4"]
      const one = yield* api.putRecords({ StreamName: "t", Records: entriesOf(...values) })
      const failedAt = (one.Records ?? []).flatMap((r, i) => (r.ErrorCode === "InternalFailure" ? [i] : []))
      expect(one.FailedRecordCount).toBe(1)
      expect(failedAt).toHaveLength(1)
      expect(yield* storedIn(memory.api)).toEqual(values.filter((_, i) => i !== failedAt[0]))
      const all = yield* api.putRecords({ StreamName: "t", Records: entriesOf("x", "y") })
      expect(all.FailedRecordCount).toBe(2)
      expect(yield* storedIn(memory.api)).toHaveLength(4)
      expect((yield* calls).map((c) => c.faults)).toEqual([
        [{ _tag: "FailedPutEntries", entries: failedAt, errorCode: "InternalFailure" }],
        [{ _tag: "FailedPutEntries", entries: [0, 1] }]
      ])
    }))
})

describe("Faults from a plan: which calls", () => {
  it.effect("at picks matching calls by index; \"*\" counts every operation", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* setup(planOf({ operation: "*", kind: { _tag: "AccessDenied" }, at: [1, 3] }))
      yield* Effect.either(api.listShards({ StreamName: "s" }))
      yield* Effect.either(api.describeStreamSummary({ StreamName: "s" }))
      yield* Effect.either(api.listShards({ StreamName: "s" }))
      yield* Effect.either(putOne(api))
      expect(outcomes(yield* calls)).toEqual([
        "ListShards:ok",
        "DescribeStreamSummary:injected",
        "ListShards:ok",
        "PutRecord:injected"
      ])
    }))

  it.effect("streamName and shardId narrow the calls a fault sees and counts", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* setup(
        planOf(
          { operation: "GetRecords", kind: { _tag: "Throttle" }, shardId: shard1, times: 2 },
          { operation: "PutRecord", kind: { _tag: "Throttle" }, streamName: "t", at: [1] }
        )
      )
      const iterator = (ShardId: string) =>
        Effect.map(
          api.getShardIterator({ StreamName: "s", ShardId, ShardIteratorType: "TRIM_HORIZON" }),
          (out) => out.ShardIterator
        )
      const [i0, i1] = [yield* iterator(shard0), yield* iterator(shard1)]
      for (const ShardIterator of [i0, i1, i0, i1, i1]) yield* Effect.either(api.getRecords({ ShardIterator }))
      const put = (StreamName: string) =>
        Effect.either(api.putRecord({ StreamName, PartitionKey: "k", Data: encoder.encode("v") }))
      for (const stream of ["s", "t", "s", "t", "t"]) yield* put(stream)
      const log = (yield* calls).filter((c) => c.operation !== "GetShardIterator")
      expect(log.map((c) => `${c.streamName}/${c.shardId ?? "-"}:${c.outcome}`)).toEqual([
        `s/${shard0}:ok`,
        `s/${shard1}:injected`,
        `s/${shard0}:ok`,
        `s/${shard1}:injected`,
        `s/${shard1}:ok`,
        "s/-:ok",
        "t/-:ok",
        "s/-:ok",
        "t/-:injected",
        "t/-:ok"
      ])
    }))

  it.effect("a fault's call indexes count matching calls whatever earlier faults did to them", () =>
    Effect.gen(function* () {
      const { api, calls } = yield* setup(
        planOf(
          { operation: "ListShards", kind: { _tag: "Throttle" }, at: [0] },
          { operation: "ListShards", kind: { _tag: "AccessDenied" }, at: [0, 1] }
        )
      )
      for (let i = 0; i < 3; i++) yield* Effect.either(api.listShards({ StreamName: "s" }))
      expect((yield* calls).map((c) => c.faults?.[0]?._tag ?? c.outcome)).toEqual(["Throttle", "AccessDenied", "ok"])
    }))

  it.effect("plans combine with hand-written rules, which may answer a fault kind", () =>
    Effect.gen(function* () {
      const rules = yield* Faults.fromPlan(planOf({ operation: "PutRecord", kind: { _tag: "Throttle" }, at: [1] }))
      const slowFirst: FaultRule = (call) =>
        call.operation === "PutRecord" && call.index === 0 ? { _tag: "Latency", ms: 250 } : undefined
      const { api, calls } = yield* setup([slowFirst, ...rules, Faults.throttle("ListShards", { times: 1 })])
      const fiber = yield* Effect.fork(Effect.either(putOne(api)))
      yield* TestClock.adjust("250 millis")
      yield* Fiber.join(fiber)
      yield* Effect.either(putOne(api))
      yield* Effect.either(api.listShards({ StreamName: "s" }))
      expect((yield* calls).map((c) => [c.at, c.outcome, c.faults])).toEqual([
        [0, "ok", [{ _tag: "Latency", ms: 250 }]],
        [250, "injected", [{ _tag: "Throttle" }]],
        [250, "injected", [{ _tag: "Throttle" }]]
      ])
    }))

  it.effect("real failures of the service are not marked injected", () =>
    Effect.gen(function* () {
      const { api } = yield* setup(planOf())
      expect(isInjected(yield* Effect.flip(api.listShards({ StreamName: "nope" })))).toBe(false)
    }))
})

describe("Faults from a plan: rates and seeds", () => {
  const ratePlan = (seed: number, rate: number): FaultPlan => ({
    seed,
    faults: [
      { operation: "*", kind: { _tag: "Throttle" }, rate },
      { operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: { rate } } }
    ]
  })
  /** 200 calls alternating DescribeStreamSummary and a 3-entry PutRecords; each call's outcome and faults. */
  const pattern = (plan: FaultPlan) =>
    Effect.gen(function* () {
      const { api, calls } = yield* setup(plan)
      for (let i = 0; i < 100; i++) {
        yield* Effect.either(api.describeStreamSummary({ StreamName: "s" }))
        yield* Effect.either(api.putRecords({ StreamName: "t", Records: entriesOf("a", "b", "c") }))
      }
      return (yield* calls).map((c) => `${c.operation}:${c.outcome}:${JSON.stringify(c.faults ?? [])}`)
    })

  it.effect("the same seed injects the same faults into the same calls; another seed does not", () =>
    Effect.gen(function* () {
      const first = yield* pattern(ratePlan(7, 0.5))
      expect(yield* pattern(ratePlan(7, 0.5))).toEqual(first)
      expect(yield* pattern(ratePlan(8, 0.5))).not.toEqual(first)
      expect(first.filter((c) => c.includes(":injected:")).length).toBeGreaterThan(50)
      expect(first.filter((c) => c.includes("FailedPutEntries")).length).toBeGreaterThan(10)
    }))

  it.effect("rate 0 never hits, rate 1 always does", () =>
    Effect.gen(function* () {
      expect((yield* pattern(ratePlan(3, 0))).every((c) => c.endsWith(":ok:[]"))).toBe(true)
      expect((yield* pattern(ratePlan(3, 1))).every((c) => c.includes(":injected:"))).toBe(true)
    }))

  it.effect("a rate r over 2000 calls hits within 5 standard deviations of 2000 r, for several seeds", () =>
    Effect.gen(function* () {
      const cases = [[1, 0.3], [2, 0.3], [3, 0.3], [4, 0.05], [0xffff_ffff, 0.7], [Date.UTC(2024, 0), 0.5]] as const
      for (const [seed, rate] of cases) {
        const { api, calls } = yield* setup({
          seed,
          faults: [{ operation: "DescribeStreamSummary", kind: { _tag: "Throttle" }, rate }]
        })
        for (let i = 0; i < 2000; i++) yield* Effect.either(api.describeStreamSummary({ StreamName: "s" }))
        const hits = injectedCount(yield* calls)
        const sd = Math.sqrt(2000 * rate * (1 - rate))
        expect(Math.abs(hits - 2000 * rate), `seed ${seed}, rate ${rate}: ${hits} hits`).toBeLessThanOrEqual(5 * sd)
      }
    }))
})

describe("Faults from a plan: checking", () => {
  const throttle = { _tag: "Throttle" } as const
  const badPlans: ReadonlyArray<readonly [string, unknown]> = [
    ["seed", { seed: 1.5, faults: [] }],
    ["faults", { seed: 1, faults: "none" }],
    ["faults[0].rate", planOf({ operation: "GetRecords", kind: throttle, rate: 1.5 })],
    ["faults[0].rate", planOf({ operation: "GetRecords", kind: throttle, rate: -0.1 })],
    ["faults[0].rate", planOf({ operation: "GetRecords", kind: throttle, rate: Number.NaN })],
    ["faults[0].times", planOf({ operation: "GetRecords", kind: throttle, times: -1 })],
    ["faults[0].times", planOf({ operation: "GetRecords", kind: throttle, times: 1.5 })],
    ["faults[0].at[1]", planOf({ operation: "GetRecords", kind: throttle, at: [0, -2] })],
    ["faults[1].operation", planOf({ operation: "GetRecords", kind: throttle }, { operation: "GetItem" as "*", kind: throttle })],
    ["faults[0].kind._tag", planOf({ operation: "GetRecords", kind: { _tag: "Explode" } as unknown as FaultKind })],
    ["faults[0].operation", planOf({ operation: "PutRecords", kind: { _tag: "ExpiredIterator" } })],
    ["faults[0].operation", planOf({ operation: "*", kind: { _tag: "FailedPutEntries", entries: "one" } })],
    ["faults[0].kind.entries.rate", planOf({ operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: { rate: 2 } } })],
    ["faults[0].kind.entries[0]", planOf({ operation: "PutRecords", kind: { _tag: "FailedPutEntries", entries: [-1] } })],
    ["faults[0].kind.ms", planOf({ operation: "GetRecords", kind: { _tag: "Latency", ms: -5 } })],
    ["faults[0].kind.afterMs", planOf({ operation: "GetRecords", kind: { _tag: "Timeout", afterMs: Infinity } })],
    ["faults[0].streamName", planOf({ operation: "GetRecords", kind: throttle, streamName: "" })]
  ]
  for (const [field, plan] of badPlans) {
    it.effect(`rejects a bad ${field}, naming it`, () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(checkFaultPlan(plan as FaultPlan))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.option).toBe(field)
        expect(error.message).toContain(`Invalid option ${field}:`)
      }))
  }

  it.effect("a bad plan fails the layer with InvalidOption before any call", () =>
    Effect.gen(function* () {
      const layer = Faults.layer(planOf({ operation: "GetRecords", kind: throttle, rate: 2 })).pipe(
        Layer.provide(MemoryKinesis.layer())
      )
      const error = yield* Effect.flip(Effect.provide(Kinesis, layer))
      expect(error).toMatchObject({
        _tag: "InvalidOption",
        option: "faults[0].rate",
        given: "2",
        expected: "a number from 0 to 1"
      })
    }))

  it.effect("scenarios check their crashes too", () =>
    Effect.gen(function* () {
      const good: ScenarioPlan = { seed: 1, faults: [], crashes: [{ _tag: "Crash", afterBatch: 0, checkpointed: false }] }
      expect(yield* checkScenarioPlan(good)).toBe(good)
      const bad = { ...good, crashes: [{ _tag: "Crash", afterBatch: 2 }, { _tag: "Crash", afterBatch: -1 }] }
      expect((yield* Effect.flip(checkScenarioPlan(bad as ScenarioPlan))).option).toBe("crashes[1].afterBatch")
      expect((yield* Effect.flip(checkScenarioPlan({ seed: 1, faults: [] } as unknown as ScenarioPlan))).option).toBe("crashes")
    }))
})

describe("arbitraryFaultPlan", () => {
  const allOperations = ["*", "GetRecords", "GetShardIterator", "ListShards", "PutRecord", "PutRecords"] as const
  const allKinds = faultKindTags

  it("generates plans that pass the check and survive JSON", () =>
    fc.assert(
      fc.property(arbitraryScenarioPlan({ operations: allOperations, kinds: allKinds, maxFaults: 8 }), (plan) => {
        expect(Either.isRight(Effect.runSync(Effect.either(checkScenarioPlan(plan))))).toBe(true)
        expect(JSON.parse(JSON.stringify(plan))).toEqual(plan)
      }),
      { numRuns: 300 }
    ))

  it("is reproducible from fast-check's seed", () => {
    const arbitrary = arbitraryFaultPlan({ operations: allOperations, kinds: allKinds })
    const first = fc.sample(arbitrary, { seed: 42, numRuns: 30 })
    expect(fc.sample(arbitrary, { seed: 42, numRuns: 30 })).toEqual(first)
    expect(fc.sample(arbitrary, { seed: 43, numRuns: 30 })).not.toEqual(first)
  })

  it("shrinks to one fault with the least rate that still fails", () => {
    const arbitrary = arbitraryFaultPlan({ kinds: ["Throttle", "Latency"], maxFaults: 6 })
    const noThrottle = fc.check(
      fc.property(arbitrary, (plan) => plan.faults.every((f) => f.kind._tag !== "Throttle")),
      { seed: 1 }
    )
    expect(noThrottle.failed).toBe(true)
    const [throttled] = noThrottle.counterexample!
    expect(throttled.faults).toHaveLength(1)
    expect(throttled.faults[0]!.kind).toEqual({ _tag: "Throttle" })
    expect(throttled.seed).toBe(0)

    const lowRates = fc.check(
      fc.property(arbitrary, (plan) => plan.faults.every((f) => (f.rate ?? 0) < 0.3)),
      { seed: 2 }
    )
    expect(lowRates.failed).toBe(true)
    const [high] = lowRates.counterexample!
    expect(high.faults).toHaveLength(1)
    expect(high.faults[0]!.rate).toBe(0.3)
  })

  it("refuses options no fault can satisfy", () => {
    expect(() => arbitraryFaultPlan({ operations: ["PutRecord"], kinds: ["ExpiredIterator", "FailedPutEntries"] })).toThrow(
      InvalidOption
    )
    expect(() => arbitraryFaultPlan({ maxRate: 2 })).toThrow("Invalid option maxRate")
  })
})

describe("readShard under fault plans", () => {
  const values = Array.from({ length: 40 }, (_, i) => `r${i}`)
  const forever = backoff({ base: "100 millis", cap: "2 seconds", maxRetries: Infinity, jitter: false })

  /** Puts `values` into a one-shard stream, closes the shard, and reads it to its end through `plan`, on a TestClock. */
  const readAllThrough = (plan: FaultPlan) =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      yield* Effect.orDie(memory.api.putRecords({ StreamName: "s", Records: entriesOf(...values) }))
      // A closed shard: the reader ends after its last record.
      yield* Effect.orDie(memory.splitShard("s", shard0))
      const { api, calls } = yield* Effect.orDie(Faults.wrap(memory.api, plan))
      const settings = yield* Effect.orDie(resolveReaderOptions({ limit: 7, retry: forever }))
      const fiber = yield* readShard({ streamName: "s", shardId: shard0, position: ShardPosition.trimHorizon }, settings).pipe(
        Stream.runCollect,
        Effect.provideService(Kinesis, api),
        Effect.fork
      )
      for (let i = 0; i < 1000 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust("10 seconds")
      if (Option.isNone(yield* Fiber.poll(fiber))) return yield* Effect.dieMessage("the reader did not finish in 10,000 s")
      const chunks = yield* Effect.orDie(Fiber.join(fiber))
      const read = Chunk.toReadonlyArray(chunks).flatMap((c) => c.records.map((r) => decoder.decode(r.data)))
      return { read, calls: yield* calls }
    }).pipe(Effect.provide(TestContext.TestContext))

  it.effect("three injected throttles, and every record is still delivered once", () =>
    Effect.gen(function* () {
      const { calls, read } = yield* readAllThrough(
        planOf({ operation: "GetRecords", kind: { _tag: "Throttle" }, at: [0, 2, 4] })
      )
      expect(calls.filter((c) => c.faults?.some((f) => f._tag === "Throttle")).length).toBe(3)
      expect(read).toEqual(values)
    }))

  it("delivers every record exactly once, in order, under any plan of read faults", async () => {
    let faulted = 0
    await fc.assert(
      fc.asyncProperty(
        arbitraryFaultPlan({
          operations: ["GetRecords", "GetShardIterator"],
          kinds: ["Throttle", "Latency", "ExpiredIterator", "Timeout"]
        }),
        async (plan) => {
          const { calls, read } = await Effect.runPromise(readAllThrough(plan))
          expect(read).toEqual(values)
          faulted += calls.filter((c) => c.faults !== undefined).length
        }
      ),
      { numRuns: 60 }
    )
    expect(faulted).toBeGreaterThan(100)
  })
})
