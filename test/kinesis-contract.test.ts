import { createHash } from "node:crypto"
import type { _Record, GetRecordsCommandOutput, Shard } from "@aws-sdk/client-kinesis"
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer, Schedule } from "effect"
import { Kinesis, type KinesisError } from "../src/kinesis/index.js"
import { LocalKinesis } from "../src/local/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { KinesisLocal } from "./support/kinesisLocal.js"

// One behaviour, three implementations: whatever passes here against kinesalite and kinesis-local
// must pass against MemoryKinesis, so tests written on the fast one say something about the real one.
// Where an emulator departs from Kinesis as documented, MemoryKinesis follows Kinesis and the
// emulator's capability below is false, which skips (visibly) the tests that need it.

/** What a backend does as Kinesis does; each false one names the difference. */
interface Capabilities {
  /**
   * CreateStream splits the hash key space at multiples of 2^128 / n, as Kinesis does (kinesis-mock
   * uses (2^128 - 1) / n: each boundary one lower).
   */
  readonly evenSplit: boolean
  /** MillisBehindLatest is above 0 while records are unread (kinesalite always answers 0). */
  readonly millisBehindLatest: boolean
  /** The read that ends a closed shard names its ChildShards (kinesalite has no ChildShards). */
  readonly childShards: boolean
  /**
   * A closed shard's EndingSequenceNumber is a sequence number above its records and below its
   * children's (kinesis-mock answers 9223372036854775807, Long.MaxValue, for every closed shard).
   */
  readonly endingSequenceNumber: boolean
  /**
   * Splitting or merging a closed shard is refused (kinesalite does it again, mhart/kinesalite#109;
   * kinesis-mock refuses with ResourceInUseException where Kinesis answers InvalidArgumentException).
   */
  readonly reshardClosedRefused: boolean
  /**
   * MergeShards takes an adjacent pair in either order (kinesalite and kinesis-mock 0.6.2 both refuse
   * the pair unless ShardToMerge holds the lower hash keys).
   */
  readonly mergeEitherOrder: boolean
  /** A malformed shard iterator is InvalidArgumentException (kinesis-mock fails with a 500). */
  readonly malformedIteratorIsInvalidArgument: boolean
  /** A sequence number from another shard is refused by GetShardIterator (kinesis-mock accepts it). */
  readonly sequenceNumberOfOtherShardRefused: boolean
}

const MAX_HASH = (1n << 128n) - 1n
const hashOf = (partitionKey: string) => BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)
const rangeOf = (shard: Pick<Shard, "HashKeyRange">) =>
  [BigInt(shard.HashKeyRange!.StartingHashKey!), BigInt(shard.HashKeyRange!.EndingHashKey!)] as const
const inRange = (shard: Shard, hash: bigint) => rangeOf(shard)[0] <= hash && hash <= rangeOf(shard)[1]
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (record: _Record) => new TextDecoder().decode(record.Data)
const increasing = (seqs: ReadonlyArray<string>) => seqs.every((s, i) => i === 0 || BigInt(seqs[i - 1]!) < BigInt(s))
const shardId = (index: number) => `shardId-${String(index).padStart(12, "0")}`
type Records = Omit<GetRecordsCommandOutput, "$metadata">

let streams = 0

/**
 * Waits until the stream is ACTIVE: creation and resharding are asynchronous in Kinesis and the
 * emulators (UPDATING, then ACTIVE). Polls every 10 ms, for 5 s at most.
 */
const awaitActive = (streamName: string) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.describeStreamSummary({ StreamName: streamName }).pipe(
      Effect.filterOrFail(
        (out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE",
        (out) => new Error(`stream ${streamName} is ${out.StreamDescriptionSummary?.StreamStatus}, not ACTIVE`)
      ),
      Effect.retry(Schedule.intersect(Schedule.spaced("10 millis"), Schedule.recurs(500)))
    ))

/** A new stream, ACTIVE. */
const freshStream = (shardCount: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const name = `contract-${++streams}-${shardCount}`
    yield* kinesis.createStream({ StreamName: name, ShardCount: shardCount })
    yield* awaitActive(name)
    return name
  })

const allShards = (streamName: string) =>
  Effect.flatMap(Kinesis, (kinesis) => Effect.map(kinesis.listShards({ StreamName: streamName }), (out) => out.Shards!))

const shardNamed = (streamName: string, id: string) =>
  Effect.map(allShards(streamName), (shards) => shards.find((s) => s.ShardId === id)!)

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

/** Reads an open shard until a call returns nothing and says it is caught up. */
const drain = (shardIterator: string, limit?: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const records: Array<_Record> = []
    let next: string | undefined = shardIterator
    while (next !== undefined) {
      const input = { ShardIterator: next, ...(limit === undefined ? {} : { Limit: limit }) }
      const out: Records = yield* kinesis.getRecords(input)
      records.push(...out.Records!)
      if (out.Records!.length === 0 && out.MillisBehindLatest === 0) break
      next = out.NextShardIterator
    }
    return records
  })

/**
 * Reads a closed shard to its end, the call without NextShardIterator; at most 20 calls. MemoryKinesis
 * and kinesis-mock end it with the read that returns the last records, kinesalite with one more
 * (empty) read: both are Kinesis.
 */
const readToEnd = (shardIterator: string, limit?: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const records: Array<_Record> = []
    let next: string | undefined = shardIterator
    for (let calls = 0; calls < 20; calls++) {
      const out: Records = yield* kinesis.getRecords({ ShardIterator: next, ...(limit ? { Limit: limit } : {}) })
      records.push(...out.Records!)
      if (out.NextShardIterator === undefined) return { records, last: out }
      next = out.NextShardIterator
    }
    return yield* Effect.dieMessage("the closed shard never ended: 20 reads, each with a NextShardIterator")
  })

/** Puts `values` one call at a time (so their order is defined) at a hash key (0: the first shard). */
const putAt = (streamName: string, values: ReadonlyArray<string>, hashKey = 0n) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    Effect.forEach(values, (value) =>
      Effect.map(
        kinesis.putRecord({
          StreamName: streamName,
          PartitionKey: value,
          ExplicitHashKey: String(hashKey),
          Data: bytes(value)
        }),
        (out) => out.SequenceNumber!
      )))

const split = (streamName: string, shard: Shard) =>
  Effect.gen(function* () {
    const [start, end] = rangeOf(shard)
    const at = start + (end - start + 1n) / 2n
    yield* Effect.flatMap(Kinesis, (k) =>
      k.splitShard({ StreamName: streamName, ShardToSplit: shard.ShardId!, NewStartingHashKey: String(at) }))
    yield* awaitActive(streamName)
    return at
  })

const merge = (streamName: string, shardToMerge: string, adjacentShardToMerge: string) =>
  Effect.zipRight(
    Effect.flatMap(Kinesis, (k) =>
      k.mergeShards({
        StreamName: streamName,
        ShardToMerge: shardToMerge,
        AdjacentShardToMerge: adjacentShardToMerge
      })),
    awaitActive(streamName)
  )

/** The open shards (no EndingSequenceNumber), by starting hash key. */
const openShards = (shards: ReadonlyArray<Shard>) =>
  shards
    .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .sort((a, b) => (rangeOf(a)[0] < rangeOf(b)[0] ? -1 : 1))

const expectCoversHashSpace = (shards: ReadonlyArray<Shard>) => {
  const ranges = openShards(shards).map(rangeOf)
  expect(ranges[0]![0]).toBe(0n)
  expect(ranges[ranges.length - 1]![1]).toBe(MAX_HASH)
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1n)
}

const expectError = <A>(effect: Effect.Effect<A, KinesisError, Kinesis>) => Effect.flip(effect)

const expectRequestError = (error: KinesisError, errorName?: string) => {
  expect(error._tag).toBe("KinesisRequestError")
  if (error._tag !== "KinesisRequestError") return
  expect(error.retryable).toBe(false)
  if (errorName !== undefined) expect(error.errorName).toBe(errorName)
}

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
