import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import {
  DeadLetter,
  DeadLetterError,
  type DeadLetterRecord,
  Kinesis,
  readDeadLetters,
  replay,
  RetryPolicy
} from "../src/index.js"
import { decodeDeadLetter } from "../src/deadletter/jsonl.js"
import { Faults, MemoryKinesis } from "../src/testing/index.js"

const dir = mkdtempSync(join(tmpdir(), "shardline-dlq-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const freshFile = () => join(dir, `nested-${++files}`, "dead-letters.jsonl")

const letters: fc.Arbitrary<DeadLetterRecord> = fc.record({
  streamName: fc.string({ minLength: 1 }),
  shardId: fc.string(),
  sequenceNumber: fc.bigInt({ min: 0n, max: 2n ** 180n }).map(String),
  subSequenceNumber: fc.nat(),
  partitionKey: fc.string({ minLength: 1, maxLength: 256, unit: "binary" }),
  approximateArrivalTimestamp: fc.option(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }), { nil: undefined }),
  data: fc.uint8Array({ maxLength: 64 }),
  reason: fc.record({ kind: fc.constantFrom("decode", "sink", "deaggregate"), message: fc.string({ unit: "binary" }), attempts: fc.nat(10) }),
  failedAt: fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) })
})

const letter = (i: number, key = `key-${i}`): DeadLetterRecord => ({
  streamName: "orders",
  shardId: "shardId-000000000000",
  sequenceNumber: String(1000 + i),
  subSequenceNumber: 0,
  partitionKey: key,
  approximateArrivalTimestamp: new Date(1_700_000_000_000 + i),
  data: new TextEncoder().encode(`payload-${i}`),
  reason: { kind: "decode", message: `bad bytes ${i}`, attempts: 1 },
  failedAt: new Date(1_700_000_100_000)
})

const sendVia = (records: ReadonlyArray<DeadLetterRecord>) => Effect.flatMap(DeadLetter, (d) => d.send(records))

describe("DeadLetter.layerFile (JSON Lines)", () => {
  it("property: whatever is sent, in whatever pieces, reads back the same, in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(letters, { maxLength: 5 }), { maxLength: 5 }), async (pieces) => {
        const path = freshFile()
        await Effect.runPromise(
          Effect.forEach(pieces, sendVia, { discard: true }).pipe(Effect.provide(DeadLetter.layerFile({ path })))
        )
        const all = pieces.flat()
        if (all.length === 0) return
        expect(await Effect.runPromise(readDeadLetters(path))).toEqual(all)
      }),
      { numRuns: 40 }
    )
  })

  it.live("concurrent sends never interleave their lines", () =>
    Effect.gen(function* () {
      const path = freshFile()
      yield* Effect.forEach(Array.from({ length: 20 }, (_, s) => Array.from({ length: 10 }, (_, i) => letter(s * 10 + i))), sendVia, {
        concurrency: "unbounded",
        discard: true
      }).pipe(Effect.provide(DeadLetter.layerFile({ path })))
      const back = yield* readDeadLetters(path)
      expect(back.length).toBe(200)
      expect(new Set(back.map((l) => l.sequenceNumber)).size).toBe(200)
    }))

  it.live("a line that is not a dead letter is a DeadLetterError naming its line", () =>
    Effect.gen(function* () {
      const path = join(dir, "broken.jsonl")
      writeFileSync(path, `${JSON.stringify({ v: 1 })}\n`)
      const error = yield* Effect.flip(readDeadLetters(path))
      expect(error).toBeInstanceOf(DeadLetterError)
      expect(error.message).toContain("line 1")
      expect(decodeDeadLetter("{")).toBe("not JSON")
      expect(decodeDeadLetter(JSON.stringify({ v: 2 }))).toContain("version")
    }))
})

describe("DeadLetter.layerFunction", () => {
  it.effect("hands the records to the function; its failure is a DeadLetterError", () =>
    Effect.gen(function* () {
      const got: Array<DeadLetterRecord> = []
      yield* sendVia([letter(1), letter(2)]).pipe(
        Effect.provide(DeadLetter.layerFunction("collect", (records) => Effect.sync(() => void got.push(...records))))
      )
      expect(got.map((l) => l.sequenceNumber)).toEqual(["1001", "1002"])
      const error = yield* Effect.flip(
        sendVia([letter(3)]).pipe(Effect.provide(DeadLetter.layerFunction("broken", () => Effect.fail("queue is down"))))
      )
      expect(error.message).toBe("Dead-letter destination broken: queue is down")
    }))
})

const readAll = (streamName: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards = (yield* kinesis.listShards({ StreamName: streamName })).Shards ?? []
    const out: Array<{ key: string; data: Uint8Array }> = []
    for (const shard of shards) {
      const it = yield* kinesis.getShardIterator({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })
      const page = yield* kinesis.getRecords({ ShardIterator: it.ShardIterator!, Limit: 10_000 })
      for (const r of page.Records ?? []) out.push({ key: r.PartitionKey!, data: r.Data! })
    }
    return out
  })

layer(MemoryKinesis.layer({ streams: [{ name: "dlq", shardCount: 1 }, { name: "orders", shardCount: 1 }, { name: "again", shardCount: 1 }, { name: "third", shardCount: 1 }] }), {
  excludeTestServices: true
})(
  "dead letters and Kinesis",
  (it) => {
    it.effect("layerKinesis puts each dead letter, as its JSON line, under its partition key", () =>
      Effect.gen(function* () {
        const sent = Array.from({ length: 3 }, (_, i) => letter(i))
        yield* sendVia(sent).pipe(Effect.provide(DeadLetter.layerKinesis({ streamName: "dlq" })))
        const stored = yield* readAll("dlq")
        expect(stored.map((s) => s.key)).toEqual(["key-0", "key-1", "key-2"])
        expect(stored.map((s) => decodeDeadLetter(new TextDecoder().decode(s.data)))).toEqual(sent)
      }))

    it.effect("layerKinesis rides out a throttled PutRecords and puts again only the entries PutRecords refused", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const before = (yield* readAll("dlq")).length
        const faulty = yield* Faults.wrap(memory.api, [
          Faults.throttle("PutRecords", { times: 2 }),
          (call) => (call.operation === "PutRecords" && call.index === 2 ? { _tag: "FailedPutEntries", entries: [1] } : undefined)
        ])
        const sent = Array.from({ length: 4 }, (_, i) => letter(i))
        yield* sendVia(sent).pipe(
          Effect.provide(DeadLetter.layerKinesis({ streamName: "dlq", retry: RetryPolicy.aggressive })),
          Effect.provideService(Kinesis, faulty.api)
        )
        const stored = (yield* readAll("dlq")).slice(before)
        // Each exactly once: the refused entry was put again on its own, after the others.
        expect(stored.map((s) => (decodeDeadLetter(new TextDecoder().decode(s.data)) as DeadLetterRecord).sequenceNumber)).toEqual(
          [0, 2, 3, 1].map((i) => sent[i]!.sequenceNumber)
        )
        const puts = (yield* faulty.calls).filter((c) => c.operation === "PutRecords")
        expect(puts.map((c) => c.outcome)).toEqual(["injected", "injected", "ok", "ok"])
      }))

    it.effect("replay puts a file's records back with their keys and bytes, retrying entries PutRecords refused", () =>
      Effect.gen(function* () {
        const path = freshFile()
        const sent = Array.from({ length: 700 }, (_, i) => letter(i, `k${i % 7}`))
        yield* sendVia(sent).pipe(Effect.provide(DeadLetter.layerFile({ path })))
        const memory = yield* MemoryKinesis
        // The first call has two entries refused: only those are put again.
        const faulty = yield* Faults.wrap(memory.api, [
          (call) => (call.operation === "PutRecords" && call.index === 0 ? { _tag: "FailedPutEntries", entries: [5, 9] } : undefined)
        ])
        const { replayed } = yield* replay({ path, streamName: "orders", retry: RetryPolicy.aggressive }).pipe(
          Effect.provideService(Kinesis, faulty.api)
        )
        expect(replayed).toBe(700)
        const stored = yield* readAll("orders")
        expect(stored.length).toBe(700)
        const byValue = new Map(stored.map((s) => [new TextDecoder().decode(s.data), s.key]))
        for (const l of sent) expect(byValue.get(new TextDecoder().decode(l.data))).toBe(l.partitionKey)
        // A filter picks what to replay.
        const some = yield* replay({ path, streamName: "again", filter: (l) => l.partitionKey === "k3" })
        expect(some.replayed).toBe(100)
        // Progress is told after each call's worth of records, with the total.
        const steps: Array<readonly [number, number]> = []
        const told = yield* replay({ path, streamName: "third", onProgress: (done, total) => void steps.push([done, total]) })
        expect(told.replayed).toBe(700)
        expect(steps).toEqual([[500, 700], [700, 700]])
        expect((yield* readAll("third")).length).toBe(700)
      }))
  }
)
