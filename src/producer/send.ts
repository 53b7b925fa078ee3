import { Cause, Effect, Either, Exit, Schedule } from "effect"
import type { KinesisApi } from "../kinesis/index.js"
import { type ErrorClass, type RetryOption, retryKinesis, scheduleFor } from "../retry/index.js"
import { ProducerClosed, type ProducerError, RecordRejected } from "./errors.js"
import { classOfErrorCode } from "./limits.js"
import { type Outgoing, type Pending, type PutResult, toRequest } from "./records.js"

// One PutRecords call and its retries. A failed call is retried whole by `retryKinesis` (by error
// class), then fails every entry. Entries the service refuses are put again alone: throttled or
// transient ErrorCodes on that class's schedule (one driver per class for the whole call), any
// other ErrorCode fails its entry at once.

/** What a call needs of its producer. */
export interface CallContext {
  readonly api: KinesisApi
  readonly streamName: string
  readonly retry: RetryOption
  /** Answers carry a shard to check against the predicted one. */
  readonly aggregating: boolean
  /** Completes an entry's users not yet settled; answers how many permits to give back. */
  readonly settle: (entry: Outgoing, exit: (user: Pending, index: number) => Exit.Exit<PutResult, ProducerError>) => number
  /** Gives back permits and wakes the background fiber. */
  readonly release: (freed: number) => Effect.Effect<void>
  /** A record landed on another shard than predicted. */
  readonly markStale: () => void
  /** The call is over: runs once, before its unsettled users (after an interruption) are failed. */
  readonly callEnded: () => void
}

const rejected = (
  streamName: string,
  entry: Outgoing,
  user: Pending,
  errorCode: string,
  errorMessage: string | undefined
) =>
  new RecordRejected({
    streamName,
    partitionKey: user.partitionKey,
    errorCode,
    errorMessage: errorMessage ?? "",
    attempts: entry.attempts
  })

/** Sends `batch` until every entry is stored or has failed; settles each user exactly once. */
export const sendCall = (ctx: CallContext, batch: ReadonlyArray<Outgoing>): Effect.Effect<void> => {
  const { api, release, settle, streamName } = ctx
  let pending = batch
  const drivers = new Map<ErrorClass, Schedule.ScheduleDriver<unknown, unknown>>()
  const attempt: Effect.Effect<boolean> = Effect.gen(function* () {
    for (const entry of pending) entry.attempts++
    const result = yield* Effect.either(
      api.putRecords({ StreamName: streamName, Records: pending.map(toRequest) }).pipe(retryKinesis(ctx.retry))
    )
    if (Either.isLeft(result)) {
      const error = result.left
      let freed = 0
      for (const entry of pending) freed += settle(entry, () => Exit.fail(error))
      yield* release(freed)
      return false
    }
    const answers = result.right.Records ?? []
    const refused: Array<{ entry: Outgoing; errorClass: ErrorClass }> = []
    let freed = 0
    pending.forEach((entry, i) => {
      const answer = answers[i]
      const shardId = answer?.ShardId
      const sequenceNumber = answer?.SequenceNumber
      if (answer?.ErrorCode === undefined && shardId !== undefined && sequenceNumber !== undefined) {
        if (ctx.aggregating && entry.predictedShard !== shardId) ctx.markStale()
        freed += settle(entry, (_, index) =>
          Exit.succeed({ shardId, sequenceNumber, subSequenceNumber: entry.aggregated ? index : 0 }))
        return
      }
      const errorCode = answer?.ErrorCode ?? "InternalFailure"
      const errorClass = classOfErrorCode(errorCode)
      if (errorClass !== undefined) return void refused.push({ entry, errorClass })
      freed += settle(entry, (user) => Exit.fail(rejected(streamName, entry, user, errorCode, answer?.ErrorMessage)))
    })
    yield* release(freed)
    if (refused.length === 0) return false
    const errorClass: ErrorClass = refused.some((r) => r.errorClass === "throttled") ? "throttled" : "transient"
    let driver = drivers.get(errorClass)
    if (driver === undefined) {
      driver = yield* Schedule.driver(scheduleFor(ctx.retry, errorClass))
      drivers.set(errorClass, driver)
    }
    const goOn = yield* Effect.option(driver.next(undefined))
    if (goOn._tag === "None") {
      let given = 0
      for (const { entry } of refused) {
        const index = pending.indexOf(entry)
        const answer = answers[index]
        given += settle(entry, (user) =>
          Exit.fail(rejected(streamName, entry, user, answer?.ErrorCode ?? "InternalFailure", answer?.ErrorMessage)))
      }
      yield* release(given)
      return false
    }
    pending = refused.map((r) => r.entry)
    return true
  })
  return Effect.iterate(true, { while: (again) => again, body: () => attempt }).pipe(
    Effect.asVoid,
    Effect.onExit((exit) =>
      Effect.suspend(() => {
        ctx.callEnded()
        // Only an interruption (or a defect) leaves users unsettled here.
        const closed = Exit.fail(new ProducerClosed({ streamName }))
        const ended = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? Exit.failCause(exit.cause) : closed
        let freed = 0
        for (const entry of batch) freed += settle(entry, () => ended)
        return release(freed)
      })
    )
  )
}
