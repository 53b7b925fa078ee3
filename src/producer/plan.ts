import { AggregateBuilder } from "./aggregate.js"
import { MAX_CALL_BYTES, MAX_CALL_RECORDS, MAX_RECORD_BYTES, utf8Length } from "../kinesis/limits.js"
import { isAggregated } from "../kpl/index.js"
import type { Outgoing, Pending } from "./records.js"

// Which buffered records go into the next PutRecords call: in buffer order, within 500 entries
// and 5 MiB (data plus partition keys), and with `ordered` at most one entry per partition key in
// flight. A large record (over 1 MiB, on a stream whose limit was raised) goes in a call of its
// own: AWS takes up to 10 MiB in one request, and a record the stream refuses after all (its limit
// lowered, `maxRecordBytes` set too high) fails its own call, not its neighbours'. Planning takes
// nothing from the buffer: the caller commits `taken` if it sends.

/** A record over the default limit: sent alone. */
const isLarge = (p: Pending): boolean => p.size > MAX_RECORD_BYTES

/** What the next call would carry, found without taking anything from the buffer. */
export interface Plan {
  readonly entries: ReadonlyArray<Outgoing>
  /** The buffer positions taken. */
  readonly taken: ReadonlySet<number>
  /** A PutRecords limit was reached: no reason to wait. */
  readonly full: boolean
  /** When the oldest record taken entered the buffer. */
  readonly oldest: number
}

/** What planning reads of the producer's state. */
export interface PlanInput {
  readonly buffer: ReadonlyArray<Pending>
  readonly ordered: boolean
  /** Partition keys in flight (only kept with `ordered`). */
  readonly inFlightKeys: ReadonlySet<string>
  /** The predicted shard of a record's hash key (used when aggregating). */
  readonly shardOf: (hashKey: bigint) => string | undefined
}

/** One entry per record. */
const planPlain = ({ buffer, inFlightKeys, ordered }: PlanInput): Plan => {
  const entries: Array<Outgoing> = []
  const taken = new Set<number>()
  const batchKeys = new Set<string>()
  let bytes = 0
  let full = false
  let oldest = Infinity
  for (let i = 0; i < buffer.length; i++) {
    const p = buffer[i]!
    if (ordered && (inFlightKeys.has(p.partitionKey) || batchKeys.has(p.partitionKey))) continue
    const large = isLarge(p)
    if (entries.length > 0 && (large || entries.length === MAX_CALL_RECORDS || bytes + p.size > MAX_CALL_BYTES)) {
      full = true
      break
    }
    entries.push({
      partitionKey: p.partitionKey,
      explicitHashKey: p.explicitHashKey,
      data: p.data,
      users: [p],
      aggregated: false,
      predictedShard: undefined,
      keys: [p.partitionKey],
      attempts: 0
    })
    taken.add(i)
    batchKeys.add(p.partitionKey)
    bytes += p.size
    if (p.enqueuedAt < oldest) oldest = p.enqueuedAt
    if (large) {
      full = true
      break
    }
  }
  return { entries, taken, full, oldest }
}

/** An aggregate being filled for one predicted shard. */
interface Open {
  readonly shard: string | undefined
  readonly builder: AggregateBuilder
  readonly users: Array<Pending>
  readonly keys: Set<string>
  /** Data plus carrier partition key, as it stands. */
  size: number
}

/** One aggregate (of at most `maxBytes`) per predicted shard at a time, a new one when it is full. */
const planAggregated = ({ buffer, inFlightKeys, ordered, shardOf }: PlanInput, maxBytes: number): Plan => {
  const groups: Array<Open> = []
  const openByShard = new Map<string | undefined, Open>()
  // ordered: the group holding each key in this call; a key may not spread over two groups.
  const groupOfKey = new Map<string, Open>()
  const blocked = new Set<string>()
  const taken = new Set<number>()
  let bytes = 0
  let full = false
  let oldest = Infinity
  for (let i = 0; i < buffer.length; i++) {
    const p = buffer[i]!
    const key = p.partitionKey
    if (ordered && (inFlightKeys.has(key) || blocked.has(key))) continue
    const shard = shardOf(p.hashKey!)
    const open = openByShard.get(shard)
    const holder = ordered ? groupOfKey.get(key) : undefined
    if (open !== undefined) {
      const grown = open.builder.bytesWith(p) + utf8Length(open.users[0]!.partitionKey)
      if (grown <= maxBytes && (holder === undefined || holder === open)) {
        if (bytes + grown - open.size > MAX_CALL_BYTES) {
          full = true
          break
        }
        bytes += grown - open.size
        open.size = grown
        open.builder.add(p)
        open.users.push(p)
        open.keys.add(key)
        groupOfKey.set(key, open)
        taken.add(i)
        if (p.enqueuedAt < oldest) oldest = p.enqueuedAt
        continue
      }
    }
    if (holder !== undefined) {
      // Its key is already in another entry of this call: it waits for that one's answer.
      blocked.add(key)
      continue
    }
    const builder = new AggregateBuilder()
    const size = builder.bytesWith(p) + utf8Length(key)
    // A large record never joins an open aggregate (it is over `maxBytes`), and goes alone.
    const large = isLarge(p)
    if (groups.length > 0 && (large || groups.length === MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES)) {
      full = true
      break
    }
    builder.add(p)
    const group: Open = { shard, builder, users: [p], keys: new Set([key]), size }
    groups.push(group)
    openByShard.set(shard, group)
    groupOfKey.set(key, group)
    taken.add(i)
    bytes += size
    if (p.enqueuedAt < oldest) oldest = p.enqueuedAt
    if (large) {
      full = true
      break
    }
  }
  const entries = groups.map((group): Outgoing => {
    const first = group.users[0]!
    // One record goes as it is (as the KPL does), unless its bytes would read as an aggregate.
    const alone = group.users.length === 1 && !isAggregated(first.data)
    return {
      partitionKey: first.partitionKey,
      explicitHashKey: first.explicitHashKey,
      data: alone ? first.data : group.builder.encode(),
      users: group.users,
      aggregated: !alone,
      predictedShard: group.shard,
      keys: [...group.keys],
      attempts: 0
    }
  })
  return { entries, taken, full, oldest }
}

/** The next call, planned over the whole buffer: aggregated when `maxAggregateBytes` is set. */
export const planCall = (input: PlanInput, maxAggregateBytes: number | undefined): Plan =>
  maxAggregateBytes === undefined ? planPlain(input) : planAggregated(input, maxAggregateBytes)
