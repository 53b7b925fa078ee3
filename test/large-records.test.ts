import { create, toBinary } from "@bufbuild/protobuf"
import { describe, expect, it, layer } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Schedule, Stream } from "effect"
import * as fc from "fast-check"
import { ScalarsSchema } from "../gen/shardline/testkit/v1/kitchen_sink_pb.js"
import {
  Checkpoint,
  CheckpointStore,
  Codec,
  Kinesis,
  type KinesisApi,
  makeMemoryStore,
  Pipeline,
  Producer
} from "../src/index.js"
import type { Draft, RecordChunk } from "../src/pipeline/Batch.js"
import { batchChunks } from "../src/pipeline/batcher.js"
import { resolveKinesisSource } from "../src/pipeline/KinesisSource.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { collect, sourceCount } from "./support/collect.js"
import { KinesisLocal } from "./support/kinesisLocal.js"

const KiB = 1024
const MiB = 1024 * KiB

// --- the batcher's byte cap ------------------------------------------------------------------

interface Raw {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly data: Uint8Array
}

const raw = (shardId: string, n: number, bytes: number): Raw => ({
  shardId,
  sequenceNumber: String(1000 + n).padStart(8, "0"),
  data: new Uint8Array(bytes)
})

const chunkOf = (shardId: string, records: ReadonlyArray<Raw>, shardEnded = false, counted = false): RecordChunk<Raw> => ({
  shardId,
  records,
  // As a shard reader hands them: with the chunk's payload bytes counted (the batcher's fast path).
  ...(counted ? { bytes: records.reduce((n, r) => n + r.data.byteLength, 0) } : {}),
  millisBehindLatest: 0,
  shardEnded
})

/** Batches `chunks` with an interval that never fires: batches close by a cap or at the end. */
const batch = (chunks: ReadonlyArray<RecordChunk<Raw>>, maxBatchBytes: number, maxBatchRecords = 10_000) =>
  Stream.fromIterable(chunks).pipe(
    (source) => batchChunks(source, { batchInterval: Duration.hours(1), maxBatchRecords, maxBatchBytes }),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )

const bytesOf = (draft: Draft<Raw>) => draft.records.reduce((n, r) => n + r.data.byteLength, 0)
const sizes = (draft: Draft<Raw>) => draft.records.map((r) => r.data.byteLength)

describe("batchChunks with maxBatchBytes", () => {
  it.effect("closes a batch (closedBy size) before the record that would pass the cap, splitting the chunk", () =>
    Effect.gen(function* () {
      const records = [100, 300, 500, 200, 400].map((bytes, n) => raw("s", n, bytes))
      const drafts = yield* batch([chunkOf("s", records)], 1000)
      expect(drafts.map(sizes)).toEqual([[100, 300, 500], [200, 400]])
      expect(drafts.map((d) => d.closedBy)).toEqual(["size", "end"])
      // Each batch checkpoints its own last record.
      expect(drafts[0]!.checkpoints.get("s")).toEqual(Checkpoint.sequence(records[2]!.sequenceNumber))
      expect(drafts[1]!.checkpoints.get("s")).toEqual(Checkpoint.sequence(records[4]!.sequenceNumber))
    }))

  it.effect("a record bigger than the cap forms a batch of its own: never stuck, never dropped", () =>
    Effect.gen(function* () {
      const chunks = [
        chunkOf("a", [raw("a", 0, 10), raw("a", 1, 5000), raw("a", 2, 10)]),
        chunkOf("b", [raw("b", 0, 7000)]),
        chunkOf("a", [raw("a", 3, 10)], true)
      ]
      const drafts = yield* batch(chunks, 1000)
      expect(drafts.map(sizes)).toEqual([[10], [5000], [10], [7000], [10]])
      expect(drafts.map((d) => d.closedBy)).toEqual(["size", "size", "size", "size", "end"])
      expect(drafts[4]!.checkpoints.get("a")).toEqual(Checkpoint.shardEnd)
    }))

  it.effect("a chunk whose first record does not fit waits whole for the next batch; the record cap still applies", () =>
    Effect.gen(function* () {
      const drafts = yield* batch(
        [chunkOf("a", [raw("a", 0, 600)]), chunkOf("b", [raw("b", 0, 600), raw("b", 1, 1)]), chunkOf("c", [1, 1, 1].map((b, n) => raw("c", n, b)))],
        1000,
        3
      )
      expect(drafts.map((d) => d.records.map((r) => r.shardId).join(""))).toEqual(["a", "bbc", "cc"])
      expect(drafts[0]!.checkpoints.has("b")).toBe(false)
      expect(drafts.map((d) => d.closedBy)).toEqual(["size", "size", "end"])
    }))

  it("property: no batch passes the cap unless it holds one record; every record once, in order per shard, checkpoints right", async () => {
    const arbitrary = fc.record({
      shards: fc.array(
        fc.record({
          sizes: fc.array(fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 900, max: 3000 })), { maxLength: 40 }),
          cuts: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 10 })
        }),
        { minLength: 1, maxLength: 4 }
      ),
      order: fc.array(fc.nat(), { maxLength: 100 }),
      maxBatchBytes: fc.integer({ min: 1, max: 2000 }),
      maxBatchRecords: fc.integer({ min: 1, max: 30 })
    })
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ maxBatchBytes, maxBatchRecords, order, shards }) => {
        const all = shards.map((s, i) => s.sizes.map((bytes, n) => raw(`shard-${i}`, n, bytes)))
        const queues = all.map((records, i) => {
          const chunks: Array<RecordChunk<Raw>> = []
          let at = 0
          for (const cut of [...shards[i]!.cuts, records.length]) {
            if (at >= records.length) break
            chunks.push(chunkOf(`shard-${i}`, records.slice(at, at + cut), false, (cut + at) % 2 === 0))
            at += cut
          }
          return chunks
        })
        const interleaved: Array<RecordChunk<Raw>> = []
        for (let k = 0; queues.some((q) => q.length > 0); k++) {
          const open = queues.filter((q) => q.length > 0)
          interleaved.push(open[(order[k] ?? 0) % open.length]!.shift()!)
        }
        const drafts = await Effect.runPromise(batch(interleaved, maxBatchBytes, maxBatchRecords))
        for (const draft of drafts) {
          expect(draft.records.length).toBeLessThanOrEqual(maxBatchRecords)
          if (draft.records.length > 1) expect(bytesOf(draft)).toBeLessThanOrEqual(maxBatchBytes)
          // A batch closed by size could not take the next record of any shard waiting.
          for (const [shardId, checkpoint] of draft.checkpoints) {
            const last = draft.records.filter((r) => r.shardId === shardId).at(-1)
            expect(checkpoint).toEqual(Checkpoint.sequence(last!.sequenceNumber))
          }
        }
        all.forEach((records, i) => {
          const delivered = drafts.flatMap((d) => d.records.filter((r) => r.shardId === `shard-${i}`))
          expect(delivered.map((r) => r.sequenceNumber)).toEqual(records.map((r) => r.sequenceNumber))
        })
      }),
      { numRuns: 150 }
    )
  })
})

// --- options -----------------------------------------------------------------------------------

const options = { streamName: "s", codec: Codec.utf8, batchInterval: "1 second" } as const

describe("maxBatchBytes and maxRecordBytes options", () => {
  it.effect("maxBatchBytes defaults to 64 MiB and must be a whole number >= 1", () =>
    Effect.gen(function* () {
      expect((yield* resolveKinesisSource(options)).maxBatchBytes).toBe(64 * MiB)
      expect((yield* resolveKinesisSource({ ...options, maxBatchBytes: 5 * MiB })).maxBatchBytes).toBe(5 * MiB)
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(resolveKinesisSource({ ...options, maxBatchBytes: bad }))
        expect(error).toMatchObject({ _tag: "InvalidOption", option: "maxBatchBytes" })
      }
    }))

  it.scoped("the producer's maxRecordBytes goes from 1 MiB to 10 MiB", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      for (const bad of [MiB - 1, 10 * MiB + 1, 2.5 * MiB + 0.5]) {
        const error = yield* Effect.flip(
          Producer.make({ streamName: "s", codec: Codec.utf8, partitionKey: () => "k", maxRecordBytes: bad }).pipe(
            Effect.provideService(Kinesis, memory.api)
          )
        )
        expect(error).toMatchObject({ _tag: "InvalidOption", option: "maxRecordBytes" })
      }
    }))
})

// --- the test kit --------------------------------------------------------------------------------

const blob = (bytes: number, seed = 7): Uint8Array => {
  const out = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i += 4096) out[i] = (i / 4096 + seed) & 255
  out[bytes - 1] = seed
  return out
}

describe("MemoryKinesis record size limits", () => {
  it.effect("1 MiB by default, raised per stream up to 10 MiB; a bigger put fails the whole request with ValidationException", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "small", shardCount: 1 }, { name: "large", shardCount: 1, maxRecordSizeInKiB: 10240 }] })
      const { api } = memory
      const summary = (name: string) => Effect.map(api.describeStreamSummary({ StreamName: name }), (o) => o.StreamDescriptionSummary?.MaxRecordSizeInKiB)
      expect(yield* summary("small")).toBe(1024)
      expect(yield* summary("large")).toBe(10240)

      yield* api.putRecord({ StreamName: "small", PartitionKey: "k", Data: blob(MiB) })
      const refused = yield* Effect.flip(
        api.putRecords({ StreamName: "small", Records: [{ PartitionKey: "k", Data: blob(10) }, { PartitionKey: "k", Data: blob(MiB + 1) }] })
      )
      expect(refused).toMatchObject({ _tag: "KinesisRequestError", errorName: "ValidationException", retryable: false })
      expect(refused.message).toContain("records.2.member.data")
      expect(refused.message).toContain("less than or equal to 1048576")

      yield* api.putRecord({ StreamName: "large", PartitionKey: "k", Data: blob(10 * MiB) })
      const tooLarge = yield* Effect.flip(api.putRecord({ StreamName: "large", PartitionKey: "k", Data: blob(10 * MiB + 1) }))
      expect(tooLarge).toMatchObject({ errorName: "ValidationException" })
      // One PutRecords request carries at most 10 MiB, partition keys included.
      const overRequest = yield* Effect.flip(
        api.putRecords({ StreamName: "large", Records: [{ PartitionKey: "k", Data: blob(6 * MiB) }, { PartitionKey: "k", Data: blob(4 * MiB) }] })
      )
      expect(overRequest).toMatchObject({ errorName: "InvalidArgumentException" })

      yield* memory.updateMaxRecordSize("small", 2048)
      expect(yield* summary("small")).toBe(2048)
      yield* api.putRecord({ StreamName: "small", PartitionKey: "k", Data: blob(2 * MiB) })
      const created = yield* Effect.flip(api.createStream({ StreamName: "bad", ShardCount: 1, MaxRecordSizeInKiB: 10241 }))
      expect(created).toMatchObject({ errorName: "ValidationException" })
    }))

  it.effect("GetRecords answers at most 10 MiB but always at least one record", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "large", shardCount: 1, maxRecordSizeInKiB: 10240 }] })
      for (const bytes of [10 * MiB, 9 * MiB, 2 * MiB, 10]) yield* api.putRecord({ StreamName: "large", PartitionKey: "k", Data: blob(bytes) })
      const { Shards } = yield* api.listShards({ StreamName: "large" })
      let iterator = (yield* api.getShardIterator({ StreamName: "large", ShardId: Shards![0]!.ShardId!, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
      const answers: Array<Array<number>> = []
      for (let i = 0; i < 3; i++) {
        const out = yield* api.getRecords({ ShardIterator: iterator! })
        answers.push((out.Records ?? []).map((r) => r.Data!.byteLength))
        iterator = out.NextShardIterator
      }
      expect(answers).toEqual([[10 * MiB], [9 * MiB], [2 * MiB, 10]])
    }))
})

// --- the producer --------------------------------------------------------------------------------

const scalars = Codec.protobuf(ScalarsSchema)
const message = (id: string, bytes: number) => create(ScalarsSchema, { stringValue: id, bytesValue: blob(bytes, id.length) })

/** The API with PutRecords and DescribeStreamSummary calls counted. */
const counting = (api: KinesisApi) => {
  const calls: Array<{ readonly operation: string; readonly entries: ReadonlyArray<number> }> = []
  const wrapped: KinesisApi = {
    ...api,
    putRecords: (input) =>
      Effect.suspend(() => {
        calls.push({ operation: "PutRecords", entries: (input.Records ?? []).map((r) => r.Data!.byteLength) })
        return api.putRecords(input)
      }),
    describeStreamSummary: (input) =>
      Effect.suspend(() => {
        calls.push({ operation: "DescribeStreamSummary", entries: [] })
        return api.describeStreamSummary(input)
      })
  }
  return { calls, api: wrapped }
}

describe("Producer with large records", () => {
  it.scopedLive("reads the stream's limit only when a record is over 1 MiB; a large record goes in a call of its own", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "large", shardCount: 1, maxRecordSizeInKiB: 10240 }] })
      const { api, calls } = counting(memory.api)
      const producer = yield* Producer.make({ streamName: "large", codec: scalars, partitionKey: (m) => m.stringValue }).pipe(
        Effect.provideService(Kinesis, api)
      )
      yield* producer.putAll([message("a", 10), message("b", 20)])
      expect(calls.map((c) => c.operation)).toEqual(["PutRecords"])
      const results = yield* producer.putAll([message("c", 10), message("d", 3 * MiB), message("e", 10)])
      expect(results.map((r) => r.subSequenceNumber)).toEqual([0, 0, 0])
      expect(calls.filter((c) => c.operation === "DescribeStreamSummary")).toHaveLength(1)
      const puts = calls.filter((c) => c.operation === "PutRecords").slice(1)
      expect(puts.map((c) => c.entries.length)).toEqual([1, 1, 1])
      expect(puts[1]!.entries[0]).toBeGreaterThan(3 * MiB)
    }))

  it.scopedLive("a record over the stream's limit is a RecordTooLarge before any call, with the stream's limit", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "small", shardCount: 1 }, { name: "large", shardCount: 1, maxRecordSizeInKiB: 4096 }] })
      const { api, calls } = counting(memory.api)
      const make = (streamName: string, maxRecordBytes?: number) =>
        Producer.make({
          streamName,
          codec: scalars,
          partitionKey: (m) => m.stringValue,
          ...(maxRecordBytes === undefined ? {} : { maxRecordBytes })
        }).pipe(Effect.provideService(Kinesis, api))

      const small = yield* make("small")
      const onSmall = yield* Effect.flip(small.put(message("x", 2 * MiB)))
      expect(onSmall).toMatchObject({ _tag: "RecordTooLarge", limit: MiB, partitionKey: "x" })
      // Looked up once; not again within the minute.
      yield* Effect.flip(small.put(message("y", 2 * MiB)))
      expect(calls.map((c) => c.operation)).toEqual(["DescribeStreamSummary"])

      const large = yield* make("large")
      const onLarge = yield* Effect.flip(large.putAll([message("ok", 10), message("big", 5 * MiB)]))
      expect(onLarge).toMatchObject({ _tag: "RecordTooLarge", limit: 4 * MiB, partitionKey: "big" })
      yield* large.put(message("fits", 4 * MiB - 100))

      // Given, the limit is used as it is: no look-up.
      const given = yield* make("large", MiB)
      const before = calls.length
      expect(yield* Effect.flip(given.put(message("z", 2 * MiB)))).toMatchObject({ _tag: "RecordTooLarge", limit: MiB })
      expect(calls.length).toBe(before)
      // Nothing refused was put.
      expect(calls.filter((c) => c.operation === "PutRecords").flatMap((c) => c.entries).every((b) => b <= 4 * MiB)).toBe(true)
    }))

  it.scopedLive("with aggregation, large records go as they are, alone; small ones still share aggregates", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "large", shardCount: 1, maxRecordSizeInKiB: 10240 }] })
      const { api, calls } = counting(memory.api)
      const producer = yield* Producer.make({ streamName: "large", codec: scalars, partitionKey: () => "k", aggregate: true, maxRecordBytes: 10 * MiB }).pipe(
        Effect.provideService(Kinesis, api)
      )
      const results = yield* producer.putAll([message("a", 10), message("b", 10), message("c", 2 * MiB), message("d", 10)])
      expect(results.map((r) => r.subSequenceNumber)).toEqual([0, 1, 0, 0])
      expect(calls.filter((c) => c.operation === "PutRecords").map((c) => c.entries.length)).toEqual([1, 1, 1])
    }))
})

// --- end to end ----------------------------------------------------------------------------------

const mix = [
  message("small-1", 100),
  message("three-mib", 3 * MiB),
  message("small-2", 200),
  message("nine-and-a-half-mib", 9.5 * MiB),
  message("small-3", 300),
  message("two-mib", 2 * MiB)
]

/**
 * Puts `messages` with a typed producer (the stream's limit looked up), reads them back through a
 * pipeline (reader, batcher, decode, sink, checkpoint) and checks them all.
 */
const roundTrip = (streamName: string, maxBatchBytes: number, messages = mix) =>
  Effect.gen(function* () {
    const producer = yield* Producer.make({ streamName, codec: scalars, partitionKey: (m) => m.stringValue })
    const puts = yield* producer.putAll(messages)
    const store = yield* makeMemoryStore()
    const pipeline = Pipeline.fromKinesis({ streamName, codec: scalars, batchInterval: "100 millis", maxBatchBytes })
    const { batches, records } = yield* collect(pipeline, (bs) => sourceCount(bs) >= messages.length, { timeout: "20 seconds" }).pipe(
      Effect.provideService(CheckpointStore, store)
    )
    // Calls run concurrently (no `ordered`, a key each): the shard holds them in the order they landed.
    const written = messages.map((m, i) => ({ message: m, put: puts[i]! })).sort((a, b) => (BigInt(a.put.sequenceNumber) < BigInt(b.put.sequenceNumber) ? -1 : 1))
    expect(records.map((r) => r.value.stringValue)).toEqual(written.map((w) => w.message.stringValue))
    records.forEach((r, i) => {
      expect(Buffer.from(r.value.bytesValue).equals(Buffer.from(written[i]!.message.bytesValue)), r.value.stringValue).toBe(true)
      expect(r.sequenceNumber).toBe(written[i]!.put.sequenceNumber)
    })
    const saved = yield* store.load({ applicationName: "shardline", streamName })
    expect(saved.get(puts[0]!.shardId)).toEqual(Checkpoint.sequence(written.at(-1)!.put.sequenceNumber))
    return batches
  })

describe("large records end to end (typed Producer -> pipeline -> checkpoint)", () => {
  layer(MemoryKinesis.layer({ streams: ["large", "capped"].map((name) => ({ name, shardCount: 1, maxRecordSizeInKiB: 10240 })) }), { excludeTestServices: true, timeout: "30 seconds" })(
    "MemoryKinesis",
    (it) => {
      it.scoped("3 MiB and 9.5 MiB protobuf records among small ones arrive whole, in order, and the checkpoint advances", () =>
        Effect.asVoid(roundTrip("large", 4 * MiB)))

      // Needs run.ts to hand `source.maxBatchBytes` to batchChunks (the batcher tests above cover the cap itself).
      it.scoped("a pipeline's batches keep within maxBatchBytes; a record over it is a batch of its own", () =>
        Effect.gen(function* () {
          const batches = yield* roundTrip("capped", 4 * MiB)
          for (const b of batches) {
            const bytes = b.records.reduce((n, r) => n + toBinary(ScalarsSchema, r.value).byteLength, 0)
            if (b.sourceRecords > 1) expect(bytes).toBeLessThanOrEqual(4 * MiB)
          }
          const alone = batches.filter((b) => b.records.some((r) => r.value.stringValue === "nine-and-a-half-mib"))
          expect(alone.map((b) => b.sourceRecords)).toEqual([1])
        }))
    }
  )

  layer(KinesisLocal.layer(), { excludeTestServices: true, timeout: "60 seconds" })(
    "kinesis-local (kinesis-mock, over HTTP with the AWS SDK)",
    (it) => {
      it.scoped("a stream created with MaxRecordSizeInKiB 10240 takes and serves the same records", () =>
        Effect.gen(function* () {
          const kinesis = yield* Kinesis
          yield* kinesis.createStream({ StreamName: "large-http", ShardCount: 1, MaxRecordSizeInKiB: 10240 })
          yield* kinesis.describeStreamSummary({ StreamName: "large-http" }).pipe(
            Effect.filterOrFail((o) => o.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => new Error("not ACTIVE yet")),
            Effect.retry(Schedule.intersect(Schedule.spaced("20 millis"), Schedule.recurs(200)))
          )
          // kinesis-mock takes about a second per MiB (its JSON and base64 in Scala.js): one record of
          // 2.5 MiB here; the 9.5 MiB one runs on MemoryKinesis above.
          yield* roundTrip("large-http", 64 * MiB, [message("small-1", 100), message("two-and-a-half-mib", 2.5 * MiB), message("small-2", 200)])
          // Its default stream refuses a 2 MiB record: the producer reads its 1 MiB limit and says so.
          yield* kinesis.createStream({ StreamName: "small-http", ShardCount: 1 })
          yield* kinesis.describeStreamSummary({ StreamName: "small-http" }).pipe(
            Effect.filterOrFail((o) => o.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => new Error("not ACTIVE yet")),
            Effect.retry(Schedule.intersect(Schedule.spaced("20 millis"), Schedule.recurs(200)))
          )
          const producer = yield* Producer.make({ streamName: "small-http", codec: scalars, partitionKey: (m) => m.stringValue })
          const refused = yield* Effect.either(producer.put(message("two-mib", 2 * MiB)))
          expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "RecordTooLarge", limit: MiB })
        }))
    }
  )
})
