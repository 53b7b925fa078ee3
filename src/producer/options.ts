import { Duration, Effect } from "effect"
import type { Codec } from "../codec/index.js"
import { durationOption, integerOption, InvalidOption, textOption } from "../config/index.js"
import { RetryPolicy, type RetryOption } from "../retry/index.js"
import { retryOption } from "../retry/retryKinesis.js"
import { MAX_LARGE_RECORD_BYTES, MAX_RECORD_BYTES } from "../kinesis/limits.js"

/**
 * KPL aggregation settings: user records bound for the same shard are packed into aggregates of
 * at most `maxBytes` (default 50 KiB, the KPL's `AggregationMaxSize`; at most 1 MiB, also on a
 * stream that takes larger records: AWS meant large records for occasional payloads, not for every
 * record). A user record bigger than `maxBytes` goes as it is, not aggregated.
 *
 * @example
 * ```ts
 * const options: AggregationOptions = { maxBytes: 100 * 1024 }
 * ```
 */
export interface AggregationOptions {
  readonly maxBytes?: number
}

/**
 * How a {@link Producer} encodes, keys, buffers and retries records.
 *
 * @example
 * ```ts
 * const options: ProducerOptions<AccessLog> = {
 *   streamName: "access-logs",
 *   codec: Codec.protobuf(AccessLogSchema),
 *   partitionKey: (log) => log.host,
 *   maxBufferTime: "50 millis",
 *   ordered: true
 * }
 * ```
 */
export interface ProducerOptions<A> {
  readonly streamName: string
  readonly codec: Codec<A>
  /** The record's partition key: 1 to 256 characters. */
  readonly partitionKey: (message: A) => string
  /** An explicit hash key (a decimal in [0, 2^128)) overriding the partition key's MD5 for routing. */
  readonly explicitHashKey?: (message: A) => string | undefined
  /**
   * How long a record may wait in the buffer for others to share its PutRecords call, counted on
   * Effect's `Clock` from the oldest buffered record. Default 100 ms (the KPL's RecordMaxBufferedTime).
   */
  readonly maxBufferTime?: Duration.DurationInput
  /** Records buffered or in flight at most; `put` waits while this many are. Default 10,000. */
  readonly maxBufferedRecords?: number
  /** PutRecords calls in flight at once. Default 4. */
  readonly maxInFlightCalls?: number
  /**
   * At most one record (or aggregate) per partition key in flight, so a partial failure cannot
   * reorder a key's records. Default false: without it a refused record is put again after the
   * ones behind it, and concurrent calls may land in any order.
   */
  readonly ordered?: boolean
  /**
   * Retries: a whole failed call by error class (as `retryKinesis`); refused entries alone with the
   * `throttled` schedule (ProvisionedThroughputExceeded, KMSThrottling) or the `transient` one
   * (InternalFailure). Default {@link RetryPolicy.default}.
   */
  readonly retry?: RetryOption
  /** KPL aggregation: `true` or {@link AggregationOptions}. Default off. */
  readonly aggregate?: boolean | AggregationOptions
  /**
   * The largest record (data plus partition key) the stream takes, in bytes: 1 MiB (every
   * stream's default) to 10 MiB (a stream whose `MaxRecordSizeInKiB` was raised with
   * UpdateMaxRecordSize). A record over it fails with `RecordTooLarge` before any call. Default:
   * the stream's own, read with DescribeStreamSummary the first time a record over 1 MiB is put
   * (again at most once a minute), so producers of small records make no extra call and need no
   * extra permission; if that read fails, 1 MiB. A record over 1 MiB goes in a PutRecords call of
   * its own.
   */
  readonly maxRecordBytes?: number
}

/** The options checked, with their defaults filled in. */
export interface Settings {
  /** `maxBufferTime` in milliseconds. */
  readonly linger: number
  readonly maxBuffered: number
  readonly maxInFlight: number
  readonly retry: RetryOption
  /** Set when aggregating. */
  readonly maxAggregateBytes: number | undefined
  /** The record size limit given; undefined: the stream's, looked up when needed. */
  readonly maxRecordBytes: number | undefined
}

const DEFAULT_AGGREGATE_BYTES = 50 * 1024

/** Checks the options, failing with the first bad one. */
export const settingsOf = <A>(options: ProducerOptions<A>): Effect.Effect<Settings, InvalidOption> =>
  Effect.gen(function* () {
    yield* textOption("streamName", options.streamName)
    const linger = yield* durationOption("maxBufferTime", options.maxBufferTime, "100 millis")
    const maxBuffered = yield* integerOption("maxBufferedRecords", options.maxBufferedRecords, 10_000, 1)
    const maxInFlight = yield* integerOption("maxInFlightCalls", options.maxInFlightCalls, 4, 1)
    const retry = yield* retryOption("retry", options.retry, RetryPolicy.default)
    const maxRecordBytes =
      options.maxRecordBytes === undefined
        ? undefined
        : yield* integerOption("maxRecordBytes", options.maxRecordBytes, MAX_RECORD_BYTES, MAX_RECORD_BYTES, MAX_LARGE_RECORD_BYTES)
    let maxAggregateBytes: number | undefined
    if (options.aggregate === true) maxAggregateBytes = DEFAULT_AGGREGATE_BYTES
    else if (typeof options.aggregate === "object" && options.aggregate !== null) {
      maxAggregateBytes = yield* integerOption(
        "aggregate.maxBytes",
        options.aggregate.maxBytes,
        DEFAULT_AGGREGATE_BYTES,
        64,
        MAX_RECORD_BYTES
      )
    } else if (options.aggregate !== undefined && options.aggregate !== false) {
      return yield* Effect.fail(
        new InvalidOption({ option: "aggregate", given: String(options.aggregate), expected: "a boolean or { maxBytes }" })
      )
    }
    return { linger: Duration.toMillis(linger), maxBuffered, maxInFlight, retry, maxAggregateBytes, maxRecordBytes }
  })
