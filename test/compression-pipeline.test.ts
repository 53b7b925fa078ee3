import { create, equals, toBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { deflateSync, gunzipSync, gzipSync } from "node:zlib"
import { type AccessLogEvent, AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import {
  Codec,
  DeadLetter,
  type DeadLetterRecord,
  DecodeError,
  DecompressionLimitExceeded,
  deaggregate,
  Kinesis,
  Pipeline,
  Producer,
  RecordTooLarge
} from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

// Compressed records through a pipeline and a producer; the codec itself is specified in compression.test.ts.

const MiB = 1024 * 1024
const secret = "hunter2-secret-payload"
/** A multi-member gzip of `mib` MiB of zeros, about 1 KiB per MiB, never expanded here. */
const gzipBomb = (mib: number): Uint8Array => {
  const member = gzipSync(new Uint8Array(MiB), { level: 9 })
  return new Uint8Array(Buffer.concat(Array.from({ length: mib }, () => member)))
}

const event = (i: number): AccessLogEvent =>
  create(AccessLogEventSchema, { endpoint: `GET /orders/${i}`, status: 200 + (i % 3), latencyMs: i, host: `web-${i % 4}`, labels: { region: "eu-west-1", note: secret } })
const collectingDeadLetters = () => {
  const letters: Array<DeadLetterRecord> = []
  return { letters, layer: DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records))) }
}

describe("compressed records in a pipeline", () => {
  const pipeline = Pipeline.fromKinesis({ streamName: "logs", codec: Codec.compressed(Codec.protobuf(AccessLogEventSchema)), batchInterval: "1 second" }).pipe(
    Pipeline.map((e) => e.latencyMs)
  )

  it.scoped("gzip, zlib and plain records decode alike; a bomb and a corrupt record go to the dead letters with their compressed bytes; the shard is checkpointed past them", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 }).pipe(Effect.provide(dead.layer))
      const theBomb = gzipBomb(200)
      const corrupt = new Uint8Array(gzipSync(toBinary(AccessLogEventSchema, event(9_999))).subarray(0, 30))
      const records = Array.from({ length: 300 }, (_, i) => {
        const plain = toBinary(AccessLogEventSchema, event(i))
        const data = i === 150 ? theBomb : i === 151 ? corrupt : [gzipSync, deflateSync, (b: Uint8Array) => b][i % 3]!(plain)
        return { partitionKey: `pk-${i % 7}`, data }
      })
      const placed = yield* test.put(records)
      yield* test.drain()
      const values = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      expect(values).toEqual(Array.from({ length: 300 }, (_, i) => i).filter((i) => i !== 150 && i !== 151))

      expect(dead.letters).toHaveLength(2)
      const [bombLetter, corruptLetter] = dead.letters
      expect(bombLetter).toMatchObject({ streamName: "logs", sequenceNumber: placed[150]!.sequenceNumber, partitionKey: "pk-3", reason: { kind: "decode", attempts: 1 } })
      // Compared as buffers: an element-wise toEqual over 200 KB takes a second.
      expect(Buffer.from(bombLetter!.data).equals(theBomb)).toBe(true)
      expect(bombLetter!.reason.message).toContain(`as compressed(protobuf:shardline.examples.accesslog.v1.AccessLogEvent) (${theBomb.byteLength} bytes)`)
      expect(bombLetter!.reason.message).toContain("expands past maxBytes (16777216 bytes)")
      expect(corruptLetter).toMatchObject({ sequenceNumber: placed[151]!.sequenceNumber, data: corrupt })
      expect(corruptLetter!.reason.message).toContain("truncated gzip data")
      for (const letter of dead.letters) expect(letter.reason.message).not.toContain(secret)

      const checkpoint = (yield* test.checkpoints).get(placed[0]!.shardId)
      expect(checkpoint).toMatchObject({ _tag: "Sequence", sequenceNumber: placed[299]!.sequenceNumber })
      expect(yield* test.running).toBe(true)
    }), 60_000)

  it.scoped("without a DeadLetter layer a bomb fails the run with its DecodeError", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      yield* test.put([{ partitionKey: "a", data: gzipSync(toBinary(AccessLogEventSchema, event(1))) }, { partitionKey: "a", data: gzipBomb(64) }])
      const error = yield* Effect.flip(test.drain({ maxIntervals: 5 }))
      expect(error).toBeInstanceOf(DecodeError)
      expect((error as DecodeError).cause).toBeInstanceOf(DecompressionLimitExceeded)
    }))
})

describe("a producer with a compressed codec", () => {
  const codec = Codec.gzip(Codec.protobuf(AccessLogEventSchema))
  const pipeline = Pipeline.fromKinesis({ streamName: "logs", codec, batchInterval: "1 second" })

  /** Every record's raw bytes in the stream, in order. */
  const rawRecords = (api: Kinesis["Type"]) =>
    Effect.gen(function* () {
      const shards = (yield* api.listShards({ StreamName: "logs" })).Shards ?? []
      const out: Array<Uint8Array> = []
      for (const shard of shards) {
        const iterator = (yield* api.getShardIterator({ StreamName: "logs", ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
        const page = yield* api.getRecords({ ShardIterator: iterator!, Limit: 10_000 })
        out.push(...(page.Records ?? []).map((r) => r.Data!))
      }
      return out
    })

  it.scoped("writes gzip bytes (each gunzips to the protobuf), and a pipeline reading them back gets the values", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      const events = Array.from({ length: 50 }, (_, i) => event(i))
      yield* Effect.scoped(Effect.gen(function* () {
        const producer = yield* Producer.make({ streamName: "logs", codec, partitionKey: (e) => e.host, maxBufferTime: 0 })
        yield* producer.putAll(events)
      })).pipe(Effect.provideService(Kinesis, test.kinesis.api))
      const raw = yield* rawRecords(test.kinesis.api)
      expect(raw).toHaveLength(50)
      raw.forEach((data, i) => {
        expect(Array.from(data.subarray(0, 2))).toEqual([0x1f, 0x8b])
        expect(new Uint8Array(gunzipSync(data))).toEqual(toBinary(AccessLogEventSchema, events[i]!))
      })
      yield* test.advance(3)
      const values = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      expect(values.map((v) => v.latencyMs)).toEqual(events.map((e) => e.latencyMs))
      expect(equals(AccessLogEventSchema, values[7]!, events[7]!)).toBe(true)
    }))

  it.scoped("aggregating, it compresses each user record: the aggregate holds gzip user records", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      const events = Array.from({ length: 40 }, (_, i) => event(i))
      yield* Effect.scoped(Effect.gen(function* () {
        const producer = yield* Producer.make({ streamName: "logs", codec, partitionKey: (e) => e.host, maxBufferTime: 0, aggregate: true })
        yield* producer.putAll(events)
      })).pipe(Effect.provideService(Kinesis, test.kinesis.api))
      const users = (yield* rawRecords(test.kinesis.api)).flatMap((data) =>
        Either.getOrThrow(deaggregate({ data, partitionKey: "x", sequenceNumber: "1" })).map((u) => u.data)
      )
      expect(users.map((u) => new Uint8Array(gunzipSync(u)))).toEqual(events.map((e) => toBinary(AccessLogEventSchema, e)))
      yield* test.advance(3)
      expect((yield* test.batches).flatMap((b) => b.records.map((r) => r.value.latencyMs))).toEqual(events.map((e) => e.latencyMs))
    }))

  it.scoped("record size limits count the compressed bytes: 2 MiB of text fits once gzipped, not plain", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      const big = create(AccessLogEventSchema, { endpoint: "GET /export", labels: { body: "a".repeat(2 * MiB) } })
      const results = yield* Effect.scoped(Effect.gen(function* () {
        const plain = yield* Producer.make({ streamName: "logs", codec: Codec.protobuf(AccessLogEventSchema), partitionKey: () => "k", maxBufferTime: 0 })
        const zipped = yield* Producer.make({ streamName: "logs", codec, partitionKey: () => "k", maxBufferTime: 0 })
        return [yield* Effect.flip(plain.put(big)), yield* zipped.put(big)] as const
      })).pipe(Effect.provideService(Kinesis, test.kinesis.api))
      expect(results[0]).toBeInstanceOf(RecordTooLarge)
      expect(results[1].sequenceNumber).toMatch(/^\d+$/)
      const [raw] = yield* rawRecords(test.kinesis.api)
      expect(raw!.byteLength).toBeLessThan(64 * 1024)
    }))
})
