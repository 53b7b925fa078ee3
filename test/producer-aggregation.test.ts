import { describe, expect, it } from "@effect/vitest"
import type { PutRecordsCommandInput } from "@aws-sdk/client-kinesis"
import { Effect, Either, Fiber, TestClock, TestContext } from "effect"
import fc from "fast-check"
import { aggregateRecords, Codec, deaggregate, isAggregated, Kinesis, Producer, type UserEntry } from "../src/index.js"
import { AggregateBuilder } from "../src/producer/aggregate.js"
import { hashKeyOf } from "../src/state/routing.js"
import { type FaultRule, Faults, MemoryKinesis } from "../src/testing/index.js"
import { aggregateWithAws, objectKeySafe } from "./support/awsKinesisAgg.js"


const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const plain = (records: ReadonlyArray<UserEntry>) =>
  records.map((r) => ({ partitionKey: r.partitionKey, explicitHashKey: r.explicitHashKey, data: hex(r.data) }))
const unpack = (data: Uint8Array, partitionKey = "carrier") => {
  const users = deaggregate({ data, partitionKey, sequenceNumber: "1" })
  if (Either.isLeft(users)) throw new Error(users.left.message)
  return users.right
}

const userRecords = (keyOk: (key: string) => boolean = () => true): fc.Arbitrary<ReadonlyArray<UserEntry>> =>
  fc.record({
    keys: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 256 }).filter(keyOk), { minLength: 1, maxLength: 6 }),
    hashKeys: fc.uniqueArray(fc.bigInt(0n, 2n ** 128n - 1n).map(String).filter(keyOk), { maxLength: 3 })
  }).chain(({ hashKeys, keys }) =>
    fc.array(
      fc.record({
        partitionKey: fc.constantFrom(...keys),
        explicitHashKey: hashKeys.length === 0 ? fc.constant(undefined) : fc.option(fc.constantFrom(...hashKeys), { nil: undefined }),
        data: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 128, maxLength: 1500, size: "max" }))
      }),
      { minLength: 1, maxLength: 25 }
    )
  )

describe("KPL aggregation", () => {
  it("property: what we aggregate de-aggregates to the same user records, and its size is known in advance", () =>
    fc.assert(fc.property(userRecords(), (records) => {
      const builder = new AggregateBuilder()
      const sizes: Array<number> = []
      for (const r of records) {
        sizes.push(builder.bytesWith(r))
        builder.add(r)
      }
      const data = builder.encode()
      expect(isAggregated(data)).toBe(true)
      expect(data.length).toBe(builder.bytes)
      expect(sizes.at(-1)).toBe(data.length)
      expect(plain(unpack(data).map((u) => ({ ...u })))).toEqual(plain(records))
      expect(aggregateRecords(records)).toEqual(data)
    })))

  it("property: what aws-kinesis-agg aggregates de-aggregates to the same user records", () =>
    fc.assert(fc.property(userRecords(objectKeySafe), (records) => {
      expect(plain(unpack(aggregateWithAws(records)))).toEqual(plain(records))
    })))
})

interface Msg {
  readonly key: string
  readonly n: number
}
const codec = Codec.json<Msg>()

/** Every user record in the stream, with the shard (and its range) that holds it. */
const readUsers = (streamName: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards = (yield* kinesis.listShards({ StreamName: streamName })).Shards ?? []
    const out: Array<{ shardId: string; inRange: boolean; aggregated: boolean; msg: Msg; sequenceNumber: string; sub: number }> = []
    for (const shard of shards) {
      const start = BigInt(shard.HashKeyRange!.StartingHashKey!)
      const end = BigInt(shard.HashKeyRange!.EndingHashKey!)
      let iterator = (yield* kinesis.getShardIterator({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
      while (iterator !== undefined) {
        const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
        for (const r of page.Records ?? []) {
          for (const u of unpack(r.Data!, r.PartitionKey!)) {
            const hashKey = hashKeyOf(u.partitionKey)
            out.push({
              shardId: shard.ShardId!,
              inRange: hashKey >= start && hashKey <= end,
              aggregated: isAggregated(r.Data!),
              msg: JSON.parse(new TextDecoder().decode(u.data)) as Msg,
              sequenceNumber: r.SequenceNumber!,
              sub: u.subSequenceNumber
            })
          }
        }
        if ((page.Records ?? []).length === 0) break
        iterator = page.NextShardIterator
      }
    }
    return out
  })

const byKey = (records: ReadonlyArray<{ msg: Msg }>) => {
  const out = new Map<string, Array<number>>()
  for (const { msg } of records) out.set(msg.key, [...(out.get(msg.key) ?? []), msg.n])
  return out
}

describe("Producer with aggregation (in-memory Kinesis)", () => {
  it("property: any messages put aggregated read back (de-aggregated) the same, each on its own key's shard, in order per key", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.string({ minLength: 1, maxLength: 20 }), n: fc.nat() }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 64, max: 4096 }),
        fc.boolean(),
        (messages, shardCount, maxBytes, ordered) =>
          Effect.gen(function* () {
            const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount }] })
            const producer = yield* Producer.make({ streamName: "s", codec, partitionKey: (m: Msg) => m.key, aggregate: { maxBytes }, ordered, maxInFlightCalls: 1 })
              .pipe(Effect.provideService(Kinesis, memory.api))
            const fiber = yield* Effect.fork(producer.putAll(messages))
            yield* TestClock.adjust("10 seconds")
            const results = yield* Fiber.join(fiber)
            const users = yield* readUsers("s").pipe(Effect.provideService(Kinesis, memory.api))
            expect(users.filter((u) => !u.inRange)).toEqual([])
            expect(byKey(users)).toEqual(byKey(messages.map((msg) => ({ msg }))))
            // Each put answers where its record is: carrier sequence number and index.
            const where = new Map(users.map((u) => [`${u.sequenceNumber}/${u.sub}`, u.msg]))
            results.forEach((r, i) => expect(where.get(`${r.sequenceNumber}/${r.subSequenceNumber}`)).toEqual(messages[i]))
          }).pipe(Effect.scoped, Effect.provide(TestContext.TestContext), Effect.runPromise)
      ),
      { numRuns: 40 }
    ))

  it.scoped("aggregates only records predicted for one shard, within maxBytes; the carrier takes the first record's key", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 4 }] })
      const sent: Array<PutRecordsCommandInput> = []
      const spy: FaultRule = (call) => void (call.operation === "PutRecords" && sent.push(call.input as PutRecordsCommandInput))
      const wrapped = yield* Faults.wrap(memory.api, [spy])
      const producer = yield* Producer.make({ streamName: "s", codec, partitionKey: (m: Msg) => m.key, aggregate: { maxBytes: 2048 } })
        .pipe(Effect.provideService(Kinesis, wrapped.api))
      const messages = Array.from({ length: 400 }, (_, i) => ({ key: `user-${i % 37}`, n: i }))
      const fiber = yield* Effect.fork(producer.putAll(messages))
      yield* TestClock.adjust("100 millis")
      const results = yield* Fiber.join(fiber)
      expect(sent).toHaveLength(1)
      const entries = sent[0]!.Records!
      expect(entries.length).toBeLessThan(40)
      for (const entry of entries) {
        expect(entry.Data!.length + Buffer.byteLength(entry.PartitionKey!)).toBeLessThanOrEqual(2048)
        const users = unpack(entry.Data!)
        expect(users[0]!.partitionKey).toBe(entry.PartitionKey)
      }
      expect(new Set(results.map((r) => r.shardId)).size).toBe(4)
      const users = yield* readUsers("s").pipe(Effect.provideService(Kinesis, memory.api))
      expect(users.every((u) => u.inRange && u.aggregated)).toBe(true)
      expect(users).toHaveLength(400)
    }))

  it.scoped("refreshes its shard map when a record lands on a shard it did not predict (after a split)", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const wrapped = yield* Faults.wrap(memory.api, [])
      const producer = yield* Producer.make({ streamName: "s", codec, partitionKey: (m: Msg) => m.key, aggregate: true, maxInFlightCalls: 1 })
        .pipe(Effect.provideService(Kinesis, wrapped.api))
      const [low, high] = yield* memory.splitShard("s", "shardId-000000000000")
      const round = (from: number) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(producer.putAll(Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, n: from + i }))))
          yield* TestClock.adjust("100 millis")
          return yield* Fiber.join(fiber)
        })
      yield* round(0)
      const listsAfterFirst = (yield* wrapped.calls).filter((c) => c.operation === "ListShards").length
      expect(listsAfterFirst).toBe(2) // at start, and once the first answer named a child shard
      const second = yield* round(100)
      expect(new Set(second.map((r) => r.shardId))).toEqual(new Set([low, high]))
      const users = yield* readUsers("s").pipe(Effect.provideService(Kinesis, memory.api))
      // The first round went out with the parent's map: some records sit in the sibling's range.
      // From the second round on, every record is on the shard its key maps to.
      expect(users.filter((u) => u.msg.n >= 100).every((u) => u.inRange)).toBe(true)
      expect(users.filter((u) => u.msg.n >= 100)).toHaveLength(50)
    }))
})
