import { Duration, Schedule } from "effect"
import type { KinesisError } from "../kinesis/index.js"

/**
 * Shape of a capped, jittered exponential backoff.
 *
 * @example
 * ```ts
 * const options: BackoffOptions = { base: "100 millis", factor: 2, cap: "5 seconds", maxRetries: 20 }
 * ```
 */
export interface BackoffOptions {
  /** First delay. */
  readonly base: Duration.DurationInput
  /** Growth per retry; 2 doubles the delay each time. */
  readonly factor?: number
  /** No single delay exceeds this. */
  readonly cap: Duration.DurationInput
  /** Retries after the first attempt; `Infinity` retries for as long as the error lasts. */
  readonly maxRetries: number
  /** Randomize each delay (between 80% and 120%) so many shards do not retry in step. Default true. */
  readonly jitter?: boolean
}

/**
 * A retry schedule: its input is the error, its delays run on Effect's `Clock`.
 *
 * @example
 * ```ts
 * const schedule: RetrySchedule = Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(5)))
 * ```
 */
export type RetrySchedule = Schedule.Schedule<unknown, unknown>

/**
 * The kinds of Kinesis failure that are retried, each with its own policy:
 * - `throttled`: {@link KinesisThrottled} (ProvisionedThroughputExceeded, LimitExceeded, ...).
 * - `transient`: a {@link KinesisRequestError} with `retryable: true` (5xx, network, time-outs).
 * - `expiredIterator`: {@link ExpiredIterator}; the retried call must get a fresh iterator itself
 *   (the shard reader does).
 *
 * @example
 * ```ts
 * const cls: ErrorClass | undefined = errorClassOf(error) // undefined: fatal, never retried
 * ```
 */
export type ErrorClass = "throttled" | "transient" | "expiredIterator"

/**
 * The {@link ErrorClass} of an error, or `undefined` for a fatal one (bad input, access denied,
 * missing stream, and any error kind not listed): those are never retried.
 *
 * @example
 * ```ts
 * errorClassOf(new KinesisThrottled({ operation: "GetRecords", errorName: "ProvisionedThroughputExceededException", cause })) // "throttled"
 * errorClassOf(new KinesisResourceNotFound({ operation: "GetRecords", cause })) // undefined
 * ```
 */
export const errorClassOf = (error: KinesisError): ErrorClass | undefined => {
  switch (error._tag) {
    case "KinesisThrottled":
      return "throttled"
    case "KinesisRequestError":
      return error.retryable ? "transient" : undefined
    case "ExpiredIterator":
      return "expiredIterator"
    default:
      // Every other kind of error, including ones added to KinesisError later, is fatal.
      return undefined
  }
}

/**
 * A retry schedule per {@link ErrorClass}; a class left out gets {@link RetryPolicy.default}.
 *
 * @example
 * ```ts
 * const policies: RetryPolicies = { throttled: RetryPolicy.patient, transient: RetryPolicy.aggressive }
 * ```
 */
export interface RetryPolicies {
  /** Retries of throttled calls. */
  readonly throttled?: RetrySchedule
  /** Retries of transient faults (5xx, network errors, time-outs). */
  readonly transient?: RetrySchedule
  /** Retries of a call whose shard iterator expired (after the reader's own quick retry). */
  readonly expiredIterator?: RetrySchedule
}

/**
 * How Kinesis calls are retried: one schedule, applied to each {@link ErrorClass} separately (each
 * class counts its own retries), or a schedule per class ({@link RetryPolicy.byClass}).
 *
 * @example
 * ```ts
 * const everyClass: RetryOption = RetryPolicy.patient
 * const perClass: RetryOption = RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.none })
 * ```
 */
export type RetryOption = RetrySchedule | RetryPolicies

/**
 * Exponential backoff with a cap on each delay and on the number of retries.
 *
 * @example
 * ```ts
 * const schedule = backoff({ base: "100 millis", cap: "5 seconds", maxRetries: 10 })
 * effect.pipe(Effect.retry({ schedule, while: isRetryable }))
 * ```
 */
export const backoff = (options: BackoffOptions): RetrySchedule => {
  const cap = Duration.decode(options.cap)
  const growing = Schedule.exponential(options.base, options.factor ?? 2)
  const randomized = options.jitter === false ? growing : Schedule.jittered(growing)
  const capped = Schedule.modifyDelay(randomized, (_, delay) => Duration.min(delay, cap))
  return Number.isFinite(options.maxRetries)
    ? Schedule.intersect(capped, Schedule.recurs(Math.max(0, Math.floor(options.maxRetries))))
    : capped
}

const defaultPolicy = backoff({ base: "100 millis", cap: "5 seconds", maxRetries: 20 })

/**
 * Named retry policies for Kinesis calls.
 * - `default`: 100 ms doubling to at most 5 s, 20 retries (about a minute and a half of trouble).
 * - `aggressive`: 50 ms doubling to at most 1 s, 10 retries.
 * - `patient`: 200 ms doubling to at most 30 s, retries forever (a consumer that must not stop).
 * - `none`: fail on the first error.
 * - `byClass(policies)`: a policy per {@link ErrorClass}.
 *
 * @example
 * ```ts
 * Pipeline.fromKinesis({ streamName: "orders", codec, reader: { retry: RetryPolicy.patient } })
 * ```
 */
export const RetryPolicy = {
  default: defaultPolicy,
  aggressive: backoff({ base: "50 millis", cap: "1 second", maxRetries: 10 }),
  patient: backoff({ base: "200 millis", cap: "30 seconds", maxRetries: Infinity }),
  none: Schedule.recurs(0) as RetrySchedule,
  /**
   * A retry schedule per {@link ErrorClass}; classes left out get {@link RetryPolicy.default}.
   * Fatal errors are never retried, whatever the policies.
   *
   * @example
   * ```ts
   * // Ride out any throttling storm, but stop at the first 5xx so an alarm fires.
   * const retry = RetryPolicy.byClass({ throttled: RetryPolicy.patient, transient: RetryPolicy.none })
   * Pipeline.fromKinesis({ streamName: "orders", codec, reader: { retry } })
   * ```
   */
  byClass: (policies: RetryPolicies): RetryPolicies => ({ ...policies })
} as const

/**
 * The schedule `option` gives `errorClass`: a single schedule applies to every class; an unset
 * class gets {@link RetryPolicy.default}.
 *
 * @example
 * ```ts
 * scheduleFor(RetryPolicy.byClass({ throttled: RetryPolicy.patient }), "throttled") // RetryPolicy.patient
 * scheduleFor(RetryPolicy.none, "transient") // RetryPolicy.none
 * ```
 */
export const scheduleFor = (option: RetryOption, errorClass: ErrorClass): RetrySchedule =>
  Schedule.isSchedule(option) ? option : option[errorClass] ?? defaultPolicy

/**
 * Errors worth retrying: throttling and transient faults (5xx, network, time-outs).
 *
 * @example
 * ```ts
 * effect.pipe(Effect.retry({ schedule: RetryPolicy.default, while: isRetryable }))
 * ```
 */
export const isRetryable = (error: KinesisError): boolean => {
  const errorClass = errorClassOf(error)
  return errorClass === "throttled" || errorClass === "transient"
}
