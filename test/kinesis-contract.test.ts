import type { Shard } from "@aws-sdk/client-kinesis"
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { Kinesis } from "../src/kinesis/index.js"
import { LocalKinesis } from "../src/local/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { KinesisLocal } from "./support/kinesisLocal.js"
import {
  type Capabilities,
  MAX_HASH,
  hashOf,
  rangeOf,
  inRange,
  bytes,
  text,
  increasing,
  shardId,
  freshStream,
  allShards,
  shardNamed,
  iterator,
  drain,
  readToEnd,
  putAt,
  split,
  merge,
  expectCoversHashSpace,
  expectError,
  expectRequestError
} from "./support/kinesisContract.js"

// One behaviour, three implementations (see test/support/kinesisContract.ts for the capabilities).

const kinesisContract = (name: string, kinesis: Layer.Layer<Kinesis, unknown>, can: Capabilities) =>
  layer(kinesis, { excludeTestServices: true, timeout: "30 seconds" })(name, (it) => {
    it.effect("createStream makes open shards whose hash key ranges cover the whole space", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(4)
        const summary = yield* Effect.flatMap(Kinesis, (k) => k.describeStreamSummary({ StreamName: stream }))
        expect(summary.StreamDescriptionSummary?.OpenShardCount).toBe(4)
        const shards = yield* allShards(stream)
        expect(shards.map((s) => s.ShardId)).toEqual([0, 1, 2, 3].map(shardId))
        expect(shards.every((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)).toBe(true)
        expect(shards.every((s) => s.ParentShardId === undefined)).toBe(true)
        expectCoversHashSpace(shards)
      }))

    it.effect.skipIf(!can.evenSplit)("createStream splits the hash key space at multiples of 2^128 / n", () =>
      Effect.gen(function* () {
        const shards = yield* allShards(yield* freshStream(4))
        expect(shards.map((s) => rangeOf(s)[0])).toEqual([0n, 1n, 2n, 3n].map((i) => (i * (MAX_HASH + 1n)) / 4n))
      }))

    it.effect("listShards pages with MaxResults and NextToken, and starts after ExclusiveStartShardId", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(4)
        const ids: Array<string> = []
        let page = yield* kinesis.listShards({ StreamName: stream, MaxResults: 3 })
        for (;;) {
          // kinesalite returns everything on one page; the others honour MaxResults. Both are Kinesis.
          ids.push(...page.Shards!.map((s) => s.ShardId!))
          if (page.NextToken === undefined) break
          page = yield* kinesis.listShards({ NextToken: page.NextToken, MaxResults: 3 })
        }
        expect(ids).toEqual([0, 1, 2, 3].map(shardId))
        const after = yield* kinesis.listShards({ StreamName: stream, ExclusiveStartShardId: shardId(1) })
        expect(after.Shards!.map((s) => s.ShardId)).toEqual([shardId(2), shardId(3)])
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
        for (const shard of shards) {
          // Entries of one call land in entry order: increasing sequence numbers per shard.
          const answered = out.Records!.filter((r) => r.ShardId === shard.ShardId).map((r) => r.SequenceNumber!)
          expect(increasing(answered)).toBe(true)
          // And they are where the answer said.
          const records = yield* drain(yield* iterator(stream, shard.ShardId!, "TRIM_HORIZON"))
          expect(records.map((r) => r.SequenceNumber)).toEqual(answered)
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
        const seqs = yield* putAt(stream, ["a", "b", "c", "d", "e"])
        const second = { StartingSequenceNumber: seqs[1]! }
        const after = yield* drain(yield* iterator(stream, shardId(0), "AFTER_SEQUENCE_NUMBER", second))
        expect(after.map(text)).toEqual(["c", "d", "e"])
        const at = yield* drain(yield* iterator(stream, shardId(0), "AT_SEQUENCE_NUMBER", second))
        expect(at.map(text)).toEqual(["b", "c", "d", "e"])
        expect(at.map((r) => r.SequenceNumber)).toEqual(seqs.slice(1))
      }))

    it.effect("LATEST skips records already there and sees the ones put after it", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["old-1", "old-2"])
        const latest = yield* iterator(stream, shardId(0), "LATEST")
        expect(yield* drain(latest)).toEqual([])
        yield* putAt(stream, ["new-1", "new-2"])
        expect((yield* drain(latest)).map(text)).toEqual(["new-1", "new-2"])
      }))

    it.effect("AT_TIMESTAMP starts at the first record that arrived at or after the time", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["a", "b"])
        yield* Effect.sleep("20 millis")
        yield* putAt(stream, ["c"])
        const all = yield* drain(yield* iterator(stream, shardId(0), "TRIM_HORIZON"))
        const from = (Timestamp: Date) =>
          Effect.flatMap(iterator(stream, shardId(0), "AT_TIMESTAMP", { Timestamp }), (it) => drain(it))
        expect((yield* from(all[0]!.ApproximateArrivalTimestamp!)).map(text)).toEqual(["a", "b", "c"])
        expect((yield* from(all[2]!.ApproximateArrivalTimestamp!)).map(text)).toEqual(["c"])
      }))

    it.effect("GetRecords returns at most Limit records and NextShardIterator continues from there", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["r0", "r1", "r2", "r3", "r4"])
        let next = yield* iterator(stream, shardId(0), "TRIM_HORIZON")
        const pages: Array<Array<string>> = []
        for (let i = 0; i < 4; i++) {
          const out = yield* kinesis.getRecords({ ShardIterator: next, Limit: 2 })
          pages.push(out.Records!.map(text))
          next = out.NextShardIterator!
        }
        expect(pages).toEqual([["r0", "r1"], ["r2", "r3"], ["r4"], []])
      }))

    it.effect("MillisBehindLatest is in every answer and 0 once caught up", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["a", "b"])
        const start = yield* iterator(stream, shardId(0), "TRIM_HORIZON")
        const first = yield* kinesis.getRecords({ ShardIterator: start })
        expect(first.Records!.map(text)).toEqual(["a", "b"])
        expect(first.MillisBehindLatest).toBe(0)
        const caughtUp = yield* kinesis.getRecords({ ShardIterator: first.NextShardIterator! })
        expect(caughtUp.MillisBehindLatest).toBe(0)
      }))

    it.effect.skipIf(!can.millisBehindLatest)("MillisBehindLatest is above 0 while older records are unread", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["a"])
        yield* Effect.sleep("30 millis")
        yield* putAt(stream, ["b"])
        // MemoryKinesis measures the unread record's age; kinesis-mock the arrival gap to the newest.
        yield* Effect.sleep("30 millis")
        const start = yield* iterator(stream, shardId(0), "TRIM_HORIZON")
        const behind = yield* kinesis.getRecords({ ShardIterator: start, Limit: 1 })
        expect(behind.Records!.map(text)).toEqual(["a"])
        expect(behind.MillisBehindLatest).toBeGreaterThan(0)
        const rest = yield* kinesis.getRecords({ ShardIterator: behind.NextShardIterator! })
        expect(rest.Records!.map(text)).toEqual(["b"])
        expect(rest.MillisBehindLatest).toBe(0)
      }))

    it.effect("splitShard closes the parent and opens two children that partition its hash range", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        const parent = yield* shardNamed(stream, shardId(0))
        const at = yield* split(stream, parent)
        const shards = yield* allShards(stream)
        expect(shards.map((s) => s.ShardId)).toEqual([0, 1, 2].map(shardId))
        const [closed, low, high] = shards as [Shard, Shard, Shard]
        expect(closed.SequenceNumberRange?.EndingSequenceNumber).toMatch(/^\d+$/)
        expect(rangeOf(closed)).toEqual(rangeOf(parent))
        expect([low.ParentShardId, high.ParentShardId]).toEqual([shardId(0), shardId(0)])
        expect([low.AdjacentParentShardId, high.AdjacentParentShardId]).toEqual([undefined, undefined])
        expect(rangeOf(low)).toEqual([0n, at - 1n])
        expect(rangeOf(high)).toEqual([at, MAX_HASH])
        expectCoversHashSpace(shards)
        const summary = yield* Effect.flatMap(Kinesis, (k) => k.describeStreamSummary({ StreamName: stream }))
        expect(summary.StreamDescriptionSummary?.OpenShardCount).toBe(2)
        // New records go to the child whose range holds their hash key.
        yield* putAt(stream, ["low"], at - 1n)
        yield* putAt(stream, ["high"], at)
        expect((yield* drain(yield* iterator(stream, low.ShardId!, "TRIM_HORIZON"))).map(text)).toEqual(["low"])
        expect((yield* drain(yield* iterator(stream, high.ShardId!, "TRIM_HORIZON"))).map(text)).toEqual(["high"])
      }))

    it.effect("a closed shard reads out its records, then ends: the last read has no NextShardIterator", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["a", "b", "c"])
        const before = yield* iterator(stream, shardId(0), "TRIM_HORIZON")
        yield* split(stream, yield* shardNamed(stream, shardId(0)))
        const { records } = yield* readToEnd(before, 2)
        expect(records.map(text)).toEqual(["a", "b", "c"])
        const fresh = yield* readToEnd(yield* iterator(stream, shardId(0), "TRIM_HORIZON"))
        expect(fresh.records.map(text)).toEqual(["a", "b", "c"])
        const latest = yield* readToEnd(yield* iterator(stream, shardId(0), "LATEST"))
        expect(latest.records).toEqual([])
      }))

    it.effect.skipIf(!can.endingSequenceNumber)(
      "a closed shard's EndingSequenceNumber is above its records and below its children's first",
      () =>
        Effect.gen(function* () {
          const stream = yield* freshStream(1)
          const seqs = yield* putAt(stream, ["a", "b"])
          yield* split(stream, yield* shardNamed(stream, shardId(0)))
          const [closed, ...children] = yield* allShards(stream)
          const ending = BigInt(closed!.SequenceNumberRange!.EndingSequenceNumber!)
          expect(ending).toBeGreaterThan(BigInt(seqs[1]!))
          for (const child of children) {
            expect(BigInt(child.SequenceNumberRange!.StartingSequenceNumber!)).toBeGreaterThan(ending)
          }
        })
    )

    it.effect.skipIf(!can.childShards)("the read that ends a closed shard names its ChildShards", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(1)
        yield* putAt(stream, ["a"])
        yield* split(stream, yield* shardNamed(stream, shardId(0)))
        const [, low, high] = (yield* allShards(stream)) as [Shard, Shard, Shard]
        const { last } = yield* readToEnd(yield* iterator(stream, shardId(0), "TRIM_HORIZON"))
        expect(last.ChildShards!.map((c) => [c.ShardId, c.ParentShards, c.HashKeyRange])).toEqual([
          [low.ShardId, [shardId(0)], low.HashKeyRange],
          [high.ShardId, [shardId(0)], high.HashKeyRange]
        ])
        // After a merge, each parent names the one child, with both parents.
        yield* merge(stream, low.ShardId!, high.ShardId!)
        for (const parent of [low, high]) {
          const ended = yield* readToEnd(yield* iterator(stream, parent.ShardId!, "TRIM_HORIZON"))
          expect(ended.last.ChildShards!.map((c) => [c.ShardId, [...c.ParentShards!].sort()])).toEqual([
            [shardId(3), [low.ShardId, high.ShardId]]
          ])
        }
      }))

    it.effect("mergeShards closes both and opens one child over their union, naming both parents", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(2)
        yield* putAt(stream, ["low"], 0n)
        yield* putAt(stream, ["high"], MAX_HASH)
        yield* merge(stream, shardId(0), shardId(1))
        const shards = yield* allShards(stream)
        expect(shards.map((s) => s.ShardId)).toEqual([0, 1, 2].map(shardId))
        const [lowParent, highParent, child] = shards as [Shard, Shard, Shard]
        for (const parent of [lowParent, highParent]) {
          expect(parent.SequenceNumberRange?.EndingSequenceNumber).toMatch(/^\d+$/)
        }
        expect(child.ParentShardId).toBe(shardId(0))
        expect(child.AdjacentParentShardId).toBe(shardId(1))
        expect(rangeOf(child)).toEqual([0n, MAX_HASH])
        expectCoversHashSpace(shards)
        const summary = yield* Effect.flatMap(Kinesis, (k) => k.describeStreamSummary({ StreamName: stream }))
        expect(summary.StreamDescriptionSummary?.OpenShardCount).toBe(1)
        for (const [parent, value] of [[lowParent, "low"], [highParent, "high"]] as const) {
          const ended = yield* readToEnd(yield* iterator(stream, parent.ShardId!, "TRIM_HORIZON"))
          expect(ended.records.map(text)).toEqual([value])
        }
        yield* putAt(stream, ["later"], MAX_HASH)
        expect((yield* drain(yield* iterator(stream, child.ShardId!, "TRIM_HORIZON"))).map(text)).toEqual(["later"])
      }))

    it.effect.skipIf(!can.mergeEitherOrder)("mergeShards takes the adjacent pair in either order", () =>
      Effect.gen(function* () {
        const stream = yield* freshStream(2)
        yield* merge(stream, shardId(1), shardId(0))
        const child = yield* shardNamed(stream, shardId(2))
        expect([child.ParentShardId, child.AdjacentParentShardId]).toEqual([shardId(1), shardId(0)])
        expect(rangeOf(child)).toEqual([0n, MAX_HASH])
      }))

    it.effect("merging shards that are not adjacent is an InvalidArgumentException request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(3)
        const input = { StreamName: stream, ShardToMerge: shardId(0), AdjacentShardToMerge: shardId(2) }
        expectRequestError(yield* expectError(kinesis.mergeShards(input)), "InvalidArgumentException")
      }))

    it.effect.skipIf(!can.reshardClosedRefused)("splitting or merging a closed shard is a request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(2)
        yield* split(stream, yield* shardNamed(stream, shardId(0)))
        const again = { StreamName: stream, ShardToSplit: shardId(0), NewStartingHashKey: "1000" }
        expectRequestError(yield* expectError(kinesis.splitShard(again)))
        const closed = { StreamName: stream, ShardToMerge: shardId(0), AdjacentShardToMerge: shardId(1) }
        expectRequestError(yield* expectError(kinesis.mergeShards(closed)))
      }))

    it.effect("a stream that does not exist is KinesisResourceNotFound for every call", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const StreamName = "no-such-stream"
        const [ShardId, AdjacentShardToMerge] = [shardId(0), shardId(1)]
        const errors = [
          yield* expectError(kinesis.describeStreamSummary({ StreamName })),
          yield* expectError(kinesis.listShards({ StreamName })),
          yield* expectError(kinesis.getShardIterator({ StreamName, ShardId, ShardIteratorType: "TRIM_HORIZON" })),
          yield* expectError(kinesis.putRecord({ StreamName, PartitionKey: "k", Data: bytes("x") })),
          yield* expectError(kinesis.putRecords({ StreamName, Records: [{ PartitionKey: "k", Data: bytes("x") }] })),
          yield* expectError(kinesis.splitShard({ StreamName, ShardToSplit: ShardId, NewStartingHashKey: "1000" })),
          yield* expectError(kinesis.mergeShards({ StreamName, ShardToMerge: ShardId, AdjacentShardToMerge })),
          yield* expectError(kinesis.deleteStream({ StreamName }))
        ]
        expect(errors.map((e) => e._tag)).toEqual(Array(8).fill("KinesisResourceNotFound"))
      }))

    it.effect("a shard that does not exist is KinesisResourceNotFound, for reads and resharding", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const StreamName = yield* freshStream(2)
        const missing = shardId(7)
        const errors = [
          yield* Effect.flip(iterator(StreamName, missing, "TRIM_HORIZON")),
          yield* expectError(kinesis.splitShard({ StreamName, ShardToSplit: missing, NewStartingHashKey: "1000" })),
          yield* expectError(kinesis.mergeShards({ StreamName, ShardToMerge: shardId(1), AdjacentShardToMerge: missing }))
        ]
        expect(errors.map((e) => e._tag)).toEqual(Array(3).fill("KinesisResourceNotFound"))
        expect(errors[0]).toMatchObject({ streamName: StreamName, shardId: shardId(7) })
      }))

    it.effect("a garbage shard iterator is a request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const error = yield* expectError(kinesis.getRecords({ ShardIterator: "not-an-iterator" }))
        expect(error._tag).toBe("KinesisRequestError")
      }))

    it.effect.skipIf(!can.malformedIteratorIsInvalidArgument)(
      "a garbage shard iterator is a non-retryable InvalidArgumentException",
      () =>
        Effect.gen(function* () {
          const kinesis = yield* Kinesis
          const error = yield* expectError(kinesis.getRecords({ ShardIterator: "not-an-iterator" }))
          expectRequestError(error, "InvalidArgumentException")
        })
    )

    it.effect.skipIf(!can.sequenceNumberOfOtherShardRefused)(
      "a sequence number from another shard is an InvalidArgumentException",
      () =>
        Effect.gen(function* () {
          const stream = yield* freshStream(2)
          const [seq] = yield* putAt(stream, ["x"], MAX_HASH)
          const error = yield* Effect.flip(
            iterator(stream, shardId(0), "AT_SEQUENCE_NUMBER", { StartingSequenceNumber: seq! })
          )
          expectRequestError(error, "InvalidArgumentException")
        })
    )

    it.effect("a Limit outside 1..10000 is a non-retryable request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        const start = yield* iterator(stream, shardId(0), "TRIM_HORIZON")
        for (const Limit of [0, 10_001]) {
          expectRequestError(yield* expectError(kinesis.getRecords({ ShardIterator: start, Limit })))
        }
      }))

    it.effect("creating a stream that exists is a ResourceInUseException request error", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const stream = yield* freshStream(1)
        const error = yield* expectError(kinesis.createStream({ StreamName: stream, ShardCount: 1 }))
        expectRequestError(error, "ResourceInUseException")
      }))
  })

kinesisContract("MemoryKinesis", MemoryKinesis.layer(), {
  evenSplit: true,
  millisBehindLatest: true,
  childShards: true,
  endingSequenceNumber: true,
  reshardClosedRefused: true,
  mergeEitherOrder: true,
  malformedIteratorIsInvalidArgument: true,
  sequenceNumberOfOtherShardRefused: true
})

kinesisContract("kinesalite via LocalKinesis", LocalKinesis.layer({ host: "127.0.0.1", port: 0 }), {
  evenSplit: true,
  millisBehindLatest: false,
  childShards: false,
  endingSequenceNumber: true,
  reshardClosedRefused: false,
  mergeEitherOrder: false,
  malformedIteratorIsInvalidArgument: true,
  sequenceNumberOfOtherShardRefused: true
})

kinesisContract("kinesis-local (kinesis-mock) in its own process", KinesisLocal.layer(), {
  evenSplit: false,
  millisBehindLatest: true,
  childShards: true,
  endingSequenceNumber: false,
  reshardClosedRefused: true,
  mergeEitherOrder: false,
  malformedIteratorIsInvalidArgument: false,
  sequenceNumberOfOtherShardRefused: false
})
