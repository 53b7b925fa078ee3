import { Effect } from "effect"
import { Kinesis, type KinesisError } from "../kinesis/index.js"
import { RetryPolicy, type RetryOption } from "../retry/index.js"
import { DeadLetterError, type DeadLetterRecord } from "./DeadLetter.js"
import { readDeadLetters } from "./FileDeadLetter.js"
import { putEntries } from "./putEntries.js"

/** Records per progress step: one full PutRecords call. */
const progressStep = 500

/** What to replay and where. */
export interface ReplayOptions {
  /** The JSON Lines dead-letter file. */
  readonly path: string
  /** The stream to put the records into (often the one they came from, once the cause is fixed). */
  readonly streamName: string
  /** Only the dead letters this keeps. Default all. */
  readonly filter?: (letter: DeadLetterRecord) => boolean
  /**
   * Retries of failed PutRecords calls (by error class) and of entries PutRecords refused (with
   * the `throttled` class's schedule: refusals are mostly throughput limits). Default {@link RetryPolicy.default}.
   */
  readonly retry?: RetryOption
  /** Told after each PutRecords call's worth of records (500) is in: how many so far, of how many. */
  readonly onProgress?: (replayed: number, total: number) => void
}

/**
 * Puts the records of a dead-letter file back into a stream, with their original partition keys
 * and bytes, in file order. Entries PutRecords refuses are retried (only those) with `retry`.
 *
 * @example
 * ```ts
 * const { replayed } = yield* replay({ path: ".shardline/dead-letters.jsonl", streamName: "orders" })
 * ```
 */
export const replay = (options: ReplayOptions): Effect.Effect<{ readonly replayed: number }, DeadLetterError | KinesisError, Kinesis> =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const letters = (yield* readDeadLetters(options.path)).filter(options.filter ?? (() => true))
    const retry = options.retry ?? RetryPolicy.default
    const onProgress = options.onProgress
    if (onProgress === undefined) {
      yield* putEntries(kinesis, options.streamName, letters, retry, `kinesis:${options.streamName}`)
      return { replayed: letters.length }
    }
    // A call's worth at a time, so that progress can be told between calls.
    for (let i = 0; i < letters.length; i += progressStep) {
      yield* putEntries(kinesis, options.streamName, letters.slice(i, i + progressStep), retry, `kinesis:${options.streamName}`)
      onProgress(Math.min(i + progressStep, letters.length), letters.length)
    }
    return { replayed: letters.length }
  })
