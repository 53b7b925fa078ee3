import { createHash } from "node:crypto"
import type { _Record, GetRecordsCommandOutput } from "@aws-sdk/client-kinesis"
import { describe, expect, it } from "@effect/vitest"
// effect's bundled fast-check, whose arbitraries it.effect.prop's types accept.
import { Effect, FastCheck as fc, Layer, TestClock } from "effect"
import { Kinesis, type KinesisApi, type KinesisError } from "../src/kinesis/index.js"
import { MemoryKinesis } from "../src/testing/index.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (record: _Record) => new TextDecoder().decode(record.Data)
const hashOf = (key: string) => BigInt(`0x${createHash("md5").update(key, "utf8").digest("hex")}`)
const shard0 = "shardId-000000000000"

const iteratorOf = (
  api: KinesisApi,
  StreamName: string,
  ShardId: string,
  ShardIteratorType: "TRIM_HORIZON" | "LATEST" | "AT_TIMESTAMP" | "AT_SEQUENCE_NUMBER",
  extra: { Timestamp?: Date; StartingSequenceNumber?: string } = {}
) =>
  Effect.map(
    api.getShardIterator({ StreamName, ShardId, ShardIteratorType, ...extra }),
    (out) => out.ShardIterator!
  )

const putAll = (api: KinesisApi, StreamName: string, values: ReadonlyArray<string>) =>
  Effect.forEach(values, (value) => api.putRecord({ StreamName, PartitionKey: value, Data: bytes(value) }))

describe("MemoryKinesis", () => {
  it.effect("shard iterators expire after 5 minutes of Clock time", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const first = yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON")
      yield* TestClock.adjust("5 minutes")
      const out = yield* api.getRecords({ ShardIterator: first })
      yield* TestClock.adjust("1 millis")
      const expired = yield* Effect.flip(api.getRecords({ ShardIterator: first }))
      expect(expired._tag).toBe("ExpiredIterator")
      expect(expired).toMatchObject({ streamName: "s", shardId: shard0 })
      // The iterator handed out at 5 minutes is good for 5 more.
      yield* TestClock.adjust("4 minutes")
      yield* api.getRecords({ ShardIterator: out.NextShardIterator! })
    }))

  it.effect("arrival times come from the Clock and MillisBehindLatest is how old the next unread record is", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      yield* TestClock.setTime(1_000_000)
      yield* putAll(api, "s", ["a"])
      yield* TestClock.adjust("10 seconds")
      yield* putAll(api, "s", ["b"])
      yield* TestClock.adjust("5 seconds")
      const start = yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON")
      const first = yield* api.getRecords({ ShardIterator: start, Limit: 1 })
      expect(first.Records!.map(text)).toEqual(["a"])
      expect(first.Records![0]!.ApproximateArrivalTimestamp).toEqual(new Date(1_000_000))
      expect(first.MillisBehindLatest).toBe(5_000)
      const second = yield* api.getRecords({ ShardIterator: first.NextShardIterator! })
      expect(second.Records!.map(text)).toEqual(["b"])
      expect(second.MillisBehindLatest).toBe(0)
    }))

  it.effect("AT_TIMESTAMP starts at the first arrival at or after the time, and refuses the future", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      for (const value of ["t0", "t10", "t20"]) {
        yield* putAll(api, "s", [value])
        yield* TestClock.adjust("10 seconds")
      }
      const read = (ms: number) =>
        Effect.flatMap(
          iteratorOf(api, "s", shard0, "AT_TIMESTAMP", { Timestamp: new Date(ms) }),
          (ShardIterator) => Effect.map(api.getRecords({ ShardIterator }), (out) => out.Records!.map(text))
        )
      expect(yield* read(10_000)).toEqual(["t10", "t20"])
      expect(yield* read(5_000)).toEqual(["t10", "t20"])
      expect(yield* read(25_000)).toEqual([])
      const future = yield* Effect.flip(read(31_000))
      expect(future._tag === "KinesisRequestError" && future.errorName).toBe("InvalidArgumentException")
    }))

  it.effect("splitShard closes the parent: the read that drains it ends it and names the children", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const { api } = memory
      yield* putAll(api, "s", ["a", "b", "c"])
      const before = yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON")
      const [low, high] = yield* memory.splitShard("s", shard0)
      expect([low, high]).toEqual(["shardId-000000000001", "shardId-000000000002"])

      const shards = (yield* api.listShards({ StreamName: "s" })).Shards!
      expect(shards.map((s) => [s.ShardId, s.ParentShardId])).toEqual([
        [shard0, undefined],
        [low, shard0],
        [high, shard0]
      ])
      expect(shards[0]!.SequenceNumberRange?.EndingSequenceNumber).toBeDefined()
      const half = 1n << 127n
      expect(shards[1]!.HashKeyRange).toEqual({ StartingHashKey: "0", EndingHashKey: String(half - 1n) })
      const top = String((half << 1n) - 1n)
      expect(shards[2]!.HashKeyRange).toEqual({ StartingHashKey: String(half), EndingHashKey: top })
      const summary = yield* api.describeStreamSummary({ StreamName: "s" })
      expect(summary.StreamDescriptionSummary?.OpenShardCount).toBe(2)

      // New records go to the children, by hash.
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
      const put = yield* putAll(api, "s", keys)
      put.forEach((out, i) => expect(out.ShardId).toBe(hashOf(keys[i]!) < half ? low : high))

      // The parent reads out what it had, then stops.
      const page1 = yield* api.getRecords({ ShardIterator: before, Limit: 2 })
      expect(page1.Records!.map(text)).toEqual(["a", "b"])
      expect(page1.NextShardIterator).toBeDefined()
      const page2 = yield* api.getRecords({ ShardIterator: page1.NextShardIterator! })
      expect(page2.Records!.map(text)).toEqual(["c"])
      expect(page2.NextShardIterator).toBeUndefined()
      expect(page2.ChildShards!.map((c) => [c.ShardId, c.ParentShards])).toEqual([[low, [shard0]], [high, [shard0]]])

      const latest = yield* api.getRecords({ ShardIterator: yield* iteratorOf(api, "s", shard0, "LATEST") })
      expect(latest.Records).toEqual([])
      expect(latest.NextShardIterator).toBeUndefined()
      const again = yield* Effect.flip(memory.splitShard("s", shard0))
      expect(again._tag).toBe("KinesisRequestError")
    }))

  it.effect("ListShards honours MaxResults exactly; its NextToken expires after 5 minutes", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 4 }] })
      const page1 = yield* api.listShards({ StreamName: "s", MaxResults: 3 })
      expect(page1.Shards).toHaveLength(3)
      const both = yield* Effect.flip(api.listShards({ StreamName: "s", NextToken: page1.NextToken! }))
      expect(both._tag === "KinesisRequestError" && both.errorName).toBe("InvalidArgumentException")
      const page2 = yield* api.listShards({ NextToken: page1.NextToken! })
      expect(page2.Shards!.map((s) => s.ShardId)).toEqual(["shardId-000000000003"])
      expect(page2.NextToken).toBeUndefined()
      yield* TestClock.adjust("6 minutes")
      const expired = yield* Effect.flip(api.listShards({ NextToken: page1.NextToken! }))
      expect(expired._tag === "KinesisRequestError" && expired.errorName).toBe("ExpiredNextTokenException")
    }))

  it.effect("a sequence number from another shard is refused; ExplicitHashKey picks the shard", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 2 }] })
      const last = (1n << 128n) - 1n
      const put = (hashKey: bigint) =>
        api.putRecord({ StreamName: "s", PartitionKey: "x", ExplicitHashKey: String(hashKey), Data: bytes("x") })
      const out = yield* put(last)
      expect(out.ShardId).toBe("shardId-000000000001")
      const error = yield* Effect.flip(
        iteratorOf(api, "s", shard0, "AT_SEQUENCE_NUMBER", { StartingSequenceNumber: out.SequenceNumber! })
      )
      expect(error._tag === "KinesisRequestError" && error.errorName).toBe("InvalidArgumentException")
      const outside = yield* Effect.flip(put(last + 1n))
      expect(outside._tag === "KinesisRequestError" && outside.errorName).toBe("InvalidArgumentException")
    }))

  it.effect("is retried afresh: an effect built before the stream existed sees it when run again", () =>
    Effect.gen(function* () {
      const { api, createStream } = yield* MemoryKinesis.make()
      const describe = api.describeStreamSummary({ StreamName: "late" })
      expect((yield* Effect.flip(describe))._tag).toBe("KinesisResourceNotFound")
      yield* createStream("late", 1)
      expect((yield* describe).StreamDescriptionSummary?.StreamStatus).toBe("ACTIVE")
    }))

  it.effect("the layer provides Kinesis and the handle", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const memory = yield* MemoryKinesis
      yield* memory.createStream("s", 3)
      expect((yield* kinesis.listShards({ StreamName: "s" })).Shards).toHaveLength(3)
    }).pipe(Effect.provide(Layer.fresh(MemoryKinesis.layer()))))

  it.effect.prop(
    "every record put is read back once, on the shard its key hashes to, in order, with ordered sequence numbers",
    {
      shardCount: fc.integer({ min: 1, max: 6 }),
      keys: fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 60 }),
      batch: fc.integer({ min: 1, max: 25 })
    },
    ({ batch, keys, shardCount }) =>
      Effect.gen(function* () {
        const { api } = yield* MemoryKinesis.make({ streams: [{ name: "p", shardCount }] })
        const sent: Array<{ key: string; shardId: string; seq: string; value: string }> = []
        for (let i = 0; i < keys.length; i += batch) {
          const chunk = keys.slice(i, i + batch).map((key, j) => ({ key, value: String(i + j) }))
          const out = yield* api.putRecords({
            StreamName: "p",
            Records: chunk.map((c) => ({ PartitionKey: c.key, Data: bytes(c.value) }))
          })
          out.Records!.forEach((r, j) => sent.push({ ...chunk[j]!, shardId: r.ShardId!, seq: r.SequenceNumber! }))
        }
        const seqs = sent.map((s) => s.seq)
        expect(new Set(seqs).size).toBe(seqs.length)
        // Fixed width: string order is numeric order is put order.
        expect(seqs.every((s, i) => i === 0 || (seqs[i - 1]! < s && BigInt(seqs[i - 1]!) < BigInt(s)))).toBe(true)
        for (const shard of (yield* api.listShards({ StreamName: "p" })).Shards!) {
          const start = BigInt(shard.HashKeyRange!.StartingHashKey!)
          const end = BigInt(shard.HashKeyRange!.EndingHashKey!)
          const out = yield* api.getRecords({
            ShardIterator: yield* iteratorOf(api, "p", shard.ShardId!, "TRIM_HORIZON")
          })
          const expected = sent.filter((s) => s.shardId === shard.ShardId)
          expect(out.Records!.map(text)).toEqual(expected.map((s) => s.value))
          for (const s of expected) expect(start <= hashOf(s.key) && hashOf(s.key) <= end).toBe(true)
        }
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("records older than retentionHours are not returned, and TRIM_HORIZON starts after them", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1, retentionHours: 24 }] })
      const [old] = yield* putAll(api, "s", ["old"])
      yield* TestClock.adjust("12 hours")
      yield* putAll(api, "s", ["young"])
      yield* TestClock.adjust("12 hours")
      const read = (ShardIterator: string) =>
        Effect.map(api.getRecords({ ShardIterator }), (out) => out.Records!.map(text))
      // 24 hours old is still inside retention; an iterator taken now outlives the record it points at.
      const oldSeq = { StartingSequenceNumber: old!.SequenceNumber! }
      const atOld = yield* iteratorOf(api, "s", shard0, "AT_SEQUENCE_NUMBER", oldSeq)
      expect(yield* read(yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON"))).toEqual(["old", "young"])
      yield* TestClock.adjust("1 millis")
      expect(yield* read(yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON"))).toEqual(["young"])
      expect(yield* read(atOld)).toEqual(["young"])
      // A timestamp before the trim horizon reads from the trim horizon.
      expect(yield* read(yield* iteratorOf(api, "s", shard0, "AT_TIMESTAMP", { Timestamp: new Date(0) }))).toEqual([
        "young"
      ])
      yield* TestClock.adjust("12 hours")
      expect(yield* read(yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON"))).toEqual([])
    }))

  it.effect("retention is per stream: a 48-hour stream still returns what a 24-hour one has dropped", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({
        streams: [{ name: "day", shardCount: 1 }, { name: "two-days", shardCount: 1, retentionHours: 48 }]
      })
      yield* putAll(api, "day", ["a"])
      yield* putAll(api, "two-days", ["a"])
      yield* TestClock.adjust("30 hours")
      const summary = yield* api.describeStreamSummary({ StreamName: "two-days" })
      expect(summary.StreamDescriptionSummary?.RetentionPeriodHours).toBe(48)
      const records = (StreamName: string) =>
        Effect.flatMap(iteratorOf(api, StreamName, shard0, "TRIM_HORIZON"), (ShardIterator) =>
          Effect.map(api.getRecords({ ShardIterator }), (out) => out.Records!.map(text)))
      expect(yield* records("day")).toEqual([])
      expect(yield* records("two-days")).toEqual(["a"])
      const tooShort = yield* Effect.flip(
        Effect.flatMap(MemoryKinesis.make(), (memory) => memory.createStream("short", 1, 23))
      )
      expect(tooShort._tag === "KinesisRequestError" && tooShort.errorName).toBe("ValidationException")
    }))

  it.effect("a closed shard leaves ListShards once retention has passed since it closed; its children stay", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      yield* putAll(memory.api, "s", ["a"])
      yield* TestClock.adjust("1 hour")
      const [low, high] = yield* memory.splitShard("s", shard0)
      const listed = Effect.map(memory.api.listShards({ StreamName: "s" }), (out) =>
        out.Shards!.map((s) => s.ShardId))
      yield* TestClock.adjust(24 * 3_600_000 - 1)
      expect(yield* listed).toEqual([shard0, low, high])
      yield* TestClock.adjust("1 millis")
      expect(yield* listed).toEqual([low, high])
      const children = (yield* memory.api.listShards({ StreamName: "s" })).Shards!
      expect(children.map((s) => s.ParentShardId)).toEqual([shard0, shard0])
      expect((yield* memory.api.describeStreamSummary({ StreamName: "s" })).StreamDescriptionSummary?.OpenShardCount)
        .toBe(2)
    }))

  it.effect("handle.mergeShards refuses shards that are not adjacent, closed, or unknown", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 3 }] })
      const shard = (i: number) => `shardId-00000000000${i}`
      const refused = (a: string, b: string, stream = "s") => Effect.flip(memory.mergeShards(stream, a, b))
      const requestError = (error: KinesisError) =>
        error._tag === "KinesisRequestError" ? error.errorName : error._tag
      expect(requestError(yield* refused(shard(0), shard(2)))).toBe("InvalidArgumentException")
      expect(requestError(yield* refused(shard(1), shard(1)))).toBe("InvalidArgumentException")
      const merged = yield* memory.mergeShards("s", shard(1), shard(0))
      expect(merged).toBe(shard(3))
      // Both parents are closed now: neither merges again, in either position.
      expect(requestError(yield* refused(shard(0), merged))).toBe("InvalidArgumentException")
      expect(requestError(yield* refused(merged, shard(1)))).toBe("InvalidArgumentException")
      const unknown = [
        yield* refused(shard(9), shard(2)),
        yield* refused(shard(2), shard(9)),
        yield* refused(shard(0), shard(1), "no-such-stream")
      ]
      expect(unknown.map((e) => e._tag)).toEqual(Array(3).fill("KinesisResourceNotFound"))
      expect(unknown[1]).toMatchObject({ operation: "MergeShards", streamName: "s" })
      // Nothing refused changed the shards: the merged child and the untouched one are the open ones.
      const open = (yield* memory.api.listShards({ StreamName: "s" })).Shards!.filter(
        (s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined
      )
      expect(open.map((s) => s.ShardId)).toEqual([shard(2), merged])
      expect(yield* memory.mergeShards("s", merged, shard(2))).toBe(shard(4))
    }))

  it.effect("one GetRecords answer holds at most 10 MiB, and at least one record", () =>
    Effect.gen(function* () {
      const { api } = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 1 }] })
      const MiB = 1024 * 1024
      for (let i = 0; i < 12; i++) {
        yield* api.putRecord({ StreamName: "s", PartitionKey: `k${i}`, Data: new Uint8Array(MiB - 10) })
      }
      const first = yield* api.getRecords({ ShardIterator: yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON") })
      expect(first.Records).toHaveLength(10)
      const rest = yield* api.getRecords({ ShardIterator: first.NextShardIterator! })
      expect(rest.Records).toHaveLength(2)
    }))

  describe("throughput limits (opt-in)", () => {
    const limited = MemoryKinesis.make({ streams: [{ name: "s", shardCount: 2 }], throughputLimits: {} })

    it.effect("a shard takes 5 GetRecords calls a second; the 6th is throttled until the second has passed", () =>
      Effect.gen(function* () {
        const { api } = yield* limited
        const iterator = yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON")
        for (let i = 0; i < 5; i++) yield* api.getRecords({ ShardIterator: iterator })
        const throttled = yield* Effect.flip(api.getRecords({ ShardIterator: iterator }))
        expect(throttled).toMatchObject({ _tag: "KinesisThrottled", errorName: "ProvisionedThroughputExceededException" })
        // The other shard has its own quota.
        yield* api.getRecords({ ShardIterator: yield* iteratorOf(api, "s", "shardId-000000000001", "TRIM_HORIZON") })
        yield* TestClock.adjust("1 second")
        yield* api.getRecords({ ShardIterator: iterator })
      }))

    it.effect("reading 10 MiB at once makes the shard refuse reads for the next 5 seconds (2 MiB/s)", () =>
      Effect.gen(function* () {
        const { api } = yield* MemoryKinesis.make({
          streams: [{ name: "s", shardCount: 1 }],
          throughputLimits: { writeBytesPerSecond: 100 * 1024 * 1024 }
        })
        for (let i = 0; i < 10; i++) {
          yield* api.putRecord({ StreamName: "s", PartitionKey: `k${i}`, Data: new Uint8Array(1024 * 1024 - 8) })
        }
        const big = yield* api.getRecords({ ShardIterator: yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON") })
        expect(big.Records).toHaveLength(10)
        yield* TestClock.adjust("4900 millis")
        expect((yield* Effect.flip(api.getRecords({ ShardIterator: big.NextShardIterator! })))._tag).toBe("KinesisThrottled")
        yield* TestClock.adjust("100 millis")
        expect((yield* api.getRecords({ ShardIterator: big.NextShardIterator! })).Records).toEqual([])
      }))

    it.effect("writes over 1000 records a second fail entry by entry in PutRecords, and are not stored", () =>
      Effect.gen(function* () {
        const { api } = yield* limited
        const entries = (from: number, count: number) =>
          Array.from({ length: count }, (_, i) => ({ PartitionKey: "same", ExplicitHashKey: "0", Data: bytes(`${from + i}`) }))
        const first = yield* api.putRecords({ StreamName: "s", Records: entries(0, 500) })
        const second = yield* api.putRecords({ StreamName: "s", Records: entries(500, 500) })
        expect([first.FailedRecordCount, second.FailedRecordCount]).toEqual([0, 0])
        const third = yield* api.putRecords({
          StreamName: "s",
          Records: [...entries(1000, 1), { PartitionKey: "other", ExplicitHashKey: (2n ** 127n).toString(), Data: bytes("x") }]
        })
        expect(third.FailedRecordCount).toBe(1)
        expect(third.Records![0]).toMatchObject({ ErrorCode: "ProvisionedThroughputExceededException" })
        expect(third.Records![0]!.SequenceNumber).toBeUndefined()
        expect(third.Records![1]).toMatchObject({ ShardId: "shardId-000000000001" })
        const putOne = yield* Effect.flip(api.putRecord({ StreamName: "s", PartitionKey: "k", ExplicitHashKey: "0", Data: bytes("y") }))
        expect(putOne._tag).toBe("KinesisThrottled")
        yield* TestClock.adjust("1 second")
        yield* api.putRecord({ StreamName: "s", PartitionKey: "k", ExplicitHashKey: "0", Data: bytes("z") })
        const stored: Array<string> = []
        let iterator: string | undefined = yield* iteratorOf(api, "s", shard0, "TRIM_HORIZON")
        while (iterator !== undefined) {
          const out: Omit<GetRecordsCommandOutput, "$metadata"> = yield* api.getRecords({ ShardIterator: iterator })
          stored.push(...out.Records!.map(text))
          if (out.Records!.length === 0) break
          yield* TestClock.adjust("1 second")
          iterator = out.NextShardIterator
        }
        expect(stored).toHaveLength(1001)
        expect(stored.at(-1)).toBe("z")
        expect(stored).not.toContain("1000")
      }))

    it.effect("bytes count too: 1 MiB a second per shard", () =>
      Effect.gen(function* () {
        const { api } = yield* limited
        const half = new Uint8Array(512 * 1024)
        yield* api.putRecord({ StreamName: "s", PartitionKey: "a", ExplicitHashKey: "0", Data: half })
        const over = yield* Effect.flip(api.putRecord({ StreamName: "s", PartitionKey: "b", ExplicitHashKey: "0", Data: half }))
        expect(over._tag).toBe("KinesisThrottled")
      }))
  })
})
