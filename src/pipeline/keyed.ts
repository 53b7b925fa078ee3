import { Effect } from "effect"
import { dual } from "effect/Function"
import { type StreamRecord, withValue } from "./Batch.js"
import { addOperators, type Pipeline, withStep } from "./Pipeline.js"

/**
 * What can key a record: a value compared by `===` and kept in checkpointed state as it is.
 * (Objects are not keys: two equal objects would be two keys.)
 */
export type Key = string | number | bigint | boolean

/** A keyed value, as `keyBy` makes it and the `...ByKey` operators take it (Spark's pair DStream). */
export type Keyed<K extends Key, V> = readonly [key: K, value: V]

/** An aggregate and the latest record that went into it (whose metadata the result carries). */
export interface Partial<V> {
  value: V
  last: StreamRecord<unknown>
}

/** The later of two records by arrival time (for results combined across shards). */
export const laterOf = (a: StreamRecord<unknown>, b: StreamRecord<unknown>): StreamRecord<unknown> =>
  (b.approximateArrivalTimestamp?.getTime() ?? -1) >= (a.approximateArrivalTimestamp?.getTime() ?? -1) ? b : a

/** Adds `value` (from `record`) to the partial of `key`. */
export const addTo = <K, V>(map: Map<K, Partial<V>>, key: K, value: V, record: StreamRecord<unknown>, reduce: (a: V, b: V) => V) => {
  const partial = map.get(key)
  if (partial === undefined) map.set(key, { value, last: record })
  else {
    partial.value = reduce(partial.value, value)
    partial.last = record
  }
}

/** Merges partials of different shards: values reduced, the later record kept. */
export const mergeInto = <K, V>(map: Map<K, Partial<V>>, key: K, other: Partial<V>, reduce: (a: V, b: V) => V) => {
  const partial = map.get(key)
  if (partial === undefined) map.set(key, { value: other.value, last: other.last })
  else {
    partial.value = reduce(partial.value, other.value)
    partial.last = laterOf(partial.last, other.last)
  }
}

const keyedStep = <K extends Key, V, B, E, R>(
  self: Pipeline<Keyed<K, V>, E, R>,
  aggregate: (records: ReadonlyArray<StreamRecord<Keyed<K, V>>>) => ReadonlyArray<StreamRecord<B>>
): Pipeline<B, E, R> => addOperators(self, () => Effect.succeed((records) => Effect.sync(() => aggregate(records))))

/**
 * Keys each record by `f` of its value: the value becomes `[key, value]`, what the `...ByKey`
 * operators take.
 *
 * @example
 * ```ts
 * views.pipe(Pipeline.keyBy((view) => view.page)) // Pipeline<readonly [string, PageView]>
 * ```
 */
export const keyBy: {
  <A, K extends Key>(f: (value: A, record: StreamRecord<A>) => K): <E, R>(self: Pipeline<A, E, R>) => Pipeline<Keyed<K, A>, E, R>
  <A, E, R, K extends Key>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => K): Pipeline<Keyed<K, A>, E, R>
} = dual(2, <A, E, R, K extends Key>(self: Pipeline<A, E, R>, f: (value: A, record: StreamRecord<A>) => K) =>
  withStep<A, E, R, Keyed<K, A>>(self, (value: A, record: StreamRecord<A>) => [f(value, record), value] as const))

/** Per key, `valueOf` of each record combined with `reduce`, with the key's last record. */
const partialsByKey = <K extends Key, V, W>(
  records: ReadonlyArray<StreamRecord<Keyed<K, V>>>,
  valueOf: (r: StreamRecord<Keyed<K, V>>) => W,
  reduce: (a: W, b: W) => W
): Map<K, Partial<W>> => {
  const partials = new Map<K, Partial<W>>()
  for (const r of records) addTo(partials, r.value[0], valueOf(r), r, reduce)
  return partials
}

/** One `[key, value]` record per key, in order of first appearance, with the metadata of the key's last record. */
const keyedRecords = <K extends Key, W>(partials: ReadonlyMap<K, Partial<W>>): Array<StreamRecord<Keyed<K, W>>> => {
  const out: Array<StreamRecord<Keyed<K, W>>> = []
  for (const [key, p] of partials) out.push(withValue(p.last, [key, p.value] as const))
  return out
}

/**
 * Within each batch, combines the values of each key with `reduce` (associative and commutative,
 * as in Spark): one record per key, carrying the metadata of the key's last record.
 *
 * @example
 * ```ts
 * counts.pipe(Pipeline.reduceByKey((a: number, b: number) => a + b))
 * ```
 */
export const reduceByKey: {
  <V>(reduce: (a: V, b: V) => V): <K extends Key, E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<Keyed<K, V>, E, R>
  <K extends Key, V, E, R>(self: Pipeline<Keyed<K, V>, E, R>, reduce: (a: V, b: V) => V): Pipeline<Keyed<K, V>, E, R>
} = dual(2, <K extends Key, V, E, R>(self: Pipeline<Keyed<K, V>, E, R>, reduce: (a: V, b: V) => V) =>
  keyedStep(self, (records) => keyedRecords(partialsByKey(records, (r) => r.value[1], reduce))))

/**
 * Within each batch, the number of records per key.
 *
 * @example
 * ```ts
 * views.pipe(Pipeline.keyBy((v) => v.page), Pipeline.countByKey()) // Pipeline<readonly [string, number]>
 * ```
 */
export const countByKey = (): <K extends Key, V, E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<Keyed<K, number>, E, R> =>
  (self) =>
    keyedStep(self, (records) => keyedRecords(partialsByKey(records, () => 1, add)))

/**
 * Within each batch, the values of each key in batch order (per shard in sequence order).
 *
 * @example
 * ```ts
 * views.pipe(Pipeline.keyBy((v) => v.userId), Pipeline.groupByKey()) // Pipeline<readonly [string, ReadonlyArray<PageView>]>
 * ```
 */
export const groupByKey = (): <K extends Key, V, E, R>(
  self: Pipeline<Keyed<K, V>, E, R>
) => Pipeline<Keyed<K, ReadonlyArray<V>>, E, R> =>
  (self) =>
    keyedStep(self, (records) => keyedRecords(groupValues(records)))

/** Each key's values in order, with the key's last record. */
export const groupValues = <K extends Key, V>(records: ReadonlyArray<StreamRecord<Keyed<K, V>>>): Map<K, Partial<Array<V>>> => {
  const groups = new Map<K, Partial<Array<V>>>()
  for (const r of records) {
    const group = groups.get(r.value[0])
    if (group === undefined) groups.set(r.value[0], { value: [r.value[1]], last: r })
    else {
      group.value.push(r.value[1])
      group.last = r
    }
  }
  return groups
}

export const add = (a: number, b: number) => a + b
export const subtract = (a: number, b: number) => a - b
