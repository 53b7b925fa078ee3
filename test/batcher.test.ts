import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Exit, Fiber, Stream, TestClock } from "effect"
import * as fc from "fast-check"
import type { SourceChunk, StreamRecord } from "../src/pipeline/Batch.js"
import { batchChunks } from "../src/pipeline/batcher.js"

const record = (shardId: string, n: number): StreamRecord<string> => ({
  value: `${shardId}#${n}`,
  shardId,
  sequenceNumber: String(1000 + n).padStart(8, "0"),
  subSequenceNumber: 0,
  partitionKey: `pk-${n}`,
  approximateArrivalTimestamp: undefined
})

/** Shards with record counts, cut into chunks and interleaved in a random order that keeps each shard's order. */
const arbitrarySource = fc
  .record({
    shards: fc.array(fc.record({ records: fc.nat({ max: 60 }), cuts: fc.array(fc.integer({ min: 1, max: 15 }), { maxLength: 20 }), ended: fc.boolean() }), {
      minLength: 1,
      maxLength: 5
    }),
    order: fc.array(fc.nat(), { maxLength: 200 })
  })
  .map(({ order, shards }) => {
    const queues = shards.map((shard, s) => {
      const shardId = `shard-${s}`
      const all = Array.from({ length: shard.records }, (_, n) => record(shardId, n))
      const chunks: Array<SourceChunk<string>> = []
      let at = 0
      for (const cut of shard.cuts) {
        if (at >= all.length) break
        chunks.push({ shardId, records: all.slice(at, at + cut), millisBehindLatest: 7, shardEnded: false })
        at += cut
      }
      if (at < all.length) chunks.push({ shardId, records: all.slice(at), millisBehindLatest: 7, shardEnded: false })
      if (shard.ended) {
        const last = chunks.pop()
        chunks.push(last === undefined ? { shardId, records: [], millisBehindLatest: 0, shardEnded: true } : { ...last, shardEnded: true })
      }
      return { shardId, all, ended: shard.ended, chunks }
    })
    const interleaved: Array<SourceChunk<string>> = []
    const pending = queues.map((q) => [...q.chunks])
    let i = 0
    while (pending.some((p) => p.length > 0)) {
      const open = pending.filter((p) => p.length > 0)
      const pick = open[(order[i++] ?? 0) % open.length]!
      interleaved.push(pick.shift()!)
    }
    return { shards: queues, interleaved }
  })

const runBatcher = (chunks: ReadonlyArray<SourceChunk<string>>, maxBatchRecords: number) =>
  Stream.fromIterable(chunks).pipe(
    // An hour-long interval never fires here: batches close on size or at the end of the input.
    (source) => batchChunks(source, { batchInterval: Duration.hours(1), maxBatchRecords }),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )

describe("batchChunks", () => {
  it("delivers every record exactly once, in order per shard, never more than maxBatchRecords per batch", async () => {
    await fc.assert(
      fc.asyncProperty(arbitrarySource, fc.integer({ min: 1, max: 40 }), async ({ interleaved, shards }, max) => {
        const batches = await Effect.runPromise(runBatcher(interleaved, max))
        for (const batch of batches) expect(batch.records.length).toBeLessThanOrEqual(max)
        for (const shard of shards) {
          const delivered = batches.flatMap((b) => b.records.filter((r) => r.shardId === shard.shardId))
          expect(delivered.map((r) => r.value)).toEqual(shard.all.map((r) => r.value))
        }
        const total = shards.reduce((n, s) => n + s.all.length, 0)
        expect(batches.reduce((n, b) => n + b.records.length, 0)).toBe(total)
      }),
      { numRuns: 200 }
    )
  })

  it("checkpoints each shard at its last record in the batch, and SHARD_END once its last chunk is in", async () => {
    await fc.assert(
      fc.asyncProperty(arbitrarySource, fc.integer({ min: 1, max: 40 }), async ({ interleaved, shards }, max) => {
        const batches = await Effect.runPromise(runBatcher(interleaved, max))
        for (const batch of batches) {
          for (const [shardId, checkpoint] of batch.checkpoints) {
            const inBatch = batch.records.filter((r) => r.shardId === shardId)
            if (checkpoint._tag === "Sequence") {
              expect(checkpoint.sequenceNumber).toBe(inBatch[inBatch.length - 1]?.sequenceNumber)
            }
          }
          const shardIds = new Set(batch.records.map((r) => r.shardId))
          for (const id of shardIds) expect(batch.checkpoints.has(id)).toBe(true)
        }
        for (const shard of shards) {
          const ends = batches.filter((b) => b.checkpoints.get(shard.shardId)?._tag === "ShardEnd")
          expect(ends.length).toBe(shard.ended ? 1 : 0)
          // SHARD_END comes with (or after) the shard's last record, never before it.
          if (shard.ended && shard.all.length > 0) {
            const endAt = batches.indexOf(ends[0]!)
            const lastAt = batches.findIndex((b) => b.records.includes(shard.all[shard.all.length - 1]!))
            expect(endAt).toBe(lastAt)
          }
        }
      }),
      { numRuns: 200 }
    )
  })

  it.effect("closes a batch when the interval passes, on the test clock, and yields empty batches when idle", () =>
    Effect.gen(function* () {
      const first: SourceChunk<string> = { shardId: "a", records: [record("a", 1), record("a", 2)], millisBehindLatest: 0, shardEnded: false }
      const source = Stream.concat(Stream.make(first), Stream.never)
      const fiber = yield* batchChunks(source, { batchInterval: Duration.seconds(1), maxBatchRecords: 100 }).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("1 second")
      const batches = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(batches.map((b) => [b.records.length, b.closedBy])).toEqual([[2, "interval"], [0, "interval"]])
      expect(batches[0]!.closedAt - batches[0]!.openedAt).toBe(1000)
      // Nothing keeps sleeping after the stream is done.
      expect(yield* TestClock.sleeps()).toHaveLength(0)
    })
  )

  it.effect("a size-closed batch opens the next one at once, with a full interval of its own", () =>
    Effect.gen(function* () {
      const chunk: SourceChunk<string> = {
        shardId: "a",
        records: [1, 2, 3, 4, 5].map((n) => record("a", n)),
        millisBehindLatest: 0,
        shardEnded: false
      }
      const fiber = yield* batchChunks(Stream.concat(Stream.make(chunk), Stream.never), {
        batchInterval: Duration.seconds(1),
        maxBatchRecords: 2
      }).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      // Two batches closed by size without time passing; the third waits its own full interval.
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const batches = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(batches.map((b) => b.records.map((r) => r.value))).toEqual([["a#1", "a#2"], ["a#3", "a#4"], ["a#5"]])
      expect(batches.map((b) => b.closedBy)).toEqual(["size", "size", "interval"])
    })
  )

  it.effect("stop drains what was read as the last batch and ends the stream", () =>
    Effect.gen(function* () {
      const stop = yield* Deferred.make<void>()
      const chunk = (n: number): SourceChunk<string> => ({ shardId: "a", records: [record("a", n)], millisBehindLatest: 0, shardEnded: false })
      const source = Stream.concat(Stream.make(chunk(1), chunk(2)), Stream.never)
      const fiber = yield* batchChunks(source, { batchInterval: Duration.seconds(10), maxBatchRecords: 100, stop: Deferred.await(stop) }).pipe(
        Stream.runCollect,
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      yield* Deferred.succeed(stop, undefined)
      const batches = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(batches.map((b) => [b.records.map((r) => r.value), b.closedBy])).toEqual([[["a#1", "a#2"], "end"]])
    })
  )

  it.effect("a failing source fails the stream with its error", () =>
    Effect.gen(function* () {
      const chunk: SourceChunk<string> = { shardId: "a", records: [record("a", 1)], millisBehindLatest: 0, shardEnded: false }
      const exit = yield* batchChunks(Stream.concat(Stream.make(chunk), Stream.fail("boom" as const)), {
        batchInterval: Duration.seconds(1),
        maxBatchRecords: 10
      }).pipe(Stream.runCollect, Effect.exit)
      expect(exit).toEqual(Exit.fail("boom"))
    })
  )
})
