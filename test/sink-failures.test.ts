import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, Schedule } from "effect"
import { type Batch, Codec, DeadLetter, type DeadLetterRecord, Pipeline, readDeadLetters } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

const encoder = new TextEncoder()
class Refused extends Data.TaggedError("Refused")<{ readonly value: string }> {
  override get message() {
    return `the warehouse refused ${this.value}`
  }
}

const pipeline = Pipeline.fromKinesis({ streamName: "orders", codec: Codec.utf8, batchInterval: "1 second" })

/** A sink that refuses any batch holding `poison`, and records what it accepted and how often it was called. */
const pickySink = (poison: string) => {
  const accepted: Array<string> = []
  const calls: Array<number> = []
  const sink = (batch: Batch<string>) =>
    Effect.suspend(() => {
      calls.push(batch.records.length)
      if (batch.records.some((r) => r.value === poison)) return Effect.fail(new Refused({ value: poison }))
      for (const r of batch.records) accepted.push(r.value)
      return Effect.void
    })
  return { sink, accepted, calls }
}

const tempFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "shardline-sink-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "dead-letters.jsonl")))

describe("a failing sink, Lambda-style", () => {
  it.scoped("bisection isolates the one record the sink refuses; after its retries it lands in the dead-letter file, everything else is processed", () =>
    Effect.gen(function* () {
      const path = yield* tempFile
      const { sink, accepted, calls } = pickySink("v37")
      const test = yield* PipelineTest.make(pipeline, sink, {
        shardCount: 1,
        onSinkError: { maxRetryAttempts: 2, bisectBatchOnError: true }
      }).pipe(Effect.provide(DeadLetter.layerFile({ path })))
      const values = Array.from({ length: 64 }, (_, i) => `v${i}`)
      const placed = yield* test.put(values.map((v) => ({ partitionKey: "k", data: encoder.encode(v) })))
      yield* test.drain({ maxIntervals: 50 })
      expect(accepted.sort()).toEqual(values.filter((v) => v !== "v37").sort())
      const letters = yield* readDeadLetters(path)
      expect(letters).toHaveLength(1)
      expect(letters[0]).toMatchObject({
        shardId: placed[37]!.shardId,
        sequenceNumber: placed[37]!.sequenceNumber,
        data: encoder.encode("v37"),
        reason: { kind: "sink", attempts: 3, message: "the warehouse refused v37" }
      })
      // The lone poison record was tried 3 times (1 + 2 retries) once isolated: calls of size 1 for it.
      expect(calls.filter((n) => n === 1).length).toBeGreaterThanOrEqual(3)
    }))

  it.scoped("without bisection the whole failing batch goes to the dead letters after its retries", () =>
    Effect.gen(function* () {
      const path = yield* tempFile
      const { sink, accepted } = pickySink("v3")
      const test = yield* PipelineTest.make(pipeline, sink, { shardCount: 1, onSinkError: { maxRetryAttempts: 1 } }).pipe(
        Effect.provide(DeadLetter.layerFile({ path }))
      )
      yield* test.put(Array.from({ length: 8 }, (_, i) => ({ partitionKey: "k", data: encoder.encode(`v${i}`) })))
      yield* test.drain({ maxIntervals: 50 })
      expect(accepted).toEqual([])
      expect((yield* readDeadLetters(path)).map((l) => new TextDecoder().decode(l.data)).sort()).toEqual(
        Array.from({ length: 8 }, (_, i) => `v${i}`).sort()
      )
    }))

  it.scoped("maxRecordAge: records that grew too old while the sink failed are given up at once, not split and retried further", () =>
    Effect.gen(function* () {
      const path = yield* tempFile
      const { sink, accepted, calls } = pickySink("v5")
      const test = yield* PipelineTest.make(pipeline, sink, {
        shardCount: 1,
        // Retries alone take 3 s, longer than the records may live: after them every record is too old.
        onSinkError: { maxRetryAttempts: 3, retry: Schedule.spaced("1 second"), bisectBatchOnError: true, maxRecordAge: "2 seconds" }
      }).pipe(Effect.provide(DeadLetter.layerFile({ path })))
      yield* test.put(Array.from({ length: 8 }, (_, i) => ({ partitionKey: "k", data: encoder.encode(`v${i}`) })))
      yield* test.drain({ maxIntervals: 50 })
      expect(accepted).toEqual([])
      // The whole batch, tried at 1 s, 2 s and 3 s after it arrived: at 3 s its records are too old
      // and are given up at once, without the last retry and without a split.
      expect(calls.filter((n) => n > 0)).toEqual([8, 8, 8])
      const letters = yield* readDeadLetters(path)
      expect(letters).toHaveLength(8)
      for (const l of letters) expect(l.reason.message).toBe("older than maxRecordAge after the sink failed: the warehouse refused v5")
    }))

  it.scoped("with no dead-letter destination the run fails with the sink's error after the retries; the half that went through is checkpointed, nothing is dropped", () =>
    Effect.gen(function* () {
      const { accepted, calls, sink } = pickySink("v1")
      const test = yield* PipelineTest.make(pipeline, sink, { shardCount: 1, onSinkError: { maxRetryAttempts: 2, bisectBatchOnError: true } })
      const placed = yield* test.put(["v0", "v1", "v2"].map((v) => ({ partitionKey: "k", data: encoder.encode(v) })))
      const error = yield* Effect.flip(test.drain({ maxIntervals: 50 }))
      expect(error).toBeInstanceOf(Refused)
      expect(calls.length).toBeGreaterThanOrEqual(3)
      // v0 and v1 were the first half: v0 went through after its split, v1 never did, and v2 was never tried.
      expect(accepted).toEqual(["v0"])
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[0]!.sequenceNumber, subSequenceNumber: 0 }])
    }))

  it.scoped("onFailure names the destination for what the sink gives up; the run's DeadLetter service keeps the records that do not decode", () =>
    Effect.gen(function* () {
      const sinkLetters: Array<DeadLetterRecord> = []
      const decodeLetters: Array<DeadLetterRecord> = []
      const { accepted, sink } = pickySink("v2")
      const test = yield* PipelineTest.make(pipeline, sink, {
        shardCount: 1,
        onSinkError: {
          bisectBatchOnError: true,
          onFailure: DeadLetter.layerFunction("sink-failures", (records) => Effect.sync(() => void sinkLetters.push(...records)))
        }
      }).pipe(Effect.provide(DeadLetter.layerFunction("poison", (records) => Effect.sync(() => void decodeLetters.push(...records)))))
      yield* test.put([...["v0", "v1", "v2", "v3"].map((v) => encoder.encode(v)), new Uint8Array([0xff])].map((data) => ({ partitionKey: "k", data })))
      yield* test.drain({ maxIntervals: 20 })
      expect(accepted.sort()).toEqual(["v0", "v1", "v3"])
      expect(sinkLetters.map((l) => [l.reason.kind, new TextDecoder().decode(l.data)])).toEqual([["sink", "v2"]])
      expect(decodeLetters.map((l) => [l.reason.kind, [...l.data]])).toEqual([["decode", [0xff]]])
    }))

  it.scoped("onFailure alone (no DeadLetter service) takes the sink's failures, and the records that do not decode", () =>
    Effect.gen(function* () {
      const letters: Array<DeadLetterRecord> = []
      const { accepted, sink } = pickySink("v1")
      const test = yield* PipelineTest.make(pipeline, sink, {
        shardCount: 1,
        onSinkError: { bisectBatchOnError: true, onFailure: DeadLetter.layerFunction("failures", (records) => Effect.sync(() => void letters.push(...records))) }
      })
      yield* test.put([encoder.encode("v0"), encoder.encode("v1"), new Uint8Array([0xff])].map((data) => ({ partitionKey: "k", data })))
      yield* test.drain({ maxIntervals: 20 })
      expect(accepted).toEqual(["v0"])
      expect(letters.map((l) => l.reason.kind).sort()).toEqual(["decode", "sink"])
    }))
})
