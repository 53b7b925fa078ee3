import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { Codec, DeadLetter, DecodeError, Pipeline, readDeadLetters } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

/** Payloads protobuf-es refuses: checked below before they are used. */
const malformed = [
  new Uint8Array([0xff, 0xff, 0xff]), // a truncated varint tag
  new Uint8Array([0x0a, 0x05, 0x61]), // a length-delimited field longer than what follows
  new Uint8Array([0x0f]) // wire type 7 does not exist
]

const good = (i: number) => toBinary(AccessLogEventSchema, create(AccessLogEventSchema, { endpoint: `GET /e${i % 7}`, status: 200, latencyMs: i }))

const pipeline = Pipeline.fromKinesis({ streamName: "logs", codec: Codec.protobuf(AccessLogEventSchema), batchInterval: "1 second", maxBatchRecords: 2_000 }).pipe(
  Pipeline.map((e) => e.latencyMs)
)

describe("poison records go to the dead-letter destination", () => {
  it("the malformed payloads are ones fromBinary rejects", () => {
    for (const bytes of malformed) expect(() => fromBinary(AccessLogEventSchema, bytes)).toThrow()
  })

  it.scoped("1,000 malformed payloads among 10,000 good ones: exactly the 1,000 land in the dead-letter file, the 10,000 are processed, the run goes on", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "shardline-poison-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const path = join(dir, "dead-letters.jsonl")
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 4 }).pipe(Effect.provide(DeadLetter.layerFile({ path })))
      // Every 11th record is malformed: 1,000 of 11,000.
      const records = Array.from({ length: 11_000 }, (_, i) => {
        const bad = i % 11 === 10
        return { partitionKey: `pk-${i % 97}`, data: bad ? malformed[i % malformed.length]! : good(i), bad }
      })
      const placed = yield* test.put(records)
      yield* test.drain({ maxIntervals: 200 })
      const processed = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      expect(processed.sort((a, b) => a - b)).toEqual(records.flatMap((r, i) => (r.bad ? [] : [i])))
      const letters = yield* readDeadLetters(path)
      expect(letters).toHaveLength(1_000)
      const expected = records.flatMap((r, i) => (r.bad ? [{ ...placed[i]!, partitionKey: r.partitionKey, data: r.data }] : []))
      const key = (x: { readonly shardId: string; readonly sequenceNumber: string }) => `${x.shardId}/${x.sequenceNumber}`
      expect(letters.map(key).sort()).toEqual(expected.map(key).sort())
      const byKey = new Map(expected.map((e) => [key(e), e]))
      for (const letter of letters) {
        const want = byKey.get(key(letter))!
        expect(letter).toMatchObject({ streamName: "logs", partitionKey: want.partitionKey, data: want.data, reason: { kind: "decode", attempts: 1 } })
        // The reason names the record, never its bytes.
        expect(letter.reason.message).toContain(letter.sequenceNumber)
      }
      // Everything is checkpointed, poison records included: nothing is read again.
      expect((yield* test.checkpoints).size).toBe(4)
      expect(yield* test.running).toBe(true)
    }), 60_000)

  it.scoped("without a DeadLetter service a record that does not decode still fails the run with DecodeError", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      yield* test.put([{ partitionKey: "a", data: good(1) }, { partitionKey: "a", data: malformed[0]! }])
      const error = yield* Effect.flip(test.drain({ maxIntervals: 5 }))
      expect(error).toBeInstanceOf(DecodeError)
    }))
})
