import { Effect } from "effect"
import type { KinesisApi, KinesisError } from "../kinesis/index.js"
import { MAX_CALL_BYTES, MAX_CALL_RECORDS, MAX_RECORD_BYTES, utf8Length } from "../kinesis/limits.js"
import { type RetryOption, retryKinesis, scheduleFor } from "../retry/index.js"
import { DeadLetterError } from "./DeadLetter.js"

/** One record to put: its partition key and bytes. */
export interface PutEntry {
  readonly partitionKey: string
  readonly data: Uint8Array
}

/**
 * Groups entries into PutRecords calls within the entry and byte limits, in order. An entry over
 * 1 MiB (from a stream with large records) goes in a call of its own, as the producer sends them:
 * if the destination stream refuses its size, only that call fails.
 */
const chunk = <T extends PutEntry>(entries: ReadonlyArray<T>): ReadonlyArray<ReadonlyArray<T>> => {
  const out: Array<Array<T>> = []
  let current: Array<T> = []
  let bytes = 0
  for (const entry of entries) {
    const size = entry.data.byteLength + utf8Length(entry.partitionKey)
    const large = size > MAX_RECORD_BYTES
    if (current.length > 0 && (large || current.length === MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(entry)
    bytes += size
    if (large) {
      out.push(current)
      current = []
      bytes = 0
    }
  }
  if (current.length > 0) out.push(current)
  return out
}

/**
 * Puts entries into a stream in order, in PutRecords calls within the API limits. A failed call is
 * retried by error class with `retry`; entries PutRecords refused (only those) with the `throttled`
 * class's schedule, since refusals are mostly throughput limits. Entries still refused fail with a
 * {@link DeadLetterError} naming `destination`.
 */
export const putEntries = (
  kinesis: KinesisApi,
  streamName: string,
  entries: ReadonlyArray<PutEntry>,
  retry: RetryOption,
  destination: string
): Effect.Effect<void, DeadLetterError | KinesisError> =>
  Effect.forEach(chunk(entries), (batch) => {
    // A partial failure is retried for the refused entries only (their order within a key may then change).
    let pending: ReadonlyArray<PutEntry> = batch
    const put = Effect.suspend(() =>
      kinesis.putRecords({ StreamName: streamName, Records: pending.map((e) => ({ PartitionKey: e.partitionKey, Data: e.data })) }).pipe(
        retryKinesis(retry),
        Effect.flatMap((out) => {
          const refused = pending.filter((_, i) => out.Records?.[i]?.ErrorCode !== undefined)
          if (refused.length === 0) return Effect.void
          pending = refused
          return Effect.fail(new DeadLetterError({ destination, reason: `${refused.length} of ${batch.length} records were refused`, cause: refused }))
        })
      ))
    return Effect.retry(put, { schedule: scheduleFor(retry, "throttled"), while: (e) => e._tag === "DeadLetterError" })
  }, { discard: true })
