import { Cause, Clock, Duration, Effect, Fiber, Option, Queue, Stream } from "effect"
import { Checkpoint } from "../checkpoint/index.js"
import type { ChildShard, LeaseSession } from "../coordinator/index.js"
import type { BatchCloseReason, Draft, Positioned, RecordChunk } from "./Batch.js"

/** How the batcher closes batches. */
export interface BatcherOptions {
  readonly batchInterval: Duration.Duration
  readonly maxBatchRecords: number
  /**
   * A batch also closes before the record that would take its payload bytes (see {@link payloadBytes})
   * past this. A record bigger than the cap forms a batch of its own. Default: no byte cap.
   */
  readonly maxBatchBytes?: number | undefined
  /** Source chunks held between the source and the batcher. Default 4. */
  readonly bufferChunks?: number
  /** When this completes, reading stops and what was read already is flushed as the last batches. */
  readonly stop?: Effect.Effect<void>
}

type Event<T extends Positioned, E> =
  | { readonly _tag: "Chunk"; readonly chunk: RecordChunk<T> }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failed"; readonly cause: Cause.Cause<E> }
  | { readonly _tag: "Tick"; readonly batch: number }

/**
 * A record's payload bytes as the byte cap counts them: the length of its `data` (raw Kinesis
 * records, before deaggregation and decoding); 0 for records without one.
 */
export const payloadBytes = (record: Positioned): number => {
  const data = (record as { readonly data?: unknown }).data
  return data instanceof Uint8Array ? data.byteLength : 0
}

/** Collects one batch; splits a chunk that would pass a cap and hands back the rest. */
class DraftBuilder<T extends Positioned> {
  readonly records: Array<T> = []
  readonly checkpoints = new Map<string, Checkpoint>()
  readonly lag = new Map<string, number>()
  readonly sessions = new Map<string, LeaseSession>()
  readonly childShards = new Map<string, ReadonlyArray<ChildShard>>()
  /** Payload bytes of `records`. */
  private bytes = 0
  /** A record was left out since it would have passed the byte cap. */
  private bytesFull = false
  constructor(readonly max: number, readonly maxBytes: number) {}

  get full() {
    return this.records.length >= this.max || this.bytesFull || this.bytes >= this.maxBytes
  }

  add(chunk: RecordChunk<T>): RecordChunk<T> | undefined {
    if (chunk.session !== undefined) this.switchSession(chunk.shardId, chunk.session)
    const records = chunk.records
    let room = Math.min(this.max - this.records.length, records.length)
    if (this.maxBytes !== Infinity && room === records.length && chunk.bytes !== undefined && this.bytes + chunk.bytes <= this.maxBytes) {
      // The whole chunk fits: no look at each record.
      this.bytes += chunk.bytes
    } else if (this.maxBytes !== Infinity) {
      // The first record of a batch is always taken, however big: a record over the cap is a batch of its own.
      let n = 0
      while (n < room) {
        const size = payloadBytes(records[n]!)
        if (this.bytes + size > this.maxBytes && this.records.length + n > 0) {
          this.bytesFull = true
          break
        }
        this.bytes += size
        n++
      }
      room = n
      // Nothing of the chunk fits: it goes whole to the next batch, leaving this one untouched.
      if (room === 0 && records.length > 0) return chunk
    }
    const taken = records.length <= room ? records : records.slice(0, room)
    // One push per chunk (arguments stay far below the engine limit: a chunk is at most 10,000 records).
    if (taken.length <= 16_384) this.records.push(...taken)
    else for (const r of taken) this.records.push(r)
    const last = taken[taken.length - 1]
    const whole = taken.length === chunk.records.length
    if (whole && chunk.shardEnded) {
      this.checkpoints.set(chunk.shardId, Checkpoint.shardEnd)
      if (chunk.childShards !== undefined) this.childShards.set(chunk.shardId, chunk.childShards)
    }
    else if (last !== undefined) this.checkpoints.set(chunk.shardId, Checkpoint.sequence(last.sequenceNumber))
    if (chunk.millisBehindLatest !== undefined) this.lag.set(chunk.shardId, chunk.millisBehindLatest)
    return whole ? undefined : { ...chunk, records: records.slice(room), bytes: undefined }
  }

  /**
   * A shard's lease was lost and taken again while this batch filled: what was read under the old
   * holding is dropped, since the new one reads again from the checkpoint.
   */
  private switchSession(shardId: string, session: LeaseSession) {
    const before = this.sessions.get(shardId)
    this.sessions.set(shardId, session)
    if (before === undefined || before === session) return
    const kept = this.records.filter((r) => r.shardId !== shardId)
    this.records.length = 0
    this.bytes = 0
    for (const r of kept) {
      this.records.push(r)
      if (this.maxBytes !== Infinity) this.bytes += payloadBytes(r)
    }
    this.checkpoints.delete(shardId)
  }

  close(openedAt: number, closedAt: number, closedBy: BatchCloseReason): Draft<T> {
    return {
      records: this.records,
      openedAt,
      closedAt,
      closedBy,
      checkpoints: this.checkpoints,
      millisBehindLatest: this.lag,
      sessions: this.sessions,
      childShards: this.childShards
    }
  }
}

/**
 * Turns source chunks into batches that close when `batchInterval` has passed since they opened,
 * when they hold `maxBatchRecords` records, or before the record that would take them past
 * `maxBatchBytes` payload bytes, whichever comes first (`closedBy: "size"` for both caps). Every interval yields a batch,
 * empty or not, as in Spark Streaming. Per-shard order is kept; a chunk is never reordered.
 * Timing runs on Effect's `Clock`; the wait for records is never interrupted (a timer posts a
 * tick instead), so no record can be lost between a time-out and a take. When the source fails,
 * the records read before the failure close a last batch (`closedBy: "failure"`), so they can be
 * processed and checkpointed, and then the stream fails with the source's error.
 */
export const batchChunks = <T extends Positioned, E, R>(
  source: Stream.Stream<RecordChunk<T>, E, R>,
  options: BatcherOptions
): Stream.Stream<Draft<T>, E, R> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const intervalMillis = Duration.toMillis(options.batchInterval)
      const events = yield* Queue.unbounded<Event<T, E>>()
      // Bounds the chunks waiting here: the source waits for a slot before it hands one over.
      const slots = yield* Effect.makeSemaphore(options.bufferChunks ?? 4)
      const forward = Stream.runForEach(source, (chunk) =>
        Effect.zipRight(slots.take(1), Queue.offer(events, { _tag: "Chunk", chunk }))
      ).pipe(
        Effect.matchCauseEffect({
          onSuccess: () => Queue.offer(events, { _tag: "End" }),
          onFailure: (cause) =>
            Cause.isInterruptedOnly(cause) ? Effect.void : Queue.offer(events, { _tag: "Failed", cause })
        })
      )
      const forwarder = yield* Effect.forkScoped(forward)
      if (options.stop !== undefined) {
        yield* options.stop.pipe(
          Effect.zipRight(Fiber.interrupt(forwarder)),
          Effect.zipRight(Queue.offer(events, { _tag: "End" })),
          Effect.forkScoped
        )
      }

      const scope = yield* Effect.scope
      let batchNumber = 0
      let carry: RecordChunk<T> | undefined
      let ended = false
      // The source failed: what was read before goes out as a last batch, then the stream fails.
      let failure: Cause.Cause<E> | undefined

      const nextBatch: Effect.Effect<Draft<T>, Option.Option<E>> = Effect.gen(function* () {
        if (failure !== undefined && carry === undefined) return yield* Effect.failCause(Cause.map(failure, Option.some))
        if (ended && carry === undefined) return yield* Effect.fail(Option.none())
        const openedAt = yield* Clock.currentTimeMillis
        const current = ++batchNumber
        const draft = new DraftBuilder<T>(options.maxBatchRecords, options.maxBatchBytes ?? Infinity)
        if (carry !== undefined) carry = draft.add(carry)
        if (draft.full || ended || failure !== undefined) {
          return draft.close(openedAt, yield* Clock.currentTimeMillis, draft.full ? "size" : failure !== undefined ? "failure" : "end")
        }
        const timer = yield* Effect.sleep(Duration.millis(intervalMillis)).pipe(
          Effect.zipRight(Queue.offer(events, { _tag: "Tick", batch: current })),
          Effect.forkIn(scope)
        )
        let closedBy: BatchCloseReason | undefined
        while (closedBy === undefined) {
          const event = yield* Queue.take(events)
          switch (event._tag) {
            case "Tick":
              if (event.batch === current) closedBy = "interval"
              break
            case "End":
              ended = true
              closedBy = "end"
              break
            case "Failed":
              failure = event.cause
              // Nothing read since the last batch: fail now rather than hand on an empty one.
              if (draft.records.length === 0 && draft.checkpoints.size === 0) return yield* Effect.failCause(Cause.map(event.cause, Option.some))
              closedBy = "failure"
              break
            case "Chunk":
              yield* slots.release(1)
              carry = draft.add(event.chunk)
              if (draft.full) closedBy = "size"
          }
        }
        yield* Fiber.interrupt(timer)
        return draft.close(openedAt, yield* Clock.currentTimeMillis, closedBy)
      })
      return Stream.repeatEffectOption(nextBatch)
    })
  )
