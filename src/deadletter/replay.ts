import { Effect } from "effect"
import { Kinesis, type KinesisError } from "../kinesis/index.js"
import { RetryPolicy, type RetryOption, retryKinesis, scheduleFor } from "../retry/index.js"
import { DeadLetterError, type DeadLetterRecord } from "./DeadLetter.js"
import { readDeadLetters } from "./FileDeadLetter.js"

/** PutRecords takes at most 500 entries and 5 MiB per call. */
const MAX_ENTRIES = 500
const MAX_BYTES = 5 * 1024 * 1024

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
}

/** Groups records into PutRecords calls within the entry and byte limits. */
const chunk = (letters: ReadonlyArray<DeadLetterRecord>): ReadonlyArray<ReadonlyArray<DeadLetterRecord>> => {
  const out: Array<Array<DeadLetterRecord>> = []
  let current: Array<DeadLetterRecord> = []
  let bytes = 0
  for (const letter of letters) {
    const size = letter.data.byteLength + Buffer.byteLength(letter.partitionKey)
    if (current.length > 0 && (current.length === MAX_ENTRIES || bytes + size > MAX_BYTES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(letter)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
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
    const refusedRetry = scheduleFor(retry, "throttled")
    const put = (batch: ReadonlyArray<DeadLetterRecord>): Effect.Effect<void, DeadLetterError | KinesisError> =>
      kinesis
        .putRecords({ StreamName: options.streamName, Records: batch.map((l) => ({ PartitionKey: l.partitionKey, Data: l.data })) })
        .pipe(
          retryKinesis(retry),
          Effect.flatMap((out) => {
            const refused = batch.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined)
            return refused.length === 0
              ? Effect.void
              : Effect.fail(new DeadLetterError({ destination: `kinesis:${options.streamName}`, reason: `${refused.length} records refused`, cause: refused }))
          })
        )
    for (const batch of chunk(letters)) {
      // A partial failure is retried for the refused entries only (their order within a key may then change).
      let pending: ReadonlyArray<DeadLetterRecord> = batch
      yield* Effect.suspend(() => put(pending)).pipe(
        Effect.tapError((e) =>
          Effect.sync(() => {
            if (e._tag === "DeadLetterError" && Array.isArray(e.cause)) pending = e.cause as ReadonlyArray<DeadLetterRecord>
          })
        ),
        Effect.retry({ schedule: refusedRetry, while: (e) => e._tag === "DeadLetterError" && Array.isArray(e.cause) })
      )
    }
    return { replayed: letters.length }
  })
