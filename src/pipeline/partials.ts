import { type HashRange, routesTo } from "../state/routing.js"
import type { StreamRecord } from "./Batch.js"
import { addTo, type Partial } from "./keyed.js"

/**
 * A record's metadata as stored in state: shard, sequence number, partition key, arrival (ms, -1:
 * unknown), and inside a KPL aggregate the sub-sequence number (left out when 0, and in state
 * written before aggregates were read).
 */
export type StoredMeta = readonly [shardId: string, sequenceNumber: string, partitionKey: string, arrival: number, subSequenceNumber?: number]

export const metaOf = (r: StreamRecord<unknown>): StoredMeta =>
  r.subSequenceNumber === 0
    ? [r.shardId, r.sequenceNumber, r.partitionKey, r.approximateArrivalTimestamp?.getTime() ?? -1]
    : [r.shardId, r.sequenceNumber, r.partitionKey, r.approximateArrivalTimestamp?.getTime() ?? -1, r.subSequenceNumber]

/** A stand-in record built from stored metadata (its value is never read). */
export const recordFromMeta = (m: StoredMeta): StreamRecord<unknown> => ({
  value: undefined,
  shardId: m[0],
  sequenceNumber: m[1],
  subSequenceNumber: m[4] ?? 0,
  partitionKey: m[2],
  approximateArrivalTimestamp: m[3] < 0 ? undefined : new Date(m[3])
})

/** A keyed partial as stored: key, value, the latest record's metadata. */
export type StoredPartial<K, V> = readonly [key: K, value: V, meta: StoredMeta]

export const storePartials = <K, V>(map: ReadonlyMap<K, Partial<V>>): Array<StoredPartial<K, V>> => {
  const out: Array<StoredPartial<K, V>> = []
  for (const [key, p] of map) out.push([key, p.value, metaOf(p.last)])
  return out
}

/** Restores stored partials; with `range`, only those whose partition key routes there (a child after a split). */
export const loadPartials = <K, V>(
  stored: ReadonlyArray<StoredPartial<K, V>>,
  into: Map<K, Partial<V>>,
  reduce: (a: V, b: V) => V,
  range?: HashRange
) => {
  for (const [key, value, meta] of stored) {
    if (range !== undefined && !routesTo(meta[2], range)) continue
    addTo(into, key, value, recordFromMeta(meta), reduce)
  }
}
