import { type Duration, Effect, Either, Schedule } from "effect"
import { InvalidOption } from "../config/index.js"
import type { KinesisError } from "../kinesis/index.js"
import { retryMeter } from "../metrics/meters.js"
import { type ErrorClass, errorClassOf, type RetryOption, scheduleFor, type RetrySchedule } from "./RetryPolicy.js"

/**
 * How {@link retryKinesis} spaces retries, beyond what the schedules ask.
 *
 * @example
 * ```ts
 * const options: RetryKinesisOptions = { spacing: "200 millis" }
 * ```
 */
export interface RetryKinesisOptions {
  /**
   * No retry starts sooner than this after the attempt failed, whatever the schedule says (e.g.
   * 200 ms for GetRecords: 5 calls per second per shard). Default none.
   */
  readonly spacing?: Duration.DurationInput
}

/**
 * Retries a Kinesis call by the class of each failure: a fatal error fails at once; a throttle,
 * transient fault or expired iterator steps that class's own schedule (a single schedule is used
 * by every class, each counting on its own), and once that schedule is done the call fails with
 * the last error. Counts start afresh each time the returned effect runs; delays run on Effect's
 * `Clock`.
 *
 * @example
 * ```ts
 * const shards = kinesis.listShards({ StreamName: "orders" }).pipe(
 *   retryKinesis(RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.aggressive }))
 * )
 * const records = kinesis.getRecords(input).pipe(retryKinesis(RetryPolicy.default, { spacing: "200 millis" }))
 * ```
 */
export const retryKinesis = (
  option: RetryOption,
  options: RetryKinesisOptions = {}
): <A, E extends KinesisError, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> => {
  const spacing = options.spacing
  // The spacing joins each class's schedule, so the driver sleeps once: the longer of the two delays.
  const scheduleOf = (errorClass: ErrorClass): RetrySchedule =>
    spacing === undefined
      ? scheduleFor(option, errorClass)
      : Schedule.intersect(scheduleFor(option, errorClass), Schedule.spaced(spacing))
  return <A, E extends KinesisError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.gen(function* () {
      const drivers = new Map<ErrorClass, Schedule.ScheduleDriver<unknown, unknown>>()
      while (true) {
        const result = yield* Effect.either(effect)
        if (Either.isRight(result)) return result.right
        const error = result.left
        const errorClass = errorClassOf(error)
        if (errorClass === undefined) return yield* Effect.fail(error)
        let driver = drivers.get(errorClass)
        if (driver === undefined) {
          driver = yield* Schedule.driver(scheduleOf(errorClass))
          drivers.set(errorClass, driver)
        }
        if (errorClass === "throttled") yield* retryMeter.throttled(error)
        // Sleeps the schedule's delay, counted from the failure; fails with None once the schedule is done.
        const goOn = yield* Effect.option(driver.next(error))
        if (goOn._tag === "None") return yield* Effect.fail(error)
        yield* retryMeter.retried(error, errorClass)
      }
    })
}

const retryClasses: ReadonlyArray<string> = ["throttled", "transient", "expiredIterator"] satisfies ReadonlyArray<ErrorClass>

/**
 * Checks a retry option read from user settings: a schedule, or an object whose keys are error
 * classes and whose values are schedules (a misspelt class would silently get the default).
 */
export const retryOption = (
  option: string,
  value: RetryOption | undefined,
  fallback: RetryOption
): Effect.Effect<RetryOption, InvalidOption> =>
  Effect.suspend(() => {
    const given: unknown = value ?? fallback
    if (Schedule.isSchedule(given)) return Effect.succeed(given as RetrySchedule)
    const expected = `a Schedule, or an object of Schedules keyed by ${retryClasses.join(", ")} (see RetryPolicy.byClass)`
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
      return Effect.fail(new InvalidOption({ option, given: String(given), expected }))
    }
    for (const [key, schedule] of Object.entries(given)) {
      if (!retryClasses.includes(key)) {
        return Effect.fail(new InvalidOption({ option: `${option}.${key}`, given: "an unknown error class", expected }))
      }
      if (schedule !== undefined && !Schedule.isSchedule(schedule)) {
        return Effect.fail(new InvalidOption({ option: `${option}.${key}`, given: typeof schedule, expected: "a Schedule" }))
      }
    }
    return Effect.succeed(given as RetryOption)
  })
