import { Duration, Schedule } from "effect"
import type { KinesisError } from "../kinesis/index.js"

/** Shape of a capped, jittered exponential backoff. */
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

/** A retry schedule: its input is the error, its delays run on Effect's `Clock`. */
export type RetrySchedule = Schedule.Schedule<unknown, unknown>

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

/**
 * Named retry policies for Kinesis calls.
 * - `default`: 100 ms doubling to at most 5 s, 20 retries (about a minute and a half of trouble).
 * - `aggressive`: 50 ms doubling to at most 1 s, 10 retries.
 * - `patient`: 200 ms doubling to at most 30 s, retries forever (a consumer that must not stop).
 * - `none`: fail on the first error.
 */
export const RetryPolicy = {
  default: backoff({ base: "100 millis", cap: "5 seconds", maxRetries: 20 }),
  aggressive: backoff({ base: "50 millis", cap: "1 second", maxRetries: 10 }),
  patient: backoff({ base: "200 millis", cap: "30 seconds", maxRetries: Infinity }),
  none: Schedule.recurs(0) as RetrySchedule
} as const

/** Errors worth retrying: throttling and transient faults (5xx, network, time-outs). */
export const isRetryable = (error: KinesisError): boolean => {
  switch (error._tag) {
    case "KinesisThrottled":
      return true
    case "KinesisRequestError":
      return error.retryable
    default:
      return false
  }
}
