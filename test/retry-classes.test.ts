import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Layer, Schedule, Stream, TestClock } from "effect"
import {
  type KinesisRecord,
  listShards,
  readShard,
  resolveReaderOptions,
  type ShardChunk,
  ShardPosition,
  type ShardReaderOptions
} from "../src/consumer/index.js"
import { DeadLetterError, type DeadLetterRecord, replay } from "../src/deadletter/index.js"
import { encodeDeadLetter } from "../src/deadletter/jsonl.js"
import {
  ExpiredIterator,
  Kinesis,
  type KinesisApi,
  type KinesisError,
  KinesisRequestError,
  KinesisResourceNotFound
} from "../src/kinesis/index.js"
import {
  backoff,
  type ErrorClass,
  errorClassOf,
  isRetryable,
  retryKinesis,
  type RetryOption,
  RetryPolicy,
  scheduleFor
} from "../src/retry/index.js"
import { type FaultPlan, type FaultRule, Faults, KinesisCalls, MemoryKinesis, type RecordedCall } from "../src/testing/index.js"
import { expired, requestError, throttled } from "./support/kinesisErrors.js"

const transient = requestError(true)
const notFound = new KinesisResourceNotFound({ operation: "GetRecords", streamName: "s", cause: "test" })
/** A tag KinesisError does not have (yet): stands for the fatal tags being added to the union. */
const futureFatal = Object.assign(new Error("denied"), { _tag: "KinesisAccessDenied", cause: "test" }) as unknown as KinesisError

/** At most `n` retries, each after `ms` (no jitter, so times are exact). */
const retries = (n: number, ms = 10) => backoff({ base: ms, factor: 1, cap: ms, maxRetries: n, jitter: false })

/**
 * A call that fails with `script[i]` on its i-th attempt and succeeds once the script runs out.
 * Answers the call and the virtual time each attempt started at.
 */
const scripted = (script: ReadonlyArray<KinesisError>, attemptFor: (ms: number) => Effect.Effect<void> = () => Effect.void) => {
  const times: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const i = times.push(now) - 1
    const error = script[i]
    return Effect.zipRight(attemptFor(now), error === undefined ? Effect.succeed("ok" as const) : Effect.fail(error))
  })
  return { call, times }
}

/** Runs `call` retried with `option` in the background, lets `within` of virtual time pass, answers how it ended. */
const runRetried = (
  call: Effect.Effect<"ok", KinesisError>,
  option: RetryOption,
  within: Duration.DurationInput = "1 hour",
  spacing?: Duration.DurationInput
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(call.pipe(retryKinesis(option, spacing === undefined ? {} : { spacing })))
    yield* TestClock.adjust(within)
    const exit = fiber.unsafePoll()
    expect(exit).not.toBeNull()
    return exit!
  })

describe("errorClassOf", () => {
  it("classifies throttles, transient faults and expired iterators; everything else is fatal", () => {
    expect(errorClassOf(throttled)).toBe("throttled")
    expect(errorClassOf(transient)).toBe("transient")
    expect(errorClassOf(expired)).toBe("expiredIterator")
    expect(errorClassOf(requestError(false))).toBeUndefined()
    expect(errorClassOf(notFound)).toBeUndefined()
    expect(errorClassOf(futureFatal)).toBeUndefined()
  })

  it("isRetryable still means throttled or transient", () => {
    for (const error of [throttled, transient, expired, requestError(false), notFound, futureFatal]) {
      const cls = errorClassOf(error)
      expect(isRetryable(error)).toBe(cls === "throttled" || cls === "transient")
    }
  })
})

describe("RetryPolicy.byClass and scheduleFor", () => {
  const classes: ReadonlyArray<ErrorClass> = ["throttled", "transient", "expiredIterator"]

  it("a single schedule is every class's; an unset class gets RetryPolicy.default", () => {
    for (const cls of classes) expect(scheduleFor(RetryPolicy.patient, cls)).toBe(RetryPolicy.patient)
    const policies = RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.none })
    expect(Schedule.isSchedule(policies)).toBe(false)
    expect(scheduleFor(policies, "throttled")).toBe(RetryPolicy.patient)
    expect(scheduleFor(policies, "transient")).toBe(RetryPolicy.none)
    expect(scheduleFor(policies, "expiredIterator")).toBe(RetryPolicy.default)
    for (const cls of classes) expect(scheduleFor(RetryPolicy.byClass({}), cls)).toBe(RetryPolicy.default)
  })
})

describe("retryKinesis", () => {
  it.effect("a fatal error is tried exactly once, even under a policy that retries forever", () =>
    Effect.gen(function* () {
      for (const fatal of [requestError(false), notFound, futureFatal]) {
        for (const option of [RetryPolicy.patient, RetryPolicy.byClass({ throttled: RetryPolicy.patient })]) {
          const { call, times } = scripted([fatal, fatal, fatal])
          const exit = yield* runRetried(call, option, "0 millis")
          expect(exit).toEqual(Exit.fail(fatal))
          expect(times).toEqual([0])
        }
      }
    }))

  it.effect("each class counts its own retries: 2 throttles + 2 transient faults interleaved pass, a 3rd throttle fails", () =>
    Effect.gen(function* () {
      const option = RetryPolicy.byClass({ throttled: retries(2), transient: retries(2) })
      const passes = scripted([throttled, transient, throttled, transient])
      expect(yield* runRetried(passes.call, option)).toEqual(Exit.succeed("ok"))
      expect(passes.times).toHaveLength(5)

      const fails = scripted([throttled, transient, throttled, transient, throttled])
      expect(yield* runRetried(fails.call, option)).toEqual(Exit.fail(throttled))
      expect(fails.times).toHaveLength(5)

      // A 3rd transient fault fails the same way, after the throttles' count is spent.
      const third = scripted([transient, throttled, transient, throttled, transient])
      expect(yield* runRetried(third.call, option)).toEqual(Exit.fail(transient))
    }))

  it.effect("a single schedule applies to each class separately", () =>
    Effect.gen(function* () {
      const option = retries(2)
      const passes = scripted([throttled, transient, expired, throttled, transient, expired])
      expect(yield* runRetried(passes.call, option)).toEqual(Exit.succeed("ok"))
      expect(passes.times).toHaveLength(7)
      const fails = scripted([expired, throttled, expired, expired])
      expect(yield* runRetried(fails.call, option)).toEqual(Exit.fail(expired))
      expect(fails.times).toHaveLength(4)
    }))

  it.effect("a class with RetryPolicy.none fails at its first error while the others retry", () =>
    Effect.gen(function* () {
      const option = RetryPolicy.byClass({ throttled: retries(100), transient: RetryPolicy.none })
      const { call, times } = scripted([...Array.from({ length: 30 }, () => throttled), transient])
      expect(yield* runRetried(call, option)).toEqual(Exit.fail(transient))
      expect(times).toHaveLength(31)
    }))

  it.effect("counts start afresh on each run of the retried effect", () =>
    Effect.gen(function* () {
      let attempts = 0
      const twoThrottlesPerRun = Effect.suspend(() => (attempts++ % 3 < 2 ? Effect.fail(throttled) : Effect.succeed("ok" as const)))
      const retried = twoThrottlesPerRun.pipe(retryKinesis(RetryPolicy.byClass({ throttled: retries(2) })))
      const fiber = yield* Effect.fork(Effect.zip(retried, retried))
      yield* TestClock.adjust("1 second")
      expect(fiber.unsafePoll()).toEqual(Exit.succeed(["ok", "ok"]))
      expect(attempts).toBe(6)
    }))

  it.effect("the delays are each class's own schedule, growing per class", () =>
    Effect.gen(function* () {
      const option = RetryPolicy.byClass({
        throttled: backoff({ base: 100, cap: "10 seconds", maxRetries: 10, jitter: false }),
        transient: backoff({ base: 1000, factor: 3, cap: "10 seconds", maxRetries: 10, jitter: false })
      })
      const { call, times } = scripted([throttled, throttled, transient, throttled, transient])
      const fiber = yield* Effect.fork(call.pipe(retryKinesis(option)))
      // Throttles wait 100, 200, 400; transient faults 1000, 3000: the other class's count never moves them.
      const expected = [0, 100, 300, 1300, 1700, 4700]
      for (let i = 1; i < expected.length; i++) {
        yield* TestClock.adjust(expected[i]! - expected[i - 1]! - 1)
        expect(times).toHaveLength(i)
        yield* TestClock.adjust(1)
        expect(times).toHaveLength(i + 1)
      }
      expect(times).toEqual(expected)
      expect(yield* Fiber.join(fiber)).toBe("ok")
    }))

  it.effect("when a class's schedule is done the call fails with the last error, at once", () =>
    Effect.gen(function* () {
      const option = RetryPolicy.byClass({ throttled: retries(1, 500) })
      const { call, times } = scripted([throttled, throttled, throttled])
      const fiber = yield* Effect.fork(call.pipe(retryKinesis(option)))
      yield* TestClock.adjust(500)
      expect(times).toEqual([0, 500])
      expect(fiber.unsafePoll()).toEqual(Exit.fail(throttled))
    }))

  it.effect("spacing: no retry starts sooner than spacing after the attempt failed", () =>
    Effect.gen(function* () {
      // Schedule delays of 10 ms are raised to 200 ms.
      const quick = scripted([throttled, transient, throttled])
      expect(yield* runRetried(quick.call, retries(5, 10), "1 hour", "200 millis")).toEqual(Exit.succeed("ok"))
      expect(quick.times).toEqual([0, 200, 400, 600])
      // Without spacing, the same schedule retries after 10 ms.
      const unspaced = scripted([throttled, transient, throttled])
      expect(yield* runRetried(unspaced.call, retries(5, 10))).toEqual(Exit.succeed("ok"))
      expect(unspaced.times.map((t) => t - unspaced.times[0]!)).toEqual([0, 10, 20, 30])
      // Spacing counts from the failure: a call that took 150 ms to fail is retried 200 ms after that.
      const slow = scripted([throttled, throttled], () => Effect.sleep("150 millis"))
      expect(yield* runRetried(slow.call, retries(5, 10), "1 hour", "200 millis")).toEqual(Exit.succeed("ok"))
      const slowStart = slow.times[0]!
      expect(slow.times.map((t) => t - slowStart)).toEqual([0, 350, 700])
      // A schedule delay longer than the spacing wins.
      const patient = scripted([throttled], () => Effect.sleep("150 millis"))
      expect(yield* runRetried(patient.call, retries(5, 300), "1 hour", "200 millis")).toEqual(Exit.succeed("ok"))
      expect(patient.times.map((t) => t - patient.times[0]!)).toEqual([0, 450])
      // Spacing never delays a failure.
      const fatal = scripted([throttled, notFound])
      const fiber = yield* Effect.fork(fatal.call.pipe(retryKinesis(retries(5, 10), { spacing: "1 second" })))
      yield* TestClock.adjust("1 second")
      expect(fiber.unsafePoll()).toEqual(Exit.fail(notFound))
      expect(fatal.times.map((t) => t - fatal.times[0]!)).toEqual([0, 1000])
    }))
})

// --- Through the shard reader, over MemoryKinesis with injected faults ---

const streamName = "s"
const shard0 = "shardId-000000000000"
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const textOf = (record: KinesisRecord) => decoder.decode(record.data)
const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

const memory = MemoryKinesis.layer({ streams: [{ name: streamName, shardCount: 1 }] })
const rulesLayer = (rules: ReadonlyArray<FaultRule>) => Faults.layer(rules).pipe(Layer.provideMerge(memory))
const planLayer = (plan: FaultPlan) => Faults.layer(plan).pipe(Layer.provideMerge(memory))

const writeTo = (api: KinesisApi, values: ReadonlyArray<string>) =>
  api.putRecords({ StreamName: streamName, Records: values.map((v) => ({ PartitionKey: v, Data: encoder.encode(v) })) }).pipe(
    Effect.orDie
  )
const write = (values: ReadonlyArray<string>) => Effect.flatMap(MemoryKinesis, ({ api }) => writeTo(api, values))
const callsOf = (operation: RecordedCall["operation"]) =>
  Effect.flatMap(KinesisCalls, ({ calls }) => Effect.map(calls, (log) => log.filter((c) => c.operation === operation)))

const startReader = (options: ShardReaderOptions) =>
  Effect.gen(function* () {
    const settings = yield* Effect.orDie(resolveReaderOptions(options))
    const chunks: Array<ShardChunk> = []
    const fiber = yield* readShard({ streamName, shardId: shard0, position: ShardPosition.trimHorizon }, settings).pipe(
      Stream.runForEach((chunk) => Effect.sync(() => chunks.push(chunk))),
      Effect.fork
    )
    return { fiber, values: () => chunks.flatMap((c) => c.records.map(textOf)) }
  })

/** How a fiber ended; fails the test at once (rather than waiting for ever) if it is still running. */
const ended = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): Exit.Exit<A, E> => {
  const exit = fiber.unsafePoll()
  expect(exit, "the reader should have stopped by now").not.toBeNull()
  return exit!
}

const throttles = (times: number) => ({ operation: "GetRecords", kind: { _tag: "Throttle" }, times }) as const
const internalFailureAt = (index: number) => ({ operation: "GetRecords", kind: { _tag: "InternalFailure" }, at: [index] }) as const

describe("readShard with a policy per error class", () => {
  const stormThenFault: FaultPlan = { seed: 1, faults: [throttles(30), internalFailureAt(40)] }

  it.effect("byClass({ throttled: patient, transient: none }) rides out 30 throttles, then fails at the first InternalFailure", () =>
    Effect.gen(function* () {
      yield* write(names("r", 50))
      const reader = yield* startReader({
        limit: 10,
        retry: RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.none })
      })
      yield* TestClock.adjust("16 minutes")
      expect(reader.values()).toEqual(names("r", 50))
      const error = yield* Effect.flip(ended(reader.fiber))
      expect(error).toBeInstanceOf(KinesisRequestError)
      expect(error).toMatchObject({ operation: "GetRecords", retryable: true, streamName, shardId: shard0 })
      const calls = yield* callsOf("GetRecords")
      expect(calls.filter((c) => c.error?._tag === "KinesisThrottled")).toHaveLength(30)
      // The InternalFailure was the last call: not retried.
      expect(calls.at(-1)!.error?._tag).toBe("KinesisRequestError")
      expect(calls.filter((c) => c.error?._tag === "KinesisRequestError")).toHaveLength(1)
    }).pipe(Effect.provide(planLayer(stormThenFault))))

  it.effect("the same faults under RetryPolicy.patient for every class: the reader keeps going", () =>
    Effect.gen(function* () {
      yield* write(names("r", 50))
      const reader = yield* startReader({ limit: 10, retry: RetryPolicy.patient })
      // The storm lasts about 12 minutes (patient: 200 ms doubling, capped at 30 s), call 40 comes soon after.
      yield* TestClock.adjust("16 minutes")
      expect(reader.values()).toEqual(names("r", 50))
      expect(reader.fiber.unsafePoll()).toBeNull()
      const calls = yield* callsOf("GetRecords")
      expect(calls.filter((c) => c.error?._tag === "KinesisRequestError")).toHaveLength(1)
      yield* Fiber.interrupt(reader.fiber)
    }).pipe(Effect.provide(planLayer(stormThenFault))))

  it.effect("transient: none fails the reader at the first InternalFailure (index 3), after 3 good calls", () =>
    Effect.gen(function* () {
      yield* write(names("r", 50))
      const reader = yield* startReader({
        limit: 10,
        retry: RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.none })
      })
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(ended(reader.fiber))
      expect(error).toMatchObject({ _tag: "KinesisRequestError", errorName: "InternalFailureException" })
      expect(reader.values()).toEqual(names("r", 30))
      expect((yield* callsOf("GetRecords")).map((c) => c.outcome)).toEqual(["ok", "ok", "ok", "injected"])
    }).pipe(Effect.provide(planLayer({ seed: 1, faults: [internalFailureAt(3)] }))))

  it.effect("the throttled schedule is not spent by transient faults, nor the reverse", () =>
    Effect.gen(function* () {
      yield* write(names("r", 20))
      const reader = yield* startReader({ limit: 10, retry: retries(2, 50) })
      yield* TestClock.adjust("1 minute")
      expect(reader.values()).toEqual(names("r", 20))
      expect(reader.fiber.unsafePoll()).toBeNull()
      const outcomes = (yield* callsOf("GetRecords")).map((c) => c.error?._tag ?? c.outcome)
      expect(outcomes.slice(0, 5)).toEqual(["KinesisThrottled", "KinesisRequestError", "KinesisThrottled", "KinesisRequestError", "ok"])
      yield* Fiber.interrupt(reader.fiber)
    }).pipe(
      Effect.provide(
        planLayer({
          seed: 1,
          faults: [
            { operation: "GetRecords", kind: { _tag: "Throttle" }, at: [0, 2] },
            { operation: "GetRecords", kind: { _tag: "ServiceUnavailable" }, at: [1, 3] }
          ]
        })
      )
    ))

  describe("expired iterators", () => {
    it.effect("one expiry is renewed and retried at once even with expiredIterator: none", () =>
      Effect.gen(function* () {
        yield* write(names("r", 20))
        const reader = yield* startReader({ limit: 10, retry: RetryPolicy.byClass({ expiredIterator: RetryPolicy.none }) })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 20))
        expect(reader.fiber.unsafePoll()).toBeNull()
        yield* Fiber.interrupt(reader.fiber)
      }).pipe(Effect.provide(rulesLayer([Faults.expireIterator({ times: 1 })]))))

    it.effect("a second expiry in a row steps the expiredIterator schedule: none fails", () =>
      Effect.gen(function* () {
        yield* write(names("r", 20))
        const reader = yield* startReader({ limit: 10, retry: RetryPolicy.byClass({ expiredIterator: RetryPolicy.none }) })
        yield* TestClock.adjust("10 seconds")
        const error = yield* Effect.flip(ended(reader.fiber))
        expect(error).toBeInstanceOf(ExpiredIterator)
        expect(yield* callsOf("GetRecords")).toHaveLength(2)
        // The first iterator and one renewal per expiry.
        expect(yield* callsOf("GetShardIterator")).toHaveLength(3)
      }).pipe(Effect.provide(rulesLayer([Faults.expireIterator({ times: 2 })]))))

    it.effect("further expiries wait the expiredIterator schedule's delays, with a fresh iterator each time", () =>
      Effect.gen(function* () {
        yield* write(names("r", 20))
        const reader = yield* startReader({
          limit: 10,
          retry: RetryPolicy.byClass({ expiredIterator: retries(2, 1000), throttled: RetryPolicy.none })
        })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 20))
        const calls = yield* callsOf("GetRecords")
        // Expiry at 0, the quick retry 200 ms later, then the schedule's 1 s twice.
        expect(calls.slice(0, 4).map((c) => c.at)).toEqual([0, 200, 1200, 2200])
        expect(calls.slice(0, 4).map((c) => c.error?._tag ?? c.outcome)).toEqual([
          "ExpiredIterator",
          "ExpiredIterator",
          "ExpiredIterator",
          "ok"
        ])
        expect(yield* callsOf("GetShardIterator")).toHaveLength(4)
        yield* Fiber.interrupt(reader.fiber)
      }).pipe(Effect.provide(rulesLayer([Faults.expireIterator({ times: 3 })]))))

    it.effect("a retry after the quick retry still keeps 200 ms from the failed call, however short the schedule's delay", () =>
      Effect.gen(function* () {
        yield* write(names("r", 20))
        const reader = yield* startReader({ limit: 10, retry: RetryPolicy.byClass({ expiredIterator: retries(5, 10) }) })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 20))
        const calls = yield* callsOf("GetRecords")
        expect(calls.slice(0, 4).map((c) => c.at)).toEqual([0, 200, 400, 600])
        yield* Fiber.interrupt(reader.fiber)
      }).pipe(Effect.provide(rulesLayer([Faults.expireIterator({ times: 3 })]))))
  })

  it.effect("resolveReaderOptions rejects a misspelt error class or a value that is not a schedule", () =>
    Effect.gen(function* () {
      const typo = yield* Effect.flip(resolveReaderOptions({ retry: { throttle: RetryPolicy.patient } as never }))
      expect(typo).toMatchObject({ _tag: "InvalidOption", option: "retry.throttle" })
      const notSchedule = yield* Effect.flip(resolveReaderOptions({ retry: { throttled: 5 } as never }))
      expect(notSchedule).toMatchObject({ _tag: "InvalidOption", option: "retry.throttled" })
      const ok = yield* resolveReaderOptions({ retry: RetryPolicy.byClass({ transient: RetryPolicy.none }) })
      expect(scheduleFor(ok.retry, "transient")).toBe(RetryPolicy.none)
      expect((yield* resolveReaderOptions({})).retry).toBe(RetryPolicy.default)
    }))
})

describe("listShards with a policy per error class", () => {
  it.effect("throttles use the throttled schedule; a transient fault under transient: none fails at once", () =>
    Effect.gen(function* () {
      const ok = yield* listShards(streamName, RetryPolicy.byClass({ throttled: Schedule.recurs(3), transient: RetryPolicy.none }))
      expect(ok.map((s) => s.shardId)).toEqual([shard0])
      const error = yield* Effect.flip(
        listShards(streamName, RetryPolicy.byClass({ throttled: Schedule.recurs(3), transient: RetryPolicy.none }))
      )
      expect(error).toBeInstanceOf(KinesisRequestError)
      const calls = yield* callsOf("ListShards")
      expect(calls.map((c) => c.error?._tag ?? c.outcome)).toEqual([
        "KinesisThrottled",
        "KinesisThrottled",
        "KinesisThrottled",
        "ok",
        "KinesisRequestError"
      ])
    }).pipe(
      Effect.provide(
        rulesLayer([
          Faults.throttle("ListShards", { times: 3 }),
          (call) =>
            call.operation === "ListShards" && call.index === 4
              ? new KinesisRequestError({ operation: "ListShards", streamName, errorName: "InternalFailure", retryable: true, cause: "test" })
              : undefined
        ])
      )
    ))
})

/**
 * Runs `effect` to its end on the TestClock. Replay reads its file with real I/O, so the clock is
 * moved on in steps, letting pending I/O callbacks run in between (no real sleep).
 */
const driven = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 100 && fiber.unsafePoll() === null; i++) {
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust("1 minute")
    }
    return ended(fiber)
  })

describe("replay with a policy per error class", () => {
  const dir = mkdtempSync(join(tmpdir(), "shardline-retry-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  let files = 0
  const fileOf = (count: number) => {
    const path = join(dir, `dead-letters-${++files}.jsonl`)
    const letters: Array<DeadLetterRecord> = Array.from({ length: count }, (_, i) => ({
      streamName,
      shardId: shard0,
      sequenceNumber: String(1000 + i),
      subSequenceNumber: 0,
      partitionKey: `k${i}`,
      approximateArrivalTimestamp: undefined,
      data: encoder.encode(`payload-${i}`),
      reason: { kind: "sink", message: "test", attempts: 1 },
      failedAt: new Date(0)
    }))
    writeFileSync(path, letters.map((l) => `${encodeDeadLetter(l)}\n`).join(""))
    return path
  }
  const refuseFirstCall: FaultRule = (call) =>
    call.operation === "PutRecords" && call.index === 0 ? { _tag: "FailedPutEntries", entries: [1] } : undefined
  const failFirstCall = Faults.failWith("PutRecords", (call) => new KinesisRequestError({
    operation: "PutRecords",
    streamName: call.streamName,
    errorName: "InternalFailure",
    retryable: true,
    cause: "test"
  }), { times: 1 })

  it.effect("refused entries are retried with the throttled class's schedule", () =>
    Effect.gen(function* () {
      const memoryApi = (yield* MemoryKinesis).api
      const refusing = yield* Faults.wrap(memoryApi, [refuseFirstCall])
      const path = fileOf(5)
      const refused = yield* driven(
        replay({ path, streamName, retry: RetryPolicy.byClass({ throttled: RetryPolicy.none, transient: Schedule.recurs(5) }) }).pipe(
          Effect.provideService(Kinesis, refusing.api)
        )
      )
      expect(Exit.isFailure(refused)).toBe(true)
      expect(yield* Effect.flip(refused)).toBeInstanceOf(DeadLetterError)
      // The wrapper counts calls across runs: its first call is spent, so refuse again with a fresh one.
      const again = yield* Faults.wrap(memoryApi, [refuseFirstCall])
      const ok = yield* driven(
        replay({ path, streamName, retry: RetryPolicy.byClass({ throttled: Schedule.recurs(1), transient: RetryPolicy.none }) }).pipe(
          Effect.provideService(Kinesis, again.api)
        )
      )
      expect(ok).toEqual(Exit.succeed({ replayed: 5 }))
    }).pipe(Effect.provide(memory)))

  it.effect("a failed PutRecords call is retried by its class", () =>
    Effect.gen(function* () {
      const memoryApi = (yield* MemoryKinesis).api
      const path = fileOf(3)
      const failing = yield* Faults.wrap(memoryApi, [failFirstCall])
      const failed = yield* driven(
        replay({ path, streamName, retry: RetryPolicy.byClass({ transient: RetryPolicy.none }) }).pipe(
          Effect.provideService(Kinesis, failing.api)
        )
      )
      expect(Exit.isFailure(failed)).toBe(true)
      expect(yield* Effect.flip(failed)).toBeInstanceOf(KinesisRequestError)
      const again = yield* Faults.wrap(memoryApi, [failFirstCall])
      const ok = yield* driven(
        replay({ path, streamName, retry: RetryPolicy.byClass({ transient: Schedule.recurs(1), throttled: RetryPolicy.none }) }).pipe(
          Effect.provideService(Kinesis, again.api)
        )
      )
      expect(ok).toEqual(Exit.succeed({ replayed: 3 }))
    }).pipe(Effect.provide(memory)))
})
