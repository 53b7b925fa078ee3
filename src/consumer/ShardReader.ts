import { Clock, Duration, Effect, type Stream } from "effect"
import { durationOption, integerOption, type InvalidOption } from "../config/index.js"
import type { Kinesis, KinesisApi, KinesisError } from "../kinesis/index.js"
import { retryMeter, shardMeter } from "../metrics/meters.js"
import { RetryPolicy, type RetryOption, retryKinesis } from "../retry/index.js"
import { retryOption } from "../retry/retryKinesis.js"
import type { PrefetchBudget } from "./PrefetchBudget.js"
import { resumeInside, shardChunks, toRecord, whenGone } from "./shardChunks.js"
import { iteratorRequest, ShardPosition } from "./ShardPosition.js"

/** One record as read from a shard, before decoding. */
export interface KinesisRecord {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly approximateArrivalTimestamp: Date | undefined
  readonly data: Uint8Array
  /**
   * Set on the first record read from a checkpoint inside a KPL aggregate: its user records below
   * this index were processed already and are left out when it is expanded.
   */
  readonly skipUserRecords?: number | undefined
}

/** The records of one GetRecords response, in shard order. */
export interface ShardChunk {
  readonly shardId: string
  readonly records: ReadonlyArray<KinesisRecord>
  /** Total payload bytes of `records`. */
  readonly bytes: number
  /** How far the shard's tip is ahead of the last record, as the service reported it. */
  readonly millisBehindLatest: number | undefined
  /** True on the last chunk of a closed shard: the shard has no more records, ever. */
  readonly shardEnded: boolean
  /** On the last chunk, the children the service named (GetRecords' ChildShards), when it names them. */
  readonly childShards?: ReadonlyArray<{ readonly shardId: string; readonly parentShardIds: ReadonlyArray<string> }>
}

/** How one shard is polled. Every duration accepts Effect's `DurationInput` (a number is millis). */
export interface ShardReaderOptions {
  /** Records asked for per GetRecords call (1 to 10,000). Default 10,000, like the KCL's maxRecords. */
  readonly limit?: number
  /** Least time between two GetRecords calls on a shard; at least 200 ms (5 calls/s/shard). Default 250 ms. */
  readonly pollDelay?: Duration.DurationInput
  /** Wait after a call that returned no records. Default 1 s. */
  readonly noRecordsPollDelay?: Duration.DurationInput
  /** Most records read ahead of the pipeline per shard. Default 10,000. */
  readonly maxPrefetchRecords?: number
  /** Most payload bytes read ahead of the pipeline per shard (one response may pass it). Default 16 MiB. */
  readonly maxPrefetchBytes?: number
  /** Cap on the read rate of one shard, in records per second. Default: none. */
  readonly maxRecordsPerSecond?: number
  /**
   * Retries for throttling, transient faults and expired iterators: one schedule for each class
   * (counted separately), or one per class with {@link RetryPolicy.byClass}. An expired iterator
   * is always renewed and retried once at once; only further expiries in a row use the
   * `expiredIterator` schedule. Default {@link RetryPolicy.default}.
   *
   * @example
   * ```ts
   * const options: ShardReaderOptions = { retry: RetryPolicy.byClass({ throttled: RetryPolicy.patient }) }
   * ```
   */
  readonly retry?: RetryOption
}

/** What to read: a stream's shard from a position. */
export interface ShardReadTarget {
  readonly streamName: string
  readonly shardId: string
  readonly position: ShardPosition
  /**
   * The shard is known to be closed (ListShards gave it an ending sequence number). When the
   * service then no longer knows it (ResourceNotFound: its records outlived the retention period),
   * it is read as ended, as the KCL does, so its children start; an open shard not found is an error.
   */
  readonly closed?: boolean
}

/** The reader's settings once checked. */
export interface ShardReaderSettings {
  readonly limit: number
  readonly pollDelay: Duration.Duration
  readonly noRecordsPollDelay: Duration.Duration
  readonly maxPrefetchRecords: number
  readonly maxPrefetchBytes: number
  readonly maxRecordsPerSecond: number | undefined
  /** Also what `listShards` takes, so listing a stream retries like reading it. */
  readonly retry: RetryOption
}

const minPollDelay = Duration.millis(200)

/** Checks reader options, failing with {@link InvalidOption} that names the option to change. */
export const resolveReaderOptions = (
  options: ShardReaderOptions = {}
): Effect.Effect<ShardReaderSettings, InvalidOption> =>
  Effect.all({
    limit: integerOption("limit", options.limit, 10_000, 1, 10_000),
    pollDelay: durationOption("pollDelay", options.pollDelay, "250 millis", minPollDelay),
    noRecordsPollDelay: durationOption("noRecordsPollDelay", options.noRecordsPollDelay, "1 second", minPollDelay),
    maxPrefetchRecords: integerOption("maxPrefetchRecords", options.maxPrefetchRecords, 10_000, 1),
    maxPrefetchBytes: integerOption("maxPrefetchBytes", options.maxPrefetchBytes, 16 * 1024 * 1024, 1),
    maxRecordsPerSecond:
      options.maxRecordsPerSecond === undefined
        ? Effect.succeed(undefined)
        : integerOption("maxRecordsPerSecond", options.maxRecordsPerSecond, 0, 1),
    retry: retryOption("retry", options.retry, RetryPolicy.default)
  })

/**
 * Polls one shard as a stream of chunks, one per GetRecords response with records, ending after
 * the chunk marked `shardEnded` when the shard is closed. Reads stop while `maxPrefetchRecords`
 * or `maxPrefetchBytes` are held unconsumed; interrupting the stream aborts the call in flight.
 *
 * @example
 * ```ts
 * const chunks = readShard({ streamName: "clicks", shardId: "shardId-000000000000", position: ShardPosition.trimHorizon }, settings)
 * ```
 */
export const readShard = (
  target: ShardReadTarget,
  settings: ShardReaderSettings
): Stream.Stream<ShardChunk, KinesisError, Kinesis> =>
  shardChunks(settings, (kinesis, { budget, emit }) => pollShard(kinesis, target, settings, budget, emit))

const pollShard = (
  kinesis: KinesisApi,
  target: ShardReadTarget,
  settings: ShardReaderSettings,
  budget: PrefetchBudget,
  emit: (chunk: ShardChunk) => Effect.Effect<unknown>
): Effect.Effect<void, KinesisError> =>
  Effect.gen(function* () {
    const callTarget = { streamName: target.streamName, shardId: target.shardId }
    const meter = shardMeter(target.streamName, target.shardId)
    let lastSequenceNumber: string | undefined
    const markResume = resumeInside(target.position)
    // When a LATEST reader got its first iterator: an expiry before any record arrived resumes
    // from that time (less a second for clock skew), not from a new LATEST that would skip records.
    let latestFrom: number | undefined
    // After an expired iterator, resume right after the last record handed on: no loss, no repeat.
    const resumePosition = (): ShardPosition => {
      if (lastSequenceNumber !== undefined) return ShardPosition.afterSequenceNumber(lastSequenceNumber)
      if (target.position.type === "LATEST" && latestFrom !== undefined) {
        return ShardPosition.atTimestamp(new Date(latestFrom - 1000))
      }
      return target.position
    }
    const undefinedIfGone = whenGone(target, undefined)
    const freshIterator = Effect.suspend(() =>
      kinesis.getShardIterator({
        StreamName: target.streamName,
        ShardId: target.shardId,
        ...iteratorRequest(resumePosition())
      })
    ).pipe(
      retryKinesis(settings.retry),
      Effect.map((out) => out.ShardIterator ?? undefined),
      undefinedIfGone
    )

    const firstIteratorAt = yield* Clock.currentTimeMillis
    let iterator = yield* freshIterator
    latestFrom = firstIteratorAt
    // When the last GetRecords attempt started: the next call is spaced from it.
    let attemptAt = 0
    const attempt = (limit: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        attemptAt = now
        return Effect.zipRight(meter.getRecordsCall, kinesis.getRecords({ ShardIterator: iterator, Limit: limit }, callTarget))
      }).pipe(
        Effect.tapErrorTag("ExpiredIterator", () =>
          Effect.map(freshIterator, (fresh) => {
            iterator = fresh
          })
        )
      )
    // Retries of GetRecords never come faster than the 5 calls/s a shard allows.
    const retryGetRecords = retryKinesis(settings.retry, { spacing: minPollDelay })
    const getRecords = (limit: number) =>
      Effect.suspend(() => {
        let quickRetried = false
        return attempt(limit).pipe(
          // An expiry is routine after a long pause, not a fault: one fresh try whatever the policy.
          // Further expiries of this call step the expiredIterator schedule.
          Effect.catchTag("ExpiredIterator", (expired) => {
            if (quickRetried) return Effect.fail(expired)
            quickRetried = true
            return retryMeter.retried(expired, "expiredIterator").pipe(
              Effect.zipRight(Effect.sleep(minPollDelay)),
              Effect.zipRight(attempt(limit))
            )
          }),
          retryGetRecords
        )
      })

    let nextCallAt = 0
    let endedEmitted = false
    let childShards: ShardChunk["childShards"]
    while (iterator !== undefined) {
      const room = yield* budget.awaitRoom
      const now = yield* Clock.currentTimeMillis
      if (nextCallAt > now) yield* Effect.sleep(Duration.millis(nextCallAt - now))
      const limit = Math.max(1, Math.min(settings.limit, room, settings.maxRecordsPerSecond ?? Infinity))
      const response = yield* undefinedIfGone(getRecords(limit))
      if (response === undefined) break // a closed shard gone from the service: nothing more to read
      const raw = response.Records ?? []
      const records = raw.map((r) => toRecord(target.shardId, r))
      // Resuming inside a KPL aggregate: its first user records are done.
      if (lastSequenceNumber === undefined) markResume(records)
      iterator = response.NextShardIterator ?? undefined
      if (iterator === undefined && response.ChildShards !== undefined) {
        childShards = response.ChildShards.map((c) => ({ shardId: c.ShardId ?? "", parentShardIds: c.ParentShards ?? [] }))
      }
      let bytes = 0
      for (const r of records) bytes += r.data.byteLength
      yield* meter.response(records.length, bytes, response.MillisBehindLatest, records[records.length - 1]?.approximateArrivalTimestamp)
      if (records.length > 0) {
        lastSequenceNumber = records[records.length - 1]!.sequenceNumber
        yield* budget.add(records.length, bytes)
        endedEmitted = iterator === undefined
        yield* emit({
          shardId: target.shardId,
          records,
          bytes,
          millisBehindLatest: response.MillisBehindLatest,
          shardEnded: endedEmitted,
          ...(endedEmitted && childShards !== undefined ? { childShards } : {})
        })
      }
      const idle = records.length === 0 ? settings.noRecordsPollDelay : settings.pollDelay
      const rateSpacing =
        settings.maxRecordsPerSecond === undefined ? 0 : (records.length * 1000) / settings.maxRecordsPerSecond
      nextCallAt = attemptAt + Math.max(Duration.toMillis(idle), rateSpacing)
    }
    // Read to its end (or gone from the service): nothing left behind.
    yield* meter.ended
    if (!endedEmitted) {
      yield* emit({
        shardId: target.shardId,
        records: [],
        bytes: 0,
        millisBehindLatest: 0,
        shardEnded: true,
        ...(childShards !== undefined ? { childShards } : {})
      })
    }
  })
