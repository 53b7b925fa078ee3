/**
 * What the Kinesis contract suite (test/kinesis-contract.test.ts) is built from: the backends'
 * capabilities and the calls the tests make through whichever `Kinesis` is provided.
 */
import { createHash } from "node:crypto"
import type { _Record, GetRecordsCommandOutput, Shard } from "@aws-sdk/client-kinesis"
import { expect } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { Kinesis, type KinesisError } from "../../src/kinesis/index.js"

// One behaviour, three implementations: whatever passes here against kinesalite and kinesis-local
// must pass against MemoryKinesis, so tests written on the fast one say something about the real one.
// Where an emulator departs from Kinesis as documented, MemoryKinesis follows Kinesis and the
// emulator's capability below is false, which skips (visibly) the tests that need it.

/** What a backend does as Kinesis does; each false one names the difference. */
export interface Capabilities {
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

export const MAX_HASH = (1n << 128n) - 1n
export const hashOf = (partitionKey: string) => BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)
export const rangeOf = (shard: Pick<Shard, "HashKeyRange">) =>
  [BigInt(shard.HashKeyRange!.StartingHashKey!), BigInt(shard.HashKeyRange!.EndingHashKey!)] as const
export const inRange = (shard: Shard, hash: bigint) => rangeOf(shard)[0] <= hash && hash <= rangeOf(shard)[1]
export const bytes = (text: string) => new TextEncoder().encode(text)
export const text = (record: _Record) => new TextDecoder().decode(record.Data)
export const increasing = (seqs: ReadonlyArray<string>) => seqs.every((s, i) => i === 0 || BigInt(seqs[i - 1]!) < BigInt(s))
export const shardId = (index: number) => `shardId-${String(index).padStart(12, "0")}`
export type Records = Omit<GetRecordsCommandOutput, "$metadata">

let streams = 0

/**
 * Waits until the stream is ACTIVE: creation and resharding are asynchronous in Kinesis and the
 * emulators (UPDATING, then ACTIVE). Polls every 10 ms, for 5 s at most.
 */
export const awaitActive = (streamName: string) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.describeStreamSummary({ StreamName: streamName }).pipe(
      Effect.filterOrFail(
        (out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE",
        (out) => new Error(`stream ${streamName} is ${out.StreamDescriptionSummary?.StreamStatus}, not ACTIVE`)
      ),
      Effect.retry(Schedule.intersect(Schedule.spaced("10 millis"), Schedule.recurs(500)))
    ))

/** A new stream, ACTIVE. */
export const freshStream = (shardCount: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const name = `contract-${++streams}-${shardCount}`
    yield* kinesis.createStream({ StreamName: name, ShardCount: shardCount })
    yield* awaitActive(name)
    return name
  })

export const allShards = (streamName: string) =>
  Effect.flatMap(Kinesis, (kinesis) => Effect.map(kinesis.listShards({ StreamName: streamName }), (out) => out.Shards!))

export const shardNamed = (streamName: string, id: string) =>
  Effect.map(allShards(streamName), (shards) => shards.find((s) => s.ShardId === id)!)

export const iterator = (
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
export const drain = (shardIterator: string, limit?: number) =>
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
export const readToEnd = (shardIterator: string, limit?: number) =>
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
export const putAt = (streamName: string, values: ReadonlyArray<string>, hashKey = 0n) =>
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

export const split = (streamName: string, shard: Shard) =>
  Effect.gen(function* () {
    const [start, end] = rangeOf(shard)
    const at = start + (end - start + 1n) / 2n
    yield* Effect.flatMap(Kinesis, (k) =>
      k.splitShard({ StreamName: streamName, ShardToSplit: shard.ShardId!, NewStartingHashKey: String(at) }))
    yield* awaitActive(streamName)
    return at
  })

export const merge = (streamName: string, shardToMerge: string, adjacentShardToMerge: string) =>
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
export const openShards = (shards: ReadonlyArray<Shard>) =>
  shards
    .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .sort((a, b) => (rangeOf(a)[0] < rangeOf(b)[0] ? -1 : 1))

export const expectCoversHashSpace = (shards: ReadonlyArray<Shard>) => {
  const ranges = openShards(shards).map(rangeOf)
  expect(ranges[0]![0]).toBe(0n)
  expect(ranges[ranges.length - 1]![1]).toBe(MAX_HASH)
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1n)
}

export const expectError = <A>(effect: Effect.Effect<A, KinesisError, Kinesis>) => Effect.flip(effect)

export const expectRequestError = (error: KinesisError, errorName?: string) => {
  expect(error._tag).toBe("KinesisRequestError")
  if (error._tag !== "KinesisRequestError") return
  expect(error.retryable).toBe(false)
  if (errorName !== undefined) expect(error.errorName).toBe(errorName)
}

