import { createHash } from "node:crypto"
import type { _Record, GetRecordsCommandOutput, Shard } from "@aws-sdk/client-kinesis"
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer, Schedule } from "effect"
import { Kinesis, type KinesisError } from "../src/kinesis/index.js"
import { LocalKinesis } from "../src/local/index.js"
import { MemoryKinesis } from "../src/testing/index.js"

// One behaviour, two implementations: whatever passes here against kinesalite must pass against
// MemoryKinesis, so tests written on the fast one say something about the real one.

const MAX_HASH = (1n << 128n) - 1n
const hashOf = (partitionKey: string) => BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)
const inRange = (shard: Shard, hash: bigint) =>
  BigInt(shard.HashKeyRange!.StartingHashKey!) <= hash && hash <= BigInt(shard.HashKeyRange!.EndingHashKey!)
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (record: _Record) => new TextDecoder().decode(record.Data)
const increasing = (seqs: ReadonlyArray<string>) => seqs.every((s, i) => i === 0 || BigInt(seqs[i - 1]!) < BigInt(s))

let streams = 0

/** A new stream, ACTIVE (kinesalite takes a tick to get there; polling is bounded). */
const freshStream = (shardCount: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const name = `contract-${++streams}-${shardCount}`
    yield* kinesis.createStream({ StreamName: name, ShardCount: shardCount })
    yield* kinesis.describeStreamSummary({ StreamName: name }).pipe(
      Effect.filterOrFail((out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => "not active yet"),
      Effect.retry(Schedule.intersect(Schedule.spaced("5 millis"), Schedule.recurs(400)))
    )
    return name
  })

const allShards = (streamName: string) =>
  Effect.flatMap(Kinesis, (kinesis) => Effect.map(kinesis.listShards({ StreamName: streamName }), (out) => out.Shards!))

const iterator = (
  streamName: string,
  shardId: string,
  type: "TRIM_HORIZON" | "LATEST" | "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER" | "AT_TIMESTAMP",
  extra: { StartingSequenceNumber?: string; Timestamp?: Date } = {}
) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    Effect.map(
      kinesis.getShardIterator({ StreamName: streamName, ShardId: shardId, ShardIteratorType: type, ...extra }),
      (out) => out.ShardIterator!
    ))

/** Reads until a call returns nothing and says it is caught up. */
const drain = (shardIterator: string, limit?: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const records: Array<_Record> = []
    let next: string | undefined = shardIterator
    while (next !== undefined) {
      const input = { ShardIterator: next, ...(limit === undefined ? {} : { Limit: limit }) }
      const out: Omit<GetRecordsCommandOutput, "$metadata"> = yield* kinesis.getRecords(input)
      records.push(...out.Records!)
      if (out.Records!.length === 0 && out.MillisBehindLatest === 0) break
      next = out.NextShardIterator
    }
    return records
  })

/** Puts `values` one call at a time (so their order is defined) on the first shard. */
const putOnFirstShard = (streamName: string, values: ReadonlyArray<string>) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    Effect.forEach(values, (value) =>
      Effect.map(
        kinesis.putRecord({ StreamName: streamName, PartitionKey: value, ExplicitHashKey: "0", Data: bytes(value) }),
        (out) => out.SequenceNumber!
      )))

const expectError = <A>(effect: Effect.Effect<A, KinesisError, Kinesis>) => Effect.flip(effect)

const kinesisContract = (name: string, kinesis: Layer.Layer<Kinesis, unknown>) =>
  layer(kinesis, { excludeTestServices: true, timeout: "30 seconds" })(name, (it) => {
    it.effect("createStream makes shards that split the whole hash key range evenly", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(4)
        const summary = yield* Effect.flatMap(Kinesis, (k) => k.describeStreamSummary({ StreamName: stream }))
        expect(summary.StreamDescriptionSummary?.OpenShardCount).toBe(4)
        const shards = yield* allShards(stream)
        expect(shards).toHaveLength(4)
        const ranges = shards
          .map((s) => [BigInt(s.HashKeyRange!.StartingHashKey!), BigInt(s.HashKeyRange!.EndingHashKey!)] as const)
          .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        expect(ranges[0]![0]).toBe(0n)
        expect(ranges[3]![1]).toBe(MAX_HASH)
        for (let i = 1; i < 4; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1n)
        expect(ranges[1]![0]).toBe((MAX_HASH + 1n) / 4n)
        expect(shards.every((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)).toBe(true)
      }))

    it.effect("listShards pages with MaxResults and NextToken, and starts after ExclusiveStartShardId", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(4)
        const ids: Array<string> = []
        let page = yield* kinesis.listShards({ StreamName: stream, MaxResults: 3 })
        for (;;) {
          // kinesalite returns everything on one page; MemoryKinesis honours MaxResults. Both are Kinesis.
          ids.push(...page.Shards!.map((s) => s.ShardId!))
          if (page.NextToken === undefined) break
          page = yield* kinesis.listShards({ NextToken: page.NextToken, MaxResults: 3 })
        }
        expect(ids).toEqual([0, 1, 2, 3].map((i) => `shardId-00000000000${i}`))
        const after = yield* kinesis.listShards({ StreamName: stream, ExclusiveStartShardId: "shardId-000000000001" })
        expect(after.Shards!.map((s) => s.ShardId)).toEqual(["shardId-000000000002", "shardId-000000000003"])
      }))

    it.effect("putRecords answers a sequence number per entry, on the shard the partition key hashes to", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(4)
        const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`)
        const out = yield* kinesis.putRecords({
          StreamName: stream,
          Records: keys.map((key) => ({ PartitionKey: key, Data: bytes(key) }))
        })
        expect(out.FailedRecordCount ?? 0).toBe(0)
        expect(out.Records).toHaveLength(keys.length)
        const shards = yield* allShards(stream)
        const byId = new Map(shards.map((s) => [s.ShardId!, s]))
        out.Records!.forEach((entry, i) => {
          expect(entry.SequenceNumber).toMatch(/^\d+$/)
          expect(inRange(byId.get(entry.ShardId!)!, hashOf(keys[i]!))).toBe(true)
        })
        expect(new Set(out.Records!.map((r) => r.SequenceNumber)).size).toBe(keys.length)
        // And they are where the answer said.
        for (const shard of shards) {
          const records = yield* drain(yield* iterator(stream, shard.ShardId!, "TRIM_HORIZON"))
          const expected = out.Records!.filter((r) => r.ShardId === shard.ShardId).map((r) => r.SequenceNumber)
          expect(records.map((r) => r.SequenceNumber).sort()).toEqual(expected.sort())
          for (const record of records) expect(inRange(shard, hashOf(record.PartitionKey!))).toBe(true)
        }
      }))

    it.effect("TRIM_HORIZON reads every record of a shard, in the order they were put", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(2)
        const values = Array.from({ length: 30 }, (_, i) => `v${i}`)
        const put = yield* Effect.forEach(values, (value) =>
          kinesis.putRecord({ StreamName: stream, PartitionKey: `k${value.length}-${value}`, Data: bytes(value) }))
        for (const shard of yield* allShards(stream)) {
          const records = yield* drain(yield* iterator(stream, shard.ShardId!, "TRIM_HORIZON"))
          const expected = values.filter((_, i) => put[i]!.ShardId === shard.ShardId)
          expect(records.map(text)).toEqual(expected)
          expect(increasing(records.map((r) => r.SequenceNumber!))).toBe(true)
          for (const record of records) expect(record.ApproximateArrivalTimestamp).toBeInstanceOf(Date)
        }
      }))

    it.effect("AFTER_SEQUENCE_NUMBER resumes right after it; AT_SEQUENCE_NUMBER includes it", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(2)
        const seqs = yield* putOnFirstShard(stream, ["a", "b", "c", "d", "e"])
        const shardId = "shardId-000000000000"
        const second = { StartingSequenceNumber: seqs[1]! }
        const after = yield* drain(yield* iterator(stream, shardId, "AFTER_SEQUENCE_NUMBER", second))
        expect(after.map(text)).toEqual(["c", "d", "e"])
        const at = yield* drain(yield* iterator(stream, shardId, "AT_SEQUENCE_NUMBER", second))
        expect(at.map(text)).toEqual(["b", "c", "d", "e"])
        expect(at.map((r) => r.SequenceNumber)).toEqual(seqs.slice(1))
      }))

    it.effect("LATEST skips records already there and sees the ones put after it", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putOnFirstShard(stream, ["old-1", "old-2"])
        const latest = yield* iterator(stream, "shardId-000000000000", "LATEST")
        expect(yield* drain(latest)).toEqual([])
        yield* putOnFirstShard(stream, ["new-1", "new-2"])
        expect((yield* drain(latest)).map(text)).toEqual(["new-1", "new-2"])
      }))

    it.effect("AT_TIMESTAMP starts at the first record that arrived at or after the time", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putOnFirstShard(stream, ["a", "b"])
        const all = yield* drain(yield* iterator(stream, "shardId-000000000000", "TRIM_HORIZON"))
        const first = all[0]!.ApproximateArrivalTimestamp!
        const from = yield* drain(yield* iterator(stream, "shardId-000000000000", "AT_TIMESTAMP", { Timestamp: first }))
        expect(from.map(text)).toEqual(["a", "b"])
      }))

    it.effect("GetRecords returns at most Limit records and NextShardIterator continues from there", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        yield* putOnFirstShard(stream, ["r0", "r1", "r2", "r3", "r4"])
        let next = yield* iterator(stream, "shardId-000000000000", "TRIM_HORIZON")
        const pages: Array<Array<string>> = []
        for (let i = 0; i < 4; i++) {
          const out = yield* kinesis.getRecords({ ShardIterator: next, Limit: 2 })
          pages.push(out.Records!.map(text))
          next = out.NextShardIterator!
        }
        expect(pages).toEqual([["r0", "r1"], ["r2", "r3"], ["r4"], []])
      }))

    it.effect("a Limit outside 1..10000 is a non-retryable request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        const start = yield* iterator(stream, "shardId-000000000000", "TRIM_HORIZON")
        for (const Limit of [0, 10_001]) {
          const error = yield* expectError(kinesis.getRecords({ ShardIterator: start, Limit }))
          expect(error._tag).toBe("KinesisRequestError")
          expect(error._tag === "KinesisRequestError" && error.retryable).toBe(false)
        }
      }))

    it.effect("a stream that does not exist is KinesisResourceNotFound for every call", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const StreamName = "no-such-stream"
        const errors = [
          yield* expectError(kinesis.describeStreamSummary({ StreamName })),
          yield* expectError(kinesis.listShards({ StreamName })),
          yield* expectError(
            kinesis.getShardIterator({ StreamName, ShardId: "shardId-000000000000", ShardIteratorType: "TRIM_HORIZON" })
          ),
          yield* expectError(kinesis.putRecord({ StreamName, PartitionKey: "k", Data: bytes("x") })),
          yield* expectError(kinesis.putRecords({ StreamName, Records: [{ PartitionKey: "k", Data: bytes("x") }] }))
        ]
        expect(errors.map((e) => e._tag)).toEqual(Array(5).fill("KinesisResourceNotFound"))
      }))

    it.effect("a shard that does not exist is KinesisResourceNotFound", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        const error = yield* Effect.flip(iterator(stream, "shardId-000000000007", "TRIM_HORIZON"))
        expect(error._tag).toBe("KinesisResourceNotFound")
      }))

    it.effect("a garbage shard iterator is an InvalidArgumentException request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const error = yield* expectError(kinesis.getRecords({ ShardIterator: "not-an-iterator" }))
        expect(error._tag).toBe("KinesisRequestError")
        if (error._tag !== "KinesisRequestError") return
        expect(error.errorName).toBe("InvalidArgumentException")
        expect(error.retryable).toBe(false)
      }))

    it.effect("creating a stream that exists is a ResourceInUseException request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        const error = yield* expectError(kinesis.createStream({ StreamName: stream, ShardCount: 1 }))
        expect(error._tag === "KinesisRequestError" && error.errorName).toBe("ResourceInUseException")
      }))
  })

kinesisContract("MemoryKinesis", MemoryKinesis.layer())
kinesisContract("kinesalite via LocalKinesis", LocalKinesis.layer({ host: "127.0.0.1", port: 0 }))
