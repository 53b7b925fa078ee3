import { describe, expect, it } from "@effect/vitest"
import type { PutRecordsCommandInput } from "@aws-sdk/client-kinesis"
import { Clock, Effect, Exit, Fiber, Schedule, Scope, TestClock } from "effect"
import { Codec, Kinesis, Producer, type ProducerOptions, RetryPolicy } from "../src/index.js"
import { type FaultRule, Faults, MemoryKinesis, type RecordedCall } from "../src/testing/index.js"

interface Msg {
  readonly key: string
  readonly n: number
  readonly pad?: number
}
const codec = Codec.json<Msg>()
const base: ProducerOptions<Msg> = { streamName: "s", codec, partitionKey: (m) => m.key }

/** A JSON message, or for raw test bytes a stand-in naming the first byte. */
const parse = (data: Uint8Array): Msg => {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as Msg
  } catch {
    return { key: "raw", n: data[0] ?? -1 }
  }
}

/** One PutRecords request as the service got it. */
interface Sent {
  readonly records: number
  readonly bytes: number
  readonly messages: ReadonlyArray<Msg>
}

/** An in-memory stream behind a fault wrapper, and the PutRecords requests that reached the wrapper. */
const setup = (rules: ReadonlyArray<FaultRule> = [], shardCount = 1) =>
  Effect.gen(function* () {
    const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount }] })
    const sent: Array<Sent> = []
    const spy: FaultRule = (call) => {
      if (call.operation !== "PutRecords") return undefined
      const records = (call.input as PutRecordsCommandInput).Records ?? []
      sent.push({
        records: records.length,
        bytes: records.reduce((n, r) => n + (r.Data?.length ?? 0) + Buffer.byteLength(r.PartitionKey ?? ""), 0),
        messages: records.map((r) => parse(r.Data!))
      })
      return undefined
    }
    const wrapped = yield* Faults.wrap(memory.api, [spy, ...rules])
    return { memory, wrapped, sent }
  })

/** Every record in the stream, shard by shard, in sequence order. */
const readAll = Effect.gen(function* () {
  const kinesis = yield* Kinesis
  const shards = (yield* kinesis.listShards({ StreamName: "s" })).Shards ?? []
  const out: Array<{ shardId: string; msg: Msg; sequenceNumber: string }> = []
  for (const shard of shards) {
    let iterator = (yield* kinesis.getShardIterator({ StreamName: "s", ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" }))
      .ShardIterator
    while (iterator !== undefined) {
      const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
      for (const r of page.Records ?? []) {
        out.push({ shardId: shard.ShardId!, msg: parse(r.Data!), sequenceNumber: r.SequenceNumber! })
      }
      if ((page.Records ?? []).length === 0) break
      iterator = page.NextShardIterator
    }
  }
  return out
})

const msgs = (n: number, keys = 1, pad = 0): Array<Msg> =>
  Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, n: i, ...(pad > 0 ? { pad } : {}) }))

/** Per key, the message numbers in stream order. */
const byKey = (records: ReadonlyArray<{ msg: Msg }>) => {
  const out: Record<string, Array<number>> = {}
  for (const { msg } of records) (out[msg.key] ??= []).push(msg.n)
  return out
}

const putCalls = (calls: ReadonlyArray<RecordedCall>) => calls.filter((c) => c.operation === "PutRecords")

describe("Producer (in-memory Kinesis, TestClock)", () => {
  it.scoped("waits maxBufferTime after the oldest record, on the Clock, then sends one call", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup()
      const producer = yield* Producer.make(base).pipe(Effect.provideService(Kinesis, wrapped.api))
      const first = yield* Effect.fork(producer.put({ key: "a", n: 0 }))
      yield* TestClock.adjust("60 millis")
      const second = yield* Effect.fork(producer.put({ key: "b", n: 1 }))
      yield* TestClock.adjust("39 millis")
      expect(putCalls(yield* wrapped.calls)).toHaveLength(0)
      yield* TestClock.adjust("1 millis")
      const [a, b] = [yield* Fiber.join(first), yield* Fiber.join(second)]
      const calls = putCalls(yield* wrapped.calls)
      expect(calls).toHaveLength(1)
      expect(calls[0]!.at).toBe(100)
      expect(a.shardId).toBe("shardId-000000000000")
      expect(BigInt(b.sequenceNumber)).toBeGreaterThan(BigInt(a.sequenceNumber))
      expect(a.subSequenceNumber).toBe(0)
    }))

  it.scoped("a custom maxBufferTime", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup()
      const producer = yield* Producer.make({ ...base, maxBufferTime: "2 seconds" }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const put = yield* Effect.fork(producer.put({ key: "a", n: 0 }))
      yield* TestClock.adjust("1999 millis")
      expect(putCalls(yield* wrapped.calls)).toHaveLength(0)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(put)
      expect(putCalls(yield* wrapped.calls).map((c) => c.at)).toEqual([2000])
    }))

  it.scoped("no call carries more than 500 records; full calls go out without waiting", () =>
    Effect.gen(function* () {
      const { sent, wrapped } = yield* setup()
      const producer = yield* Producer.make({ ...base, maxInFlightCalls: 1 }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const all = msgs(1234, 7)
      const fiber = yield* Effect.fork(producer.putAll(all))
      yield* TestClock.adjust("0 millis")
      // The two full calls went at once; the rest waits for the linger.
      expect(sent.map((s) => s.records)).toEqual([500, 500])
      yield* TestClock.adjust("100 millis")
      const results = yield* Fiber.join(fiber)
      expect(sent.map((s) => s.records)).toEqual([500, 500, 234])
      expect(results).toHaveLength(1234)
      expect((yield* readAll.pipe(Effect.provideService(Kinesis, wrapped.api))).map((r) => r.msg)).toEqual(all)
    }))

  it.scoped("no call carries more than 5 MiB (data plus partition keys)", () =>
    Effect.gen(function* () {
      const { sent, wrapped } = yield* setup()
      const producer = yield* Producer.make({
        ...base,
        codec: { ...codec, encode: (m: Msg) => new Uint8Array(900 * 1024).fill(m.n) }
      }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const fiber = yield* Effect.fork(producer.putAll(msgs(17, 3)))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fiber)
      expect(sent.map((s) => s.records)).toEqual([5, 5, 5, 2])
      for (const s of sent) expect(s.bytes).toBeLessThanOrEqual(5 * 1024 * 1024)
    }))

  it.scoped("a record over 1 MiB, a bad key or an unencodable message fails before any call", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup()
      const big = { ...codec, encode: (m: Msg) => new Uint8Array(m.n) }
      const producer = yield* Producer.make({ ...base, codec: big, explicitHashKey: (m) => (m.key === "ehk" ? "2" + "0".repeat(39) : undefined) })
        .pipe(Effect.provideService(Kinesis, wrapped.api))
      const limit = 1024 * 1024
      const tooBig = yield* Effect.flip(producer.put({ key: "kk", n: limit - 1 }))
      expect(tooBig).toMatchObject({ _tag: "RecordTooLarge", bytes: limit + 1, limit, partitionKey: "kk" })
      // Exactly at the limit is fine; but a putAll with one bad record buffers none.
      const mixed = yield* Effect.flip(producer.putAll([{ key: "kk", n: limit - 2 }, { key: "", n: 1 }]))
      expect(mixed).toMatchObject({ _tag: "InvalidRecordKey", key: "partitionKey" })
      expect((yield* Effect.flip(producer.put({ key: "x".repeat(257), n: 1 })))._tag).toBe("InvalidRecordKey")
      expect(yield* Effect.flip(producer.put({ key: "ehk", n: 1 }))).toMatchObject({ _tag: "InvalidRecordKey", key: "explicitHashKey" })
      const json = yield* Producer.make({ ...base, codec: Codec.json<Msg>() }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const cyclic: Msg & { self?: unknown } = { key: "c", n: 1 }
      cyclic.self = cyclic
      expect((yield* Effect.flip(json.put(cyclic)))._tag).toBe("EncodeError")
      yield* TestClock.adjust("1 second")
      expect(putCalls(yield* wrapped.calls)).toHaveLength(0)
    }))

  it.scoped("a refused middle entry is put again alone; without `ordered` its key's records change order", () =>
    Effect.gen(function* () {
      const failMiddleOfFirst: FaultRule = (call) =>
        call.operation === "PutRecords" && call.index === 0 ? { _tag: "FailedPutEntries", entries: [1] } : undefined
      const { sent, wrapped } = yield* setup([failMiddleOfFirst])
      const producer = yield* Producer.make({ ...base, retry: RetryPolicy.aggressive }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const fiber = yield* Effect.fork(producer.putAll([{ key: "a", n: 0 }, { key: "a", n: 1 }, { key: "a", n: 2 }]))
      yield* TestClock.adjust("10 seconds")
      const results = yield* Fiber.join(fiber)
      expect(sent.map((s) => s.messages.map((m) => m.n))).toEqual([[0, 1, 2], [1]])
      // Kinesis now holds 0, 2, 1: the retried record landed after the one behind it.
      expect(byKey(yield* readAll.pipe(Effect.provideService(Kinesis, wrapped.api)))).toEqual({ a: [0, 2, 1] })
      expect(BigInt(results[1]!.sequenceNumber)).toBeGreaterThan(BigInt(results[2]!.sequenceNumber))
    }))

  it.scoped("with `ordered`, one entry per key is in flight, so a refused entry keeps its key's order", () =>
    Effect.gen(function* () {
      const failFirstEntryOnce: FaultRule = (call) =>
        call.operation === "PutRecords" && call.index === 0 ? { _tag: "FailedPutEntries", entries: [0] } : undefined
      const { sent, wrapped } = yield* setup([failFirstEntryOnce])
      const producer = yield* Producer.make({ ...base, ordered: true, retry: RetryPolicy.aggressive }).pipe(
        Effect.provideService(Kinesis, wrapped.api)
      )
      const all = [{ key: "a", n: 0 }, { key: "b", n: 1 }, { key: "a", n: 2 }, { key: "b", n: 3 }, { key: "c", n: 4 }]
      const fiber = yield* Effect.fork(producer.putAll(all))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      // The first call carries one record per key; a's second waits for a's first, put again alone.
      expect(sent[0]!.messages.map((m) => m.n)).toEqual([0, 1, 4])
      expect(sent.flatMap((s) => s.messages.map((m) => m.n)).sort()).toEqual([0, 0, 1, 2, 3, 4])
      for (const s of sent) expect(new Set(s.messages.map((m) => m.key)).size).toBe(s.messages.length)
      expect(byKey(yield* readAll.pipe(Effect.provideService(Kinesis, wrapped.api)))).toEqual({ a: [0, 2], b: [1, 3], c: [4] })
    }))

  it.scoped("an entry refused until the schedule ends fails its put with the ErrorCode; the others succeed", () =>
    Effect.gen(function* () {
      const alwaysFirst: FaultRule = (call) =>
        call.operation === "PutRecords" ? { _tag: "FailedPutEntries", entries: [0], errorCode: "InternalFailure" } : undefined
      const { wrapped } = yield* setup([alwaysFirst])
      const producer = yield* Producer.make({ ...base, retry: Schedule.recurs(2) }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const doomed = yield* Effect.fork(Effect.flip(producer.put({ key: "a", n: 0 })))
      const fine = yield* Effect.fork(producer.put({ key: "b", n: 1 }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(doomed)).toMatchObject({ _tag: "RecordRejected", errorCode: "InternalFailure", attempts: 3, partitionKey: "a" })
      expect((yield* Fiber.join(fine)).shardId).toBe("shardId-000000000000")
      expect(putCalls(yield* wrapped.calls)).toHaveLength(3)
    }))

  it.scoped("a throttled call is retried whole by error class; a fatal one fails every put in it", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup([Faults.throttle("PutRecords", { times: 2 })])
      const producer = yield* Producer.make({ ...base, retry: RetryPolicy.aggressive }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const fiber = yield* Effect.fork(producer.putAll(msgs(3)))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toHaveLength(3)
      expect(putCalls(yield* wrapped.calls).map((c) => c.outcome)).toEqual(["injected", "injected", "ok"])

      const gone = yield* Producer.make({ ...base, streamName: "missing" }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const failed = yield* Effect.fork(Effect.flip(gone.putAll(msgs(2))))
      yield* TestClock.adjust("100 millis")
      expect((yield* Fiber.join(failed))._tag).toBe("KinesisResourceNotFound")
    }))

  it.scoped("put waits while maxBufferedRecords are buffered or in flight, and goes in when one is acknowledged", () =>
    Effect.gen(function* () {
      const slow: FaultRule = (call) => (call.operation === "PutRecords" ? { _tag: "Latency", ms: 1000 } : undefined)
      const { sent, wrapped } = yield* setup([slow])
      const producer = yield* Producer.make({ ...base, maxBufferedRecords: 3 }).pipe(Effect.provideService(Kinesis, wrapped.api))
      const first = yield* Effect.fork(producer.putAll(msgs(3)))
      const fourth = yield* Effect.fork(producer.put({ key: "z", n: 3 }))
      yield* TestClock.adjust("0 millis")
      // A full buffer goes out at once; the fourth put is not in it, and not yet in the buffer.
      expect(sent.map((s) => s.records)).toEqual([3])
      yield* TestClock.adjust("999 millis")
      expect(fourth.unsafePoll()).toBeNull()
      expect(sent).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(first)
      // It entered the buffer when the first call was answered (t = 1000), so its call waits the linger.
      yield* TestClock.adjust("99 millis")
      expect(sent).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      expect(sent).toHaveLength(2)
      yield* TestClock.adjust("1000 millis")
      expect((yield* Fiber.join(fourth)).shardId).toBe("shardId-000000000000")
      const now = yield* Clock.currentTimeMillis
      expect(now).toBe(2100)
    }))

  it.effect("closing the scope sends everything buffered, then stops; later puts fail with ProducerClosed", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup()
      const rootsBefore = (yield* Fiber.roots).length
      const scope = yield* Scope.make()
      const producer = yield* Producer.make({ ...base, maxBufferTime: "1 hour" }).pipe(
        Effect.provideService(Kinesis, wrapped.api),
        Scope.extend(scope)
      )
      const all = msgs(1100, 13)
      const fibers = yield* Effect.forEach(all, (m) => Effect.fork(producer.put(m)))
      yield* TestClock.adjust("0 millis")
      yield* Scope.close(scope, Exit.void)
      // No clock moved: the close itself sent the rest.
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(results).toHaveLength(1100)
      expect((yield* readAll.pipe(Effect.provideService(Kinesis, wrapped.api))).map((r) => r.msg)).toEqual(all)
      expect((yield* Effect.flip(producer.put({ key: "late", n: 0 })))._tag).toBe("ProducerClosed")
      expect((yield* Fiber.roots).length).toBe(rootsBefore)
    }))

  it.effect("rejects bad options with InvalidOption", () =>
    Effect.gen(function* () {
      const { wrapped } = yield* setup()
      const bad = (options: Partial<ProducerOptions<Msg>>) =>
        Effect.flip(Producer.make({ ...base, ...options } as ProducerOptions<Msg>).pipe(Effect.provideService(Kinesis, wrapped.api), Effect.scoped))
      expect(yield* bad({ maxBufferedRecords: 0 })).toMatchObject({ _tag: "InvalidOption", option: "maxBufferedRecords" })
      expect(yield* bad({ maxBufferTime: "-1 seconds" })).toMatchObject({ _tag: "InvalidOption", option: "maxBufferTime" })
      expect(yield* bad({ aggregate: { maxBytes: 2 * 1024 * 1024 } })).toMatchObject({ _tag: "InvalidOption", option: "aggregate.maxBytes" })
      expect(yield* bad({ streamName: "" })).toMatchObject({ _tag: "InvalidOption", option: "streamName" })
    }))
})
