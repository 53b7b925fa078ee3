import { Clock, Effect } from "effect"
import type { KinesisApi } from "../kinesis/index.js"
import { MAX_LARGE_RECORD_BYTES, MAX_RECORD_BYTES, recordLimitOf } from "../kinesis/limits.js"
import { type RetryOption, retryKinesis } from "../retry/index.js"

// The stream's record size limit, as the producer knows it. Given (`maxRecordBytes`), it is fixed.
// Otherwise it starts at 1 MiB, every stream's default, and is read from DescribeStreamSummary only
// when a record over it is put: producers of small records make no extra call and need no
// kinesis:DescribeStreamSummary permission. A stream's limit changes seldom, so it is read again at
// most once a minute, and only for a record over what was read.

const LOOKUP_EVERY_MS = 60_000

/** The limit a record is checked against, and how to learn the stream's. */
export interface RecordLimit {
  /** What is known now. */
  readonly current: () => number
  /** Whether a record of `bytes` might fit once the stream's limit is read (and a read is due). */
  readonly mayGrow: (bytes: number, now: number) => boolean
  /** Reads the stream's limit (one read at a time); on failure keeps 1 MiB and logs why. */
  readonly lookUp: Effect.Effect<number>
}

export const makeRecordLimit = (
  api: KinesisApi,
  streamName: string,
  given: number | undefined,
  retry: RetryOption
): Effect.Effect<RecordLimit> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    let limit = given ?? MAX_RECORD_BYTES
    let lastLookup: number | undefined
    const due = (now: number) => lastLookup === undefined || now - lastLookup >= LOOKUP_EVERY_MS
    const read = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // Another fiber may have read it while this one waited for the lock.
      if (!due(now)) return limit
      lastLookup = now
      const out = yield* Effect.either(api.describeStreamSummary({ StreamName: streamName }).pipe(retryKinesis(retry)))
      if (out._tag === "Left") {
        yield* Effect.logWarning(
          `Could not read the maximum record size of stream ${streamName} (${out.left.message}); ` +
            "records over 1 MiB are refused. Set the producer's maxRecordBytes to the stream's limit to skip this look-up."
        )
        limit = MAX_RECORD_BYTES
        return limit
      }
      limit = recordLimitOf(out.right.StreamDescriptionSummary?.MaxRecordSizeInKiB)
      return limit
    })
    return {
      current: () => limit,
      mayGrow: (bytes, now) => given === undefined && bytes > limit && bytes <= MAX_LARGE_RECORD_BYTES && due(now),
      lookUp: lock.withPermits(1)(read)
    }
  })
