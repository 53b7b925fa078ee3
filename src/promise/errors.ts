import { Cause, Data, Option } from "effect"
import type { CheckpointError } from "../checkpoint/index.js"
import type { DecodeError } from "../codec/index.js"
import type { InvalidOption } from "../config/index.js"
import type { DeadLetterError } from "../deadletter/index.js"
import type { MissingDependency } from "../internal/optionalDependency.js"
import type { KinesisError } from "../kinesis/index.js"
import type { DeaggregateError } from "../kpl/index.js"
import type { LeaseStoreError } from "../lease/index.js"
import type { GracefulStopTimeout } from "../pipeline/errors.js"
import type { SinkRecordsFailed } from "../pipeline/sinkFailures.js"

const messageOf = (u: unknown): string => (u instanceof Error ? u.message : String(u))

/**
 * The sink's promise rejected (or the sink threw). `cause` is what it rejected with; the message
 * is its message, so dead letters read the same as with an Effect sink. It goes through
 * `onSinkError` (retries, bisection, dead letters); without it, the run fails with it.
 *
 * @example
 * ```ts
 * try {
 *   await consumer.done
 * } catch (error) {
 *   if (error instanceof SinkFailed) console.error(`batch ${error.batchId} failed:`, error.cause)
 * }
 * ```
 */
export class SinkFailed extends Data.TaggedError("SinkFailed")<{
  /** What the sink's promise rejected with. */
  readonly cause: unknown
  /** The batch the failing call was given (a part of it after bisection). */
  readonly batchId: number
  /** Records in the failing call. */
  readonly records: number
}> {
  override get message() {
    return messageOf(this.cause)
  }
}

/**
 * Everything a consumer's `done` (and `stop()`) may reject with: each is a class, so
 * `instanceof` narrows it. A defect (a bug) rejects with what was thrown.
 */
export type ConsumerError =
  | SinkFailed
  | SinkRecordsFailed
  | InvalidOption
  | GracefulStopTimeout
  | KinesisError
  | DecodeError
  | DeaggregateError
  | CheckpointError
  | LeaseStoreError
  | DeadLetterError
  | MissingDependency

/**
 * The error a failed run rejects with: its first typed failure as it is (not wrapped, so
 * `instanceof` works), else the defect, else the cause flattened.
 */
export const errorOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return failure.value
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return defect.value
  return Cause.squash(cause)
}
