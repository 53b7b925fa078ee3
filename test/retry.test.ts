import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Schedule, ScheduleDecision, ScheduleIntervals, TestClock } from "effect"
import {
  ExpiredIterator,
  type KinesisError,
  KinesisResourceNotFound
} from "../src/kinesis/index.js"
import { backoff, isRetryable, retryKinesis, RetryPolicy, type RetrySchedule } from "../src/retry/index.js"
import { requestError, throttled } from "./support/kinesisErrors.js"

/**
 * Steps a schedule by hand for at most `steps` inputs: the delay it asks for before each retry,
 * and whether it gave up. Every step is taken at time 0 (these schedules keep their count in their
 * state, not in the clock), so each delay is read exactly, without float drift from adding them up.
 */
const stepDelays = (schedule: RetrySchedule, steps: number) =>
  Effect.gen(function* () {
    const delays: Array<number> = []
    let state: unknown = schedule.initial
    for (let i = 0; i < steps; i++) {
      const [next, , decision] = yield* schedule.step(0, throttled, state)
      if (ScheduleDecision.isDone(decision)) return { delays, done: true }
      delays.push(ScheduleIntervals.start(decision.intervals))
      state = next
    }
    return { delays, done: false }
  })

/** Retries an always-failing call with `schedule` under the TestClock; answers when each attempt began. */
const attemptTimes = (
  schedule: RetrySchedule,
  error: KinesisError = throttled,
  within: Duration.DurationInput = "1 hour",
  retry: (call: Effect.Effect<never, KinesisError>) => Effect.Effect<never, KinesisError> = (call) =>
    Effect.retry(call, { schedule, while: isRetryable })
) =>
  Effect.gen(function* () {
    const times: Array<number> = []
    const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      times.push(now)
      return Effect.fail(error)
    })
    const fiber = yield* Effect.fork(retry(call))
    yield* TestClock.adjust(within)
    const outcome = yield* Effect.flip(Fiber.join(fiber))
    expect(outcome).toBe(error)
    return times.map((t) => t - times[0]!)
  })

/** Time between attempts; jittered delays are fractional millis, so subtraction gets float noise. */
const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => Math.round((t - times[i]!) * 1e6) / 1e6)

describe("backoff", () => {
  it.effect("without jitter, delays grow by the factor until the cap", () =>
    Effect.gen(function* () {
      const tripling = yield* stepDelays(
        backoff({ base: "100 millis", factor: 3, cap: "5 seconds", maxRetries: 6, jitter: false }),
        20
      )
      expect(tripling).toEqual({ delays: [100, 300, 900, 2700, 5000, 5000], done: true })
      // The factor defaults to 2.
      const doubling = yield* stepDelays(backoff({ base: 50, cap: "1 second", maxRetries: 8, jitter: false }), 20)
      expect(doubling).toEqual({ delays: [50, 100, 200, 400, 800, 1000, 1000, 1000], done: true })
    }))

  it.effect("with jitter, each delay is 80-120% of the unjittered one and never above the cap", () =>
    Effect.gen(function* () {
      let jittered = 0
      for (let run = 0; run < 20; run++) {
        const { delays, done } = yield* stepDelays(
          backoff({ base: "100 millis", cap: "2 seconds", maxRetries: 12 }),
          20
        )
        if (delays.slice(0, 4).some((d, n) => d !== 100 * 2 ** n)) jittered++
        expect(done).toBe(true)
        expect(delays).toHaveLength(12)
        delays.forEach((delay, n) => {
          const plain = 100 * 2 ** n
          expect(delay).toBeLessThanOrEqual(2000)
          expect(delay).toBeGreaterThanOrEqual(Math.min(plain * 0.8, 2000) - 1e-9)
          expect(delay).toBeLessThanOrEqual(plain * 1.2 + 1e-9)
        })
        // From 3.2 s on even the lowest jitter (80%) is above the cap: the delay is the cap.
        expect(delays.slice(5)).toEqual(Array.from({ length: 7 }, () => 2000))
      }
      expect(jittered).toBeGreaterThan(0)
    }))

  it.effect("maxRetries: the call is attempted maxRetries + 1 times, spaced by the delays", () =>
    Effect.gen(function* () {
      const times = yield* attemptTimes(backoff({ base: "100 millis", cap: "300 millis", maxRetries: 4, jitter: false }))
      expect(times).toEqual([0, 100, 300, 600, 900])
      for (const maxRetries of [0, 1, 5]) {
        const attempts = yield* attemptTimes(backoff({ base: 10, cap: 100, maxRetries }))
        expect(attempts).toHaveLength(maxRetries + 1)
      }
      // A fractional count is rounded down, a negative one means no retry.
      expect(yield* attemptTimes(backoff({ base: 10, cap: 100, maxRetries: 2.7 }))).toHaveLength(3)
      expect(yield* attemptTimes(backoff({ base: 10, cap: 100, maxRetries: -1 }))).toHaveLength(1)
    }))

  it.effect("maxRetries: Infinity keeps retrying", () =>
    Effect.gen(function* () {
      const { delays, done } = yield* stepDelays(backoff({ base: 10, cap: 1000, maxRetries: Infinity }), 200)
      expect(done).toBe(false)
      expect(delays).toHaveLength(200)
      expect(Math.max(...delays)).toBeLessThanOrEqual(1000)
    }))
})

describe("RetryPolicy", () => {
  it.effect("none makes one attempt", () =>
    Effect.gen(function* () {
      expect(yield* attemptTimes(RetryPolicy.none)).toEqual([0])
      expect((yield* stepDelays(RetryPolicy.none, 5)).done).toBe(true)
    }))

  it.effect("default: 20 retries from 100 ms, doubling, capped at 5 s", () =>
    Effect.gen(function* () {
      const times = yield* attemptTimes(RetryPolicy.default, throttled, "10 minutes")
      expect(times).toHaveLength(21)
      const delays = gaps(times)
      expect(delays[0]).toBeGreaterThanOrEqual(80)
      expect(delays[0]).toBeLessThanOrEqual(120)
      for (const delay of delays) expect(delay).toBeLessThanOrEqual(5000)
    }))

  it.effect("aggressive: 10 retries capped at 1 s; patient: retries on, capped at 30 s", () =>
    Effect.gen(function* () {
      const aggressive = yield* stepDelays(RetryPolicy.aggressive, 50)
      expect(aggressive.done).toBe(true)
      expect(aggressive.delays).toHaveLength(10)
      expect(aggressive.delays[0]).toBeGreaterThanOrEqual(40)
      expect(aggressive.delays[0]).toBeLessThanOrEqual(60)
      for (const delay of aggressive.delays) expect(delay).toBeLessThanOrEqual(1000)
      const patient = yield* stepDelays(RetryPolicy.patient, 100)
      expect(patient.done).toBe(false)
      expect(patient.delays[0]).toBeGreaterThanOrEqual(160)
      expect(patient.delays[0]).toBeLessThanOrEqual(240)
      for (const delay of patient.delays) expect(delay).toBeLessThanOrEqual(30_000)
    }))

  it.effect("a schedule is the same on every run: its retry count starts afresh", () =>
    Effect.gen(function* () {
      const schedule = backoff({ base: 10, cap: 100, maxRetries: 3 })
      expect(yield* attemptTimes(schedule)).toHaveLength(4)
      expect(yield* attemptTimes(schedule)).toHaveLength(4)
    }))
})

describe("isRetryable", () => {
  it("retries throttling and transient faults only", () => {
    expect(isRetryable(throttled)).toBe(true)
    expect(isRetryable(requestError(true))).toBe(true)
    expect(isRetryable(requestError(false))).toBe(false)
    expect(isRetryable(new ExpiredIterator({ streamName: "s", shardId: "x", cause: "test" }))).toBe(false)
    expect(isRetryable(new KinesisResourceNotFound({ operation: "GetRecords", streamName: "s", cause: "test" }))).toBe(
      false
    )
  })

  it.effect("Effect.retry with while: isRetryable stops at the first non-retryable error", () =>
    Effect.gen(function* () {
      const patient = RetryPolicy.patient
      expect(yield* attemptTimes(patient, requestError(false))).toEqual([0])
      expect(yield* attemptTimes(patient, new ExpiredIterator({ cause: "test" }))).toEqual([0])
      const retried = yield* attemptTimes(
        backoff({ base: 10, cap: 100, maxRetries: 3 }),
        requestError(true)
      )
      expect(retried).toHaveLength(4)
      // Not a retry schedule's concern, but the base case: spaced retries keep going while it lasts.
      expect(yield* attemptTimes(Schedule.recurs(2), throttled)).toHaveLength(3)
    }))
})

describe("retryKinesis with a single schedule", () => {
  it.effect("retries one class of error exactly as Effect.retry with while: isRetryable does", () =>
    Effect.gen(function* () {
      const schedule = backoff({ base: "100 millis", cap: "300 millis", maxRetries: 4, jitter: false })
      for (const error of [throttled, requestError(true), requestError(false)]) {
        const plain = yield* attemptTimes(schedule, error)
        const byClass = yield* attemptTimes(schedule, error, "1 hour", retryKinesis(schedule))
        expect(byClass).toEqual(plain)
      }
      expect(yield* attemptTimes(schedule, throttled, "1 hour", retryKinesis(schedule))).toEqual([0, 100, 300, 600, 900])
      // Unlike isRetryable, an expired iterator is retried too (by the caller that renews it).
      const expired = new ExpiredIterator({ cause: "test" })
      expect(yield* attemptTimes(schedule, expired, "1 hour", retryKinesis(schedule))).toHaveLength(5)
    }))
})
