import { Clock, Data, Duration, Effect, type Layer, Option, Schedule } from "effect"
import { Checkpoint } from "../checkpoint/index.js"
import type { DeadLetter } from "../deadletter/index.js"
import type { Kinesis } from "../kinesis/index.js"
import { durationOption, integerOption, type InvalidOption } from "../config/index.js"
import { backoff, type RetrySchedule } from "../retry/index.js"
import type { Batch, Draft, Positioned, StreamRecord } from "./Batch.js"

/**
 * Lambda-style handling of a failing sink: retry, bisect, then give the records up to the
 * `onFailure` destination or the run's `DeadLetter` service (without either, the run fails with
 * the sink's last error).
 *
 * @example
 * ```ts
 * Pipeline.foreachBatch(sink, {
 *   onSinkError: {
 *     maxRetryAttempts: 2,
 *     bisectBatchOnError: true,
 *     maxRecordAge: "1 hour",
 *     onFailure: DeadLetter.layerFile({ path: "failed-orders.jsonl" })
 *   }
 * })
 * ```
 */
export interface SinkErrorOptions {
  /** Retries of a failing batch (or half batch) before it is split or given up. Default 0. */
  readonly maxRetryAttempts?: number
  /** Waits between retries. Default: 100 ms doubling, at most 5 s. */
  readonly retry?: RetrySchedule
  /**
   * Split a batch that still fails into halves, recursively, to isolate the records the sink
   * cannot take; each half gets its own retries. Default false.
   */
  readonly bisectBatchOnError?: boolean
  /**
   * Once the sink has failed on them, records that arrived longer ago than this are given up at
   * once (no more retries or splits), as Lambda's `MaximumRecordAgeInSeconds` does. Default: no limit.
   */
  readonly maxRecordAge?: Duration.DurationInput
  /**
   * Where records the sink gave up on go (Lambda's on-failure destination), e.g.
   * `DeadLetter.layerFile({ path })`. Default: the run's `DeadLetter` service; with neither, the
   * run fails with the sink's last error. Records that do not decode go here too when the run has
   * no `DeadLetter` service.
   */
  readonly onFailure?: Layer.Layer<DeadLetter, never, Kinesis>
}

const BatchItemFailuresTypeId: unique symbol = Symbol.for("shardline/BatchItemFailures")

/**
 * What a sink answers when it processed a batch except some records (Lambda's
 * ReportBatchItemFailures). Each shard is then done up to its first failed record: that record
 * and the shard's records after it are tried again (with `onSinkError`'s retries), and if they
 * still fail, go to the dead-letter destination, or the shard is checkpointed just before its
 * first failure and the run fails with {@link SinkRecordsFailed}.
 */
export interface BatchItemFailures {
  readonly [BatchItemFailuresTypeId]: typeof BatchItemFailuresTypeId
  /** The failed records, by shard id and sequence number (a batch's records can be passed as they are). */
  readonly records: ReadonlyArray<Positioned>
  /** Why they failed, for dead letters and errors. */
  readonly reason: string
}

/**
 * Reports that the sink failed on some of a batch's records.
 *
 * @example
 * ```ts
 * Pipeline.foreachBatch((batch) =>
 *   Effect.gen(function* () {
 *     const rejected = yield* saveAll(batch.records) // the records the database refused
 *     return Pipeline.batchItemFailures(rejected, "constraint violation")
 *   })
 * )
 * ```
 */
export const batchItemFailures = (records: ReadonlyArray<Positioned>, reason = "the sink reported these records as failed"): BatchItemFailures => ({
  [BatchItemFailuresTypeId]: BatchItemFailuresTypeId,
  records,
  reason
})

const isBatchItemFailures = (u: unknown): u is BatchItemFailures =>
  typeof u === "object" && u !== null && BatchItemFailuresTypeId in u

/**
 * The sink kept failing on these records and there was nowhere to give them up (no `onSinkError`
 * with a `DeadLetter` layer). Each shard was checkpointed just before its first failed record
 * (pipelines of per-record operators without state; otherwise the batch was not checkpointed).
 */
export class SinkRecordsFailed extends Data.TaggedError("SinkRecordsFailed")<{
  /** The records that failed in the last attempt, by shard id and sequence number. */
  readonly records: ReadonlyArray<Positioned>
  readonly reason: string
  /** Sink calls made on them. */
  readonly attempts: number
}> {
  override get message() {
    const first = this.records[0]
    const where = first === undefined ? "" : ` (first: shard ${first.shardId}, sequence number ${first.sequenceNumber})`
    return `The sink failed on ${this.records.length} record(s)${where} after ${this.attempts} attempt(s): ${this.reason}`
  }
}

/** {@link SinkErrorOptions} once checked. */
export interface SinkErrorSettings {
  readonly maxRetryAttempts: number
  readonly retry: RetrySchedule
  readonly bisect: boolean
  /** Milliseconds; Infinity: no limit. */
  readonly maxRecordAge: number
}

/** Checks `onSinkError`; without it a failing sink is tried once and the run fails. */
export const resolveSinkErrors = (options: SinkErrorOptions = {}): Effect.Effect<SinkErrorSettings, InvalidOption> =>
  Effect.gen(function* () {
    const maxRetryAttempts = yield* integerOption("onSinkError.maxRetryAttempts", options.maxRetryAttempts, 0, 0)
    const maxRecordAge = options.maxRecordAge === undefined
      ? Infinity
      : Duration.toMillis(yield* durationOption("onSinkError.maxRecordAge", options.maxRecordAge, Duration.zero, Duration.zero, true))
    return {
      maxRetryAttempts,
      retry: options.retry ?? backoff({ base: "100 millis", cap: "5 seconds", maxRetries: Infinity }),
      bisect: options.bisectBatchOnError === true,
      maxRecordAge
    }
  })

/** A record the sink could not take, with its last error's message and the sink calls made on it. */
export interface GivenUp<A> {
  readonly record: StreamRecord<A>
  readonly message: string
  readonly attempts: number
}

/** Delivery stopped: the error to fail the run with, and the records the sink did not take. */
export interface Undelivered<A, E> {
  readonly error: E | SinkRecordsFailed
  readonly records: ReadonlyArray<StreamRecord<A>>
}

/** How one sink call went. */
type Attempt<A, E> =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Failed"; readonly error: E | SinkRecordsFailed; readonly message: string }
  | {
    readonly _tag: "Partial"
    readonly failed: ReadonlyArray<StreamRecord<A>>
    /** Each failing shard's records from its first failure on: what is tried again. */
    readonly again: ReadonlyArray<StreamRecord<A>>
    readonly reason: string
  }

/** A record's place in its shard: sequence number, and inside a KPL aggregate its user record's index. */
interface Place {
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
}

/** A record as a sink may name it: a batch's records carry their sub-sequence number, plain positions may leave it out. */
type Named = Positioned & { readonly subSequenceNumber?: number | undefined }

const placeOf = (r: Named): Place => ({ sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber ?? 0 })

const positionKey = (r: Named) => `${r.shardId}\u0000${r.sequenceNumber}\u0000${r.subSequenceNumber ?? 0}`

/** Sequence numbers are decimal strings without leading zeros: shorter is earlier. */
const isBeforeSequence = (a: string, b: string) => (a.length === b.length ? a < b : a.length < b.length)

/** Whether `a` comes before `b` in their shard. */
const isBefore = (a: Place, b: Place) =>
  a.sequenceNumber === b.sequenceNumber ? a.subSequenceNumber < b.subSequenceNumber : isBeforeSequence(a.sequenceNumber, b.sequenceNumber)

/** Per shard, the earliest place among `records`. */
const firstPositions = (records: Iterable<Named>): Map<string, Place> => {
  const first = new Map<string, Place>()
  for (const r of records) {
    const seen = first.get(r.shardId)
    const place = placeOf(r)
    if (seen === undefined || isBefore(place, seen)) first.set(r.shardId, place)
  }
  return first
}

/** What a sink's answer means for the records it was given. */
const judge = <A, E>(answer: unknown, records: ReadonlyArray<StreamRecord<A>>, attempts: number): Attempt<A, E> => {
  if (!isBatchItemFailures(answer) || answer.records.length === 0) return { _tag: "Done" }
  const wanted = new Set(answer.records.map(positionKey))
  const failed = records.filter((r) => wanted.has(positionKey(r)))
  const known = new Set(failed.map(positionKey))
  const unknown = answer.records.filter((r) => !known.has(positionKey(r)))
  if (unknown.length > 0) {
    // As Lambda does: a report naming records that are not in the batch fails the whole batch.
    const reason = `the sink reported ${unknown.length} failed record(s) that are not in the batch`
    return { _tag: "Failed", error: new SinkRecordsFailed({ records: unknown, reason, attempts }), message: reason }
  }
  const first = firstPositions(failed)
  const again = records.filter((r) => {
    const from = first.get(r.shardId)
    return from !== undefined && !isBefore(r, from)
  })
  return { _tag: "Partial", failed, again, reason: answer.reason }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Hands `batch` to the sink: a failure (an error, or records reported failed) is retried with
 * `settings.retry` up to `maxRetryAttempts` times; a batch that still fails with an error is split
 * in halves (when asked), each half tried the same way. What still fails is given up (answered,
 * for the dead-letter destination) when `canGiveUp`; otherwise delivery stops with the error and
 * the records not delivered.
 */
export const deliver = <A, E, R>(
  sink: (batch: Batch<A>) => Effect.Effect<unknown, E, R>,
  batch: Batch<A>,
  settings: SinkErrorSettings,
  canGiveUp: boolean
): Effect.Effect<ReadonlyArray<GivenUp<A>>, Undelivered<A, E>, R> => {
  const retries = Schedule.intersect(settings.retry, Schedule.recurs(settings.maxRetryAttempts))
  const call = (part: Batch<A>, attempts: number): Effect.Effect<Attempt<A, E>, never, R> =>
    sink(part).pipe(
      Effect.map((answer) => judge<A, E>(answer, part.records, attempts)),
      Effect.catchAll((error) => Effect.succeed<Attempt<A, E>>({ _tag: "Failed", error, message: messageOf(error) }))
    )

  const deliverPart = (part: Batch<A>): Effect.Effect<ReadonlyArray<GivenUp<A>>, Undelivered<A, E>, R> =>
    Effect.gen(function* () {
      const driver = yield* Schedule.driver(retries)
      const given: Array<GivenUp<A>> = []
      let current = part
      let attempts = 0
      while (true) {
        attempts++
        const outcome = yield* call(current, attempts)
        if (outcome._tag === "Done") return given
        const failing = outcome._tag === "Partial" ? outcome.failed : current.records
        const message = outcome._tag === "Partial" ? outcome.reason : outcome.message
        // Records too old once the sink failed on them are given up at once: no more retries or splits.
        const old = canGiveUp && settings.maxRecordAge !== Infinity ? yield* tooOld(failing, settings.maxRecordAge) : noRecords
        for (const record of old) given.push({ record, message: `older than maxRecordAge after the sink failed: ${message}`, attempts })
        const dropped = new Set(old)
        const failed = outcome._tag === "Partial" ? outcome.failed.filter((r) => !dropped.has(r)) : noRecords
        if (outcome._tag === "Partial" && failed.length === 0) return given
        const from = firstPositions(failed)
        const again = outcome._tag === "Partial"
          ? outcome.again.filter((r) => {
            const first = from.get(r.shardId)
            return !dropped.has(r) && first !== undefined && !isBefore(r, first)
          })
          : current.records.filter((r) => !dropped.has(r))
        if (again.length === 0) return given
        current = { ...current, records: again }
        if (Option.isSome(yield* Effect.option(driver.next(outcome)))) continue
        // Out of retries.
        if (outcome._tag === "Partial") {
          if (canGiveUp) return [...given, ...failed.map((record) => ({ record, message, attempts }))]
          return yield* Effect.fail<Undelivered<A, E>>({
            error: new SinkRecordsFailed({ records: failed.map(positionOf), reason: message, attempts }),
            records: again
          })
        }
        if (settings.bisect && current.records.length > 1) {
          const middle = Math.ceil(current.records.length / 2)
          const second = current.records.slice(middle)
          const halves = Effect.zipWith(
            deliverPart({ ...current, records: current.records.slice(0, middle) }).pipe(
              // The second half was never tried: it is undelivered too.
              Effect.mapError((stop): Undelivered<A, E> => ({ ...stop, records: [...stop.records, ...second] }))
            ),
            Effect.suspend(() => deliverPart({ ...current, records: second })),
            (a, b) => [...a, ...b]
          )
          return [...given, ...(yield* halves)]
        }
        if (canGiveUp) return [...given, ...current.records.map((record) => ({ record, message, attempts }))]
        return yield* Effect.fail<Undelivered<A, E>>({ error: outcome.error, records: current.records })
      }
    })
  return deliverPart(batch)
}

const positionOf = (r: StreamRecord<unknown>): Named =>
  r.subSequenceNumber === 0
    ? { shardId: r.shardId, sequenceNumber: r.sequenceNumber }
    : { shardId: r.shardId, sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber }

const tooOld = <A>(records: ReadonlyArray<StreamRecord<A>>, maxAge: number) =>
  Effect.map(Clock.currentTimeMillis, (now) =>
    records.filter((r) => r.approximateArrivalTimestamp !== undefined && now - r.approximateArrivalTimestamp.getTime() > maxAge))

/**
 * The batch's checkpoints with each shard that has undelivered records moved back to just before
 * the first of them: inside its KPL aggregate when it is not the aggregate's first user record,
 * else after the last record read before it, or no checkpoint when there is none.
 */
export const checkpointsBefore = <T extends Positioned>(draft: Draft<T>, undelivered: ReadonlyArray<Named>): Draft<T> => {
  const first = firstPositions(undelivered)
  if (first.size === 0) return draft
  const checkpoints = new Map(draft.checkpoints)
  for (const [shardId, from] of first) {
    if (from.subSequenceNumber > 0) {
      checkpoints.set(shardId, Checkpoint.sequence(from.sequenceNumber, from.subSequenceNumber))
      continue
    }
    let last: string | undefined
    for (const r of draft.records) {
      if (r.shardId === shardId && isBeforeSequence(r.sequenceNumber, from.sequenceNumber) && (last === undefined || isBeforeSequence(last, r.sequenceNumber))) {
        last = r.sequenceNumber
      }
    }
    if (last === undefined) checkpoints.delete(shardId)
    else checkpoints.set(shardId, Checkpoint.sequence(last))
  }
  return { ...draft, checkpoints }
}

const noRecords: ReadonlyArray<never> = []
