import { Clock, Deferred, Duration, Effect, Exit, Queue, type Scope } from "effect"
import type { InvalidOption } from "../config/index.js"
import { Kinesis, type KinesisError } from "../kinesis/index.js"
import { ProducerClosed, type ProducerError, type RecordTooLarge } from "./errors.js"
import { MAX_CALL_BYTES, MAX_CALL_RECORDS } from "../kinesis/limits.js"
import { type ProducerOptions, settingsOf } from "./options.js"
import { planCall } from "./plan.js"
import { checkSize, type Encoded, encodeWith, isEncoded, type Outgoing, type Pending, type Prepared, type PutResult } from "./records.js"
import { makeRecordLimit } from "./recordLimit.js"
import { sendCall } from "./send.js"
import { makeShardRouting } from "./shardMap.js"

export type { AggregationOptions, ProducerOptions } from "./options.js"
export type { PutResult } from "./records.js"

/**
 * Puts typed messages into a Kinesis stream in batched PutRecords calls.
 *
 * @example
 * ```ts
 * const result = yield* producer.put(create(AccessLogSchema, { host: "a", path: "/" }))
 * const results = yield* producer.putAll(logs)
 * ```
 */
export interface Producer<A> {
  readonly streamName: string
  /** Buffers one message and answers where Kinesis stored it; waits while the buffer is full. */
  readonly put: (message: A) => Effect.Effect<PutResult, ProducerError>
  /**
   * Buffers messages in order and answers where each was stored. If any message is invalid
   * (encoding, key, size), fails with its error and buffers none of them.
   */
  readonly putAll: (messages: Iterable<A>) => Effect.Effect<ReadonlyArray<PutResult>, ProducerError>
}

const make = <A>(
  options: ProducerOptions<A>
): Effect.Effect<Producer<A>, InvalidOption | KinesisError, Kinesis | Scope.Scope> =>
  Effect.gen(function* () {
    const settings = yield* settingsOf(options)
    const api = yield* Kinesis
    const streamName = options.streamName
    const ordered = options.ordered === true
    const maxAggregateBytes = settings.maxAggregateBytes
    const aggregating = maxAggregateBytes !== undefined
    const encode = encodeWith(options)
    const limits = yield* makeRecordLimit(api, streamName, settings.maxRecordBytes, settings.retry)
    const routing = yield* makeShardRouting(api, streamName, settings.retry, aggregating)

    const permits = yield* Effect.makeSemaphore(settings.maxBuffered)
    const doorbell = yield* Queue.dropping<void>(1)
    const ring = () => void doorbell.unsafeOffer(undefined)

    let buffer: Array<Pending> = []
    let bufferedBytes = 0
    /** Records buffered or in flight (the permits taken). */
    let held = 0
    let inFlightCalls = 0
    let closing = false
    const inFlightKeys = new Set<string>()

    // --- settling ---------------------------------------------------------------------------

    /** Completes the users of entries; answers how many permits to give back. */
    const settle = (entry: Outgoing, exit: (user: Pending, index: number) => Exit.Exit<PutResult, ProducerError>): number => {
      let freed = 0
      entry.users.forEach((user, i) => {
        if (user.settled) return
        user.settled = true
        freed++
        Deferred.unsafeDone(user.deferred, exit(user, i))
      })
      if (ordered) for (const key of entry.keys) inFlightKeys.delete(key)
      held -= freed
      return freed
    }
    const release = (freed: number) =>
      Effect.suspend(() => {
        ring()
        return freed > 0 ? permits.release(freed) : Effect.void
      })

    const call = {
      api,
      streamName,
      retry: settings.retry,
      aggregating,
      settle,
      release,
      markStale: routing.markStale,
      callEnded: () => void inFlightCalls--
    }

    /** Takes the planned records out of the buffer. */
    const commit = (taken: ReadonlySet<number>) => {
      const rest: Array<Pending> = []
      for (let i = 0; i < buffer.length; i++) {
        const p = buffer[i]!
        if (taken.has(i)) bufferedBytes -= p.size
        else rest.push(p)
      }
      buffer = rest
    }

    // --- the background fiber ----------------------------------------------------------------

    const step: Effect.Effect<boolean> = Effect.gen(function* () {
      if (routing.isStale()) yield* routing.refresh
      if (closing && buffer.length === 0 && inFlightCalls === 0) return false
      const now = yield* Clock.currentTimeMillis
      let wait: number | undefined
      if (inFlightCalls < settings.maxInFlight && buffer.length > 0) {
        const next = planCall({ buffer, ordered, inFlightKeys, shardOf: routing.shardOf }, maxAggregateBytes)
        if (next.entries.length > 0) {
          const due = next.full || closing || held >= settings.maxBuffered || next.oldest + settings.linger <= now
          if (due) {
            commit(next.taken)
            if (ordered) for (const entry of next.entries) for (const key of entry.keys) inFlightKeys.add(key)
            inFlightCalls++
            yield* Effect.fork(sendCall(call, next.entries))
            return true
          }
          wait = next.oldest + settings.linger - now
        }
      }
      if (wait === undefined) yield* Queue.take(doorbell)
      else yield* Effect.raceFirst(Queue.take(doorbell), Effect.sleep(Duration.millis(wait)))
      return true
    })

    const failBuffered = Effect.suspend(() => {
      const left = buffer
      buffer = []
      bufferedBytes = 0
      for (const p of left) {
        if (p.settled) continue
        p.settled = true
        Deferred.unsafeDone(p.deferred, Exit.fail(new ProducerClosed({ streamName })))
      }
      return Effect.void
    })

    const loop = Effect.iterate(true, { while: (again) => again, body: () => step }).pipe(Effect.ensuring(failBuffered))
    yield* Effect.forkScoped(loop).pipe(
      Effect.tap((fiber) =>
        // Runs before forkScoped's interruption (finalizers run in reverse): drains first.
        Effect.addFinalizer(() =>
          Effect.suspend(() => {
            closing = true
            ring()
            return Effect.asVoid(fiber.await)
          })
        )
      )
    )

    // --- putting -----------------------------------------------------------------------------

    const ringThresholds = (wasEmpty: boolean) => {
      if (
        wasEmpty ||
        held >= settings.maxBuffered ||
        bufferedBytes >= MAX_CALL_BYTES ||
        (!aggregating && buffer.length >= MAX_CALL_RECORDS)
      ) ring()
    }

    /** Appends prepared records (permits already taken) and answers their deferreds. */
    const enqueue = (records: ReadonlyArray<Prepared>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.fiberIdWith((fiberId) => {
          if (closing) {
            return Effect.zipRight(permits.release(records.length), Effect.fail(new ProducerClosed({ streamName })))
          }
          const wasEmpty = buffer.length === 0
          const deferreds = records.map((record) => {
            const deferred = Deferred.unsafeMake<PutResult, ProducerError>(fiberId)
            buffer.push({ ...record, enqueuedAt: now, deferred, settled: false })
            bufferedBytes += record.size
            return deferred
          })
          held += records.length
          ringThresholds(wasEmpty)
          return Effect.succeed(deferreds)
        }))

    const admit = (records: ReadonlyArray<Prepared>) =>
      Effect.uninterruptibleMask((restore) => Effect.zipRight(restore(permits.take(records.length)), enqueue(records)))

    const checkAgainst = (encoded: ReadonlyArray<Encoded>, limit: number): Array<Prepared> | RecordTooLarge => {
      const out: Array<Prepared> = []
      for (const e of encoded) {
        const checked = checkSize(e, limit, aggregating)
        if ("_tag" in checked) return checked
        out.push(checked)
      }
      return out
    }
    /** Checks sizes against the stream's limit, reading it first when a record is over what is known. */
    const checkSizes = (encoded: ReadonlyArray<Encoded>): Effect.Effect<Array<Prepared>, RecordTooLarge> => {
      const first = checkAgainst(encoded, limits.current())
      if (Array.isArray(first)) return Effect.succeed(first)
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        limits.mayGrow(first.bytes, now)
          ? Effect.flatMap(limits.lookUp, (limit) => {
            const again = checkAgainst(encoded, limit)
            return Array.isArray(again) ? Effect.succeed(again) : Effect.fail(again)
          })
          : Effect.fail(first))
    }

    const put = (message: A): Effect.Effect<PutResult, ProducerError> =>
      Effect.suspend(() => {
        const encoded = encode(message)
        if (!isEncoded(encoded)) return Effect.fail(encoded)
        return checkSizes([encoded]).pipe(
          Effect.flatMap(admit),
          Effect.flatMap(([deferred]) => Deferred.await(deferred!))
        )
      })

    const putAll = (messages: Iterable<A>): Effect.Effect<ReadonlyArray<PutResult>, ProducerError> =>
      Effect.suspend(() => {
        const encoded: Array<Encoded> = []
        for (const message of messages) {
          const one = encode(message)
          if (!isEncoded(one)) return Effect.fail(one)
          encoded.push(one)
        }
        return Effect.flatMap(checkSizes(encoded), (prepared) => admitSlices(prepared))
      })

    const admitSlices = (prepared: ReadonlyArray<Prepared>): Effect.Effect<ReadonlyArray<PutResult>, ProducerError> =>
      Effect.suspend(() => {
        const slices: Array<ReadonlyArray<Prepared>> = []
        for (let i = 0; i < prepared.length; i += settings.maxBuffered) {
          slices.push(prepared.slice(i, i + settings.maxBuffered))
        }
        return Effect.flatMap(
          Effect.forEach(slices, admit),
          (chunks) => Effect.forEach(chunks.flat(), (deferred) => Deferred.await(deferred))
        )
      })

    return { streamName, put, putAll }
  })

/**
 * Typed Kinesis producers.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const producer = yield* Producer.make({
 *     streamName: "access-logs",
 *     codec: Codec.protobuf(AccessLogSchema),
 *     partitionKey: (log) => log.host
 *   })
 *   const { sequenceNumber, shardId } = yield* producer.put(create(AccessLogSchema, { host: "a", path: "/" }))
 * })) // closing the scope sends what is still buffered
 * ```
 */
export const Producer = {
  /**
   * A producer in a scope: a background fiber sends what is buffered in PutRecords calls;
   * closing the scope sends everything put before, then stops the fiber. Fails with
   * `InvalidOption` for bad options, and with a `KinesisError` when aggregating and the shards
   * cannot be listed.
   *
   * @example
   * ```ts
   * const producer = yield* Producer.make({ streamName: "orders", codec: Codec.json<Order>(), partitionKey: (o) => o.id })
   * ```
   */
  make
} as const
