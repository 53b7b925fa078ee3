import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect, Schedule } from "effect"
import { type Batch, Codec, DeadLetter, type DeadLetterRecord, Pipeline, SinkRecordsFailed } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { effectProperty } from "./support/stateful.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const SHARD_0 = "shardId-000000000000"
const SHARD_1 = "shardId-000000000001"
/** Explicit hash keys that land in the first and the second of two shards. */
const hashKeyOf = { [SHARD_0]: "0", [SHARD_1]: (2n ** 128n - 1n).toString() }

const orders = Pipeline.fromKinesis({ streamName: "orders", codec: Codec.utf8, batchInterval: "1 second" })

/** Records a0..a5 on the first shard and b0..b5 on the second. */
const twoShards = ["a", "b"].flatMap((prefix, s) =>
  Array.from({ length: 6 }, (_, i) => ({
    partitionKey: "k",
    explicitHashKey: hashKeyOf[s === 0 ? SHARD_0 : SHARD_1],
    data: encoder.encode(`${prefix}${i}`)
  })))

/**
 * A sink that reports as failed the records whose value `fails(value, attempt)` says (attempt
 * counts this record's deliveries from 1), and keeps what each call got and what it accepted.
 */
const reportingSink = (fails: (value: string, attempt: number) => boolean) => {
  const calls: Array<ReadonlyArray<string>> = []
  const accepted: Array<string> = []
  const deliveries = new Map<string, number>()
  const sink = (batch: Batch<string>) =>
    Effect.sync(() => {
      if (batch.records.length === 0) return undefined
      calls.push(batch.records.map((r) => r.value))
      const failed = batch.records.filter((r) => {
        const attempt = (deliveries.get(r.value) ?? 0) + 1
        deliveries.set(r.value, attempt)
        return fails(r.value, attempt)
      })
      for (const r of batch.records) if (!failed.includes(r)) accepted.push(r.value)
      return Pipeline.batchItemFailures(failed, "the warehouse refused them")
    })
  return { sink, calls, accepted, deliveries }
}

const collectingDeadLetters = () => {
  const letters: Array<DeadLetterRecord> = []
  const layer = DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records)))
  return { letters, layer }
}

const noWait = { retry: Schedule.forever }

describe("partial batch failures (ReportBatchItemFailures)", () => {
  it.scoped("a failed record is tried again with the records after it on its shard; the ones before it and the other shard's are not sent again", () =>
    Effect.gen(function* () {
      const { accepted, calls, sink } = reportingSink((value, attempt) => value === "a3" && attempt === 1)
      const test = yield* PipelineTest.make(orders, sink, { shardCount: 2, onSinkError: { maxRetryAttempts: 2, ...noWait } })
      const placed = yield* test.put(twoShards)
      yield* test.drain({ maxIntervals: 20 })
      expect(calls).toHaveLength(2)
      expect([...calls[0]!].sort()).toEqual(twoShards.map((r) => decoder.decode(r.data)).sort())
      expect(calls[1]).toEqual(["a3", "a4", "a5"])
      expect([...new Set(accepted)].sort()).toEqual([...calls[0]!].sort())
      const checkpoints = yield* test.checkpoints
      expect(checkpoints.get(SHARD_0)).toMatchObject({ sequenceNumber: placed[5]!.sequenceNumber })
      expect(checkpoints.get(SHARD_1)).toMatchObject({ sequenceNumber: placed[11]!.sequenceNumber })
    }))

  it.scoped("a record the sink keeps refusing goes to the dead letters after maxRetryAttempts; the records after it went through", () =>
    Effect.gen(function* () {
      const { accepted, calls, sink } = reportingSink((value) => value === "a3")
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(orders, sink, { shardCount: 2, onSinkError: { maxRetryAttempts: 2, ...noWait } }).pipe(
        Effect.provide(dead.layer)
      )
      const placed = yield* test.put(twoShards)
      yield* test.drain({ maxIntervals: 20 })
      expect(calls.slice(1)).toEqual([["a3", "a4", "a5"], ["a3", "a4", "a5"]])
      expect(accepted).not.toContain("a3")
      expect(new Set(accepted)).toEqual(new Set(twoShards.map((r) => decoder.decode(r.data)).filter((v) => v !== "a3")))
      expect(dead.letters).toHaveLength(1)
      expect(dead.letters[0]).toMatchObject({
        streamName: "orders",
        shardId: SHARD_0,
        sequenceNumber: placed[3]!.sequenceNumber,
        data: encoder.encode("a3"),
        reason: { kind: "sink", message: "the warehouse refused them", attempts: 3 }
      })
      const summary = yield* test.stop
      expect(summary.deadLettered).toBe(1)
      expect((yield* test.checkpoints).get(SHARD_0)).toMatchObject({ sequenceNumber: placed[5]!.sequenceNumber })
    }))

  it.scoped("with nowhere to give them up the run fails with SinkRecordsFailed, each shard checkpointed just before its first failure; a restart goes on from there", () =>
    Effect.gen(function* () {
      let refusing = true
      const { accepted, sink } = reportingSink((value) => refusing && (value === "a3" || value === "a4" || value === "b0"))
      const test = yield* PipelineTest.make(orders, sink, { shardCount: 2 })
      const placed = yield* test.put(twoShards)
      const error = yield* Effect.flip(test.drain({ maxIntervals: 20 }))
      expect(error).toBeInstanceOf(SinkRecordsFailed)
      const failed = error as SinkRecordsFailed
      expect(failed.attempts).toBe(1)
      expect(failed.records.map((r) => r.sequenceNumber).sort()).toEqual([placed[3], placed[4], placed[6]].map((p) => p!.sequenceNumber).sort())
      expect(failed.message).toContain("the warehouse refused them")
      // a0..a2 are done; nothing of the second shard is (its first record failed).
      expect(yield* test.checkpoints).toEqual(new Map([[SHARD_0, { _tag: "Sequence", sequenceNumber: placed[2]!.sequenceNumber, subSequenceNumber: 0 }]]))
      refusing = false
      accepted.length = 0
      yield* test.restart
      yield* test.drain({ maxIntervals: 20 })
      expect([...accepted].sort()).toEqual(["a3", "a4", "a5", "b0", "b1", "b2", "b3", "b4", "b5"])
    }))

  it.scoped("an aggregating pipeline cannot be checkpointed record by record: an unresolved partial failure leaves the whole batch unchecked", () =>
    Effect.gen(function* () {
      const counts = orders.pipe(Pipeline.keyBy((v) => v.slice(0, 1)), Pipeline.countByKey())
      const test = yield* PipelineTest.make(counts, (batch) =>
        Effect.succeed(Pipeline.batchItemFailures(batch.records.filter((r) => r.value[0] === "a"))), { shardCount: 2 })
      yield* test.put(twoShards)
      const error = yield* Effect.flip(test.drain({ maxIntervals: 20 }))
      expect(error).toBeInstanceOf(SinkRecordsFailed)
      expect((yield* test.checkpoints).size).toBe(0)
    }))

  it.scoped("a report naming a record that is not in the batch fails the whole batch (as Lambda does)", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(orders, (batch) =>
        Effect.succeed(batch.records.length === 0 ? undefined : Pipeline.batchItemFailures([{ shardId: SHARD_0, sequenceNumber: "1" }])), { shardCount: 2 })
      yield* test.put(twoShards)
      const error = yield* Effect.flip(test.drain({ maxIntervals: 20 }))
      expect(error).toBeInstanceOf(SinkRecordsFailed)
      expect((error as SinkRecordsFailed).reason).toContain("not in the batch")
      expect((yield* test.checkpoints).size).toBe(0)
    }))

  it("property: under any pattern of failed records and any retry count, every record is accepted or dead-lettered, a dead letter failed its last delivery, and every shard is checkpointed to its end", () =>
    effectProperty(
      [
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 })
      ],
      (layout, maxRetryAttempts, seed) =>
        Effect.gen(function* () {
          // Each record fails on a delivery with a probability drawn per record, decided by a hash of (seed, value, attempt).
          const odds = new Map(layout.map(([, weight], i) => [`r${i}`, weight / 4]))
          const roll = (value: string, attempt: number) => {
            let h = seed ^ attempt * 0x9e3779b1
            for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x85ebca6b)
            return ((h >>> 0) % 1000) / 1000
          }
          const { accepted, deliveries, sink } = reportingSink((value, attempt) => roll(value, attempt) < odds.get(value)!)
          const lastFailed = new Set<string>()
          const watched = (batch: Batch<string>) =>
            Effect.map(sink(batch), (answer) => {
              for (const r of batch.records) lastFailed.delete(r.value)
              for (const r of answer?.records ?? []) lastFailed.add((r as unknown as { value: string }).value)
              return answer
            })
          const dead = collectingDeadLetters()
          const test = yield* PipelineTest.make(orders, watched, { shardCount: 2, onSinkError: { maxRetryAttempts, ...noWait } }).pipe(
            Effect.provide(dead.layer)
          )
          const placed = yield* test.put(layout.map(([shard], i) => ({
            partitionKey: "k",
            explicitHashKey: hashKeyOf[shard === 0 ? SHARD_0 : SHARD_1],
            data: encoder.encode(`r${i}`)
          })))
          yield* test.drain({ maxIntervals: 50 })
          const letters = dead.letters.map((l) => decoder.decode(l.data))
          const all = layout.map((_, i) => `r${i}`)
          expect(new Set([...accepted, ...letters])).toEqual(new Set(all))
          for (const value of letters) {
            expect(lastFailed.has(value)).toBe(true)
            expect(deliveries.get(value)).toBeLessThanOrEqual(maxRetryAttempts + 1)
          }
          expect(new Set(letters).size).toBe(letters.length)
          const checkpoints = yield* test.checkpoints
          for (const shardId of [SHARD_0, SHARD_1]) {
            const last = placed.filter((p) => p.shardId === shardId).at(-1)
            expect(checkpoints.get(shardId)?._tag === "Sequence" ? (checkpoints.get(shardId) as { sequenceNumber: string }).sequenceNumber : undefined)
              .toBe(last?.sequenceNumber)
          }
        }),
      40
    ), 60_000)
})
