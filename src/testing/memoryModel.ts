import { createHash } from "node:crypto"
import type { Shard } from "@aws-sdk/client-kinesis"

/** One record as MemoryKinesis keeps it; `seq` is its place in the stream-wide sequence. */
export interface StoredRecord {
  readonly seq: number
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly data: Uint8Array
  readonly arrival: number
}

export interface MemoryShard {
  readonly shardId: string
  /** `stream/shardId`: the shard's name across streams (throughput quotas are kept by it). */
  readonly key: string
  readonly parentShardId: string | undefined
  /** For a shard opened by a merge: the other parent. */
  readonly adjacentParentShardId: string | undefined
  readonly startingHashKey: bigint
  readonly endingHashKey: bigint
  readonly startingSeq: number
  /** Set when the shard is closed (split); no record is appended after it. */
  endingSeq: number | undefined
  /** Clock millis when the shard was closed; it leaves ListShards once retention has passed. */
  closedAt: number | undefined
  readonly children: Array<string>
  readonly records: Array<StoredRecord>
}

export interface MemoryStream {
  readonly name: string
  readonly arn: string
  readonly createdAt: number
  /** Records older than this are trimmed: no read returns them, TRIM_HORIZON starts after them. */
  retentionHours: number
  /** The largest record's data the stream takes, in KiB (1024, the default, to 10240: UpdateMaxRecordSize). */
  maxRecordSizeInKiB: number
  readonly shards: Array<MemoryShard>
  /** The seq the next record (or shard boundary) gets; unique across the stream's shards. */
  nextSeq: number
  /** Which shard holds a sequence number, to refuse positions from another shard. */
  readonly shardOfSeq: Map<number, string>
}

export const HASH_KEY_SPACE = 1n << 128n
const SEQ_BASE = 49n * 10n ** 54n
const SEQ_PATTERN = /^49\d{54}$/

/** A fixed-width (56 digit) decimal string, so string order is numeric order, as real ones look. */
export const formatSeq = (seq: number): string => (SEQ_BASE + BigInt(seq)).toString()

/** The seq of a sequence number this emulator issued, or undefined. */
export const parseSeq = (sequenceNumber: string): number | undefined =>
  SEQ_PATTERN.test(sequenceNumber) ? Number(BigInt(sequenceNumber) - SEQ_BASE) : undefined

export const shardIdName = (index: number): string => `shardId-${String(index).padStart(12, "0")}`

/** Kinesis's mapping: the partition key's MD5 read as a 128-bit unsigned integer. */
export const hashKeyOf = (partitionKey: string): bigint =>
  BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)

export const makeStream = (
  name: string,
  shardCount: number,
  now: number,
  arnPrefix: string,
  retentionHours = 24,
  maxRecordSizeInKiB = 1024
): MemoryStream => {
  const stream: MemoryStream = {
    name,
    arn: `${arnPrefix}${name}`,
    createdAt: now,
    retentionHours,
    maxRecordSizeInKiB,
    shards: [],
    nextSeq: 1,
    shardOfSeq: new Map()
  }
  // The same even split as Kinesis: the last shard takes the remainder.
  const width = HASH_KEY_SPACE / BigInt(shardCount)
  for (let i = 0; i < shardCount; i++) {
    const end = (i < shardCount - 1 ? width * BigInt(i + 1) : HASH_KEY_SPACE) - 1n
    openShard(stream, [], width * BigInt(i), end, 0)
  }
  return stream
}

export const findShard = (stream: MemoryStream, shardId: string): MemoryShard | undefined =>
  stream.shards.find((shard) => shard.shardId === shardId)

export const openShardFor = (stream: MemoryStream, hashKey: bigint): MemoryShard | undefined =>
  stream.shards.find((s) => s.endingSeq === undefined && s.startingHashKey <= hashKey && hashKey <= s.endingHashKey)

export const append = (
  stream: MemoryStream,
  shard: MemoryShard,
  partitionKey: string,
  data: Uint8Array,
  now: number
): StoredRecord => {
  const seq = stream.nextSeq++
  const record: StoredRecord = {
    seq,
    sequenceNumber: formatSeq(seq),
    partitionKey,
    data: Uint8Array.from(data),
    arrival: now
  }
  shard.records.push(record)
  stream.shardOfSeq.set(seq, shard.shardId)
  return record
}

/** Index of the first record with `seq >= position` (records are in seq order). */
export const firstAtOrAfter = (records: ReadonlyArray<StoredRecord>, position: number): number => {
  let low = 0
  let high = records.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (records[mid]!.seq < position) low = mid + 1
    else high = mid
  }
  return low
}

/** Adds an open shard, with the next shard id, to the stream. */
const openShard = (
  stream: MemoryStream,
  parents: ReadonlyArray<MemoryShard>,
  startingHashKey: bigint,
  endingHashKey: bigint,
  startingSeq: number
): MemoryShard => {
  const shardId = shardIdName(stream.shards.length)
  const shard: MemoryShard = {
    shardId,
    key: `${stream.name}/${shardId}`,
    parentShardId: parents[0]?.shardId,
    adjacentParentShardId: parents[1]?.shardId,
    startingHashKey,
    endingHashKey,
    startingSeq,
    endingSeq: undefined,
    closedAt: undefined,
    children: [],
    records: []
  }
  stream.shards.push(shard)
  return shard
}

/**
 * Closes `parent` and adds two children splitting its hash range at `newStartingHashKey`
 * (the middle when left out). Answers the children, or a reason the split is refused.
 */
export const split = (
  stream: MemoryStream,
  parent: MemoryShard,
  newStartingHashKey: bigint | undefined,
  now: number
): readonly [MemoryShard, MemoryShard] | string => {
  if (parent.endingSeq !== undefined) return `Shard ${parent.shardId} is already closed.`
  const at = newStartingHashKey ?? parent.startingHashKey + (parent.endingHashKey - parent.startingHashKey + 1n) / 2n
  if (at <= parent.startingHashKey || at > parent.endingHashKey) {
    return `NewStartingHashKey ${at} must be above ${parent.startingHashKey} and at most ${parent.endingHashKey}.`
  }
  parent.endingSeq = stream.nextSeq++
  parent.closedAt = now
  const low = openShard(stream, [parent], parent.startingHashKey, at - 1n, stream.nextSeq)
  const high = openShard(stream, [parent], at, parent.endingHashKey, stream.nextSeq)
  parent.children.push(low.shardId, high.shardId)
  return [low, high]
}

/**
 * Closes `shard` and `adjacent` (open, with touching hash ranges) and adds one child covering
 * both; `shard` is its parent and `adjacent` its adjacent parent, as in Kinesis.
 */
export const merge = (
  stream: MemoryStream,
  shard: MemoryShard,
  adjacent: MemoryShard,
  now: number
): MemoryShard | string => {
  for (const s of [shard, adjacent]) if (s.endingSeq !== undefined) return `Shard ${s.shardId} is already closed.`
  const [low, high] = shard.startingHashKey < adjacent.startingHashKey ? [shard, adjacent] : [adjacent, shard]
  if (low.endingHashKey + 1n !== high.startingHashKey) {
    return `Shards ${shard.shardId} and ${adjacent.shardId} are not adjacent.`
  }
  const seq = stream.nextSeq++
  for (const s of [shard, adjacent]) {
    s.endingSeq = seq
    s.closedAt = now
  }
  const child = openShard(stream, [shard, adjacent], low.startingHashKey, high.endingHashKey, stream.nextSeq)
  shard.children.push(child.shardId)
  adjacent.children.push(child.shardId)
  return child
}

/** The first seq still inside retention: reads and TRIM_HORIZON start there. */
export const trimHorizon = (stream: MemoryStream, shard: MemoryShard, now: number): number => {
  const cutoff = now - stream.retentionHours * 3_600_000
  const first = shard.records.find((r) => r.arrival >= cutoff)
  return first?.seq ?? Math.max(shard.startingSeq, (shard.records[shard.records.length - 1]?.seq ?? -1) + 1)
}

/** A closed shard is listed until its last records have aged out of retention. */
export const isListed = (stream: MemoryStream, shard: MemoryShard, now: number): boolean =>
  shard.closedAt === undefined || now - shard.closedAt < stream.retentionHours * 3_600_000

export const describeShard = (shard: MemoryShard): Shard => ({
  ShardId: shard.shardId,
  ...(shard.parentShardId === undefined ? {} : { ParentShardId: shard.parentShardId }),
  ...(shard.adjacentParentShardId === undefined ? {} : { AdjacentParentShardId: shard.adjacentParentShardId }),
  HashKeyRange: { StartingHashKey: shard.startingHashKey.toString(), EndingHashKey: shard.endingHashKey.toString() },
  SequenceNumberRange: {
    StartingSequenceNumber: formatSeq(shard.startingSeq),
    ...(shard.endingSeq === undefined ? {} : { EndingSequenceNumber: formatSeq(shard.endingSeq) })
  }
})

/** Opaque tokens (shard iterators, ListShards tokens): base64 JSON, as opaque to callers as real ones. */
export const encodeToken = (kind: string, fields: ReadonlyArray<string | number>): string =>
  Buffer.from(JSON.stringify([kind, ...fields]), "utf8").toString("base64")

export const decodeToken = (kind: string, token: string): ReadonlyArray<unknown> | undefined => {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, "base64").toString("utf8"))
    return Array.isArray(decoded) && decoded[0] === kind ? decoded.slice(1) : undefined
  } catch {
    return undefined
  }
}
