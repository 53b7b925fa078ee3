import { Effect } from "effect"
import { dual } from "effect/Function"
import type { HashRange } from "../state/routing.js"
import { routesTo } from "../state/routing.js"
import type { BatchContext, StatefulStage } from "../state/Stage.js"
import { type StreamRecord, withValue } from "./Batch.js"
import { add, addTo, type Key, type Keyed, mergeInto, type Partial, subtract } from "./keyed.js"
import { loadPartials, metaOf, recordFromMeta, type StoredMeta, storePartials, type StoredPartial } from "./partials.js"
import { addOperators, feedable, type Pipeline } from "./Pipeline.js"
import { WindowClock, type WindowOptions, windowSlots } from "./windowOptions.js"

/** One batch interval's partials of one shard. */
interface Slot<K, V> {
  readonly slot: number
  readonly partials: Map<K, Partial<V>>
  /** With an inverse: the slot's partials are in the running total (done when the next slot opens). */
  folded: boolean
}

/** One shard's window: the partials of each interval still in it, and with an inverse, their running total. */
interface ShardWindow<K, V> {
  readonly slots: Array<Slot<K, V>>
  /** With an inverse: per key, the total over the folded slots and how many of them hold the key. */
  readonly running: Map<K, Partial<V> & { slots: number }> | undefined
}

interface StoredWindow<K, V> {
  readonly slots: ReadonlyArray<readonly [slot: number, partials: ReadonlyArray<StoredPartial<K, V>>, folded: boolean]>
  readonly running: ReadonlyArray<readonly [key: K, value: V, meta: StoredMeta, slots: number]> | undefined
}

/** The interval `slot` of a shard's window, added in slot order when it is not there yet (a restore). */
const slotAt = <T extends { readonly slot: number }>(slots: Array<T>, slot: number, make: () => T): T => {
  const found = slots.find((s) => s.slot === slot)
  if (found !== undefined) return found
  const made = make()
  slots.push(made)
  slots.sort((a, b) => a.slot - b.slot)
  return made
}

/** What a keyed window reduces with. */
interface KeyedWindowSpec<V> {
  readonly reduce: (a: V, b: V) => V
  readonly inverse: ((a: V, b: V) => V) | undefined
}

/**
 * The state of a keyed window, per shard: entering records are added to the current interval's
 * partials; with an inverse, an interval is added to the running total once the next one opens,
 * and subtracted from it when it leaves the window (one map update per record, as a hand-written
 * loop would do). Results combine the shards this worker holds.
 */
const keyedWindowStage = <K, V>(kind: string, spec: KeyedWindowSpec<V>, clock: WindowClock) => {
  const shards = new Map<string, ShardWindow<K, V>>()
  const fresh = (): ShardWindow<K, V> => ({ slots: [], running: spec.inverse === undefined ? undefined : new Map() })
  const shardOf = (shardId: string) => {
    let w = shards.get(shardId)
    if (w === undefined) shards.set(shardId, (w = fresh()))
    return w
  }

  const fold = (w: ShardWindow<K, V>, s: Slot<K, V>) => {
    s.folded = true
    if (w.running === undefined) return
    for (const [key, p] of s.partials) {
      const total = w.running.get(key)
      if (total === undefined) w.running.set(key, { value: p.value, last: p.last, slots: 1 })
      else {
        total.value = spec.reduce(total.value, p.value)
        total.last = p.last
        total.slots++
      }
    }
  }

  /** The slot records of `slot` go to (opening it, and folding the one before, if needed). */
  const slotFor = (w: ShardWindow<K, V>, slot: number): Slot<K, V> => {
    const tail = w.slots[w.slots.length - 1]
    if (tail !== undefined && tail.slot >= slot) return tail
    if (tail !== undefined && !tail.folded) fold(w, tail)
    const opened: Slot<K, V> = { slot, partials: new Map(), folded: false }
    w.slots.push(opened)
    return opened
  }

  const expire = (w: ShardWindow<K, V>, firstSlot: number) => {
    while (w.slots.length > 0 && w.slots[0]!.slot < firstSlot) {
      const gone = w.slots.shift()!
      if (w.running === undefined || spec.inverse === undefined || !gone.folded) continue
      for (const [key, p] of gone.partials) {
        const total = w.running.get(key)!
        if (--total.slots === 0) w.running.delete(key)
        else total.value = spec.inverse(total.value, p.value)
      }
    }
  }

  const store = (w: ShardWindow<K, V>): StoredWindow<K, V> => ({
    slots: w.slots.map((s) => [s.slot, storePartials(s.partials), s.folded] as const),
    running: w.running === undefined ? undefined : [...w.running].map(([key, t]) => [key, t.value, metaOf(t.last), t.slots] as const)
  })

  const load = (w: ShardWindow<K, V>, stored: StoredWindow<K, V>, range: HashRange | undefined) => {
    for (const [slot, partials, folded] of stored.slots) {
      const target = slotAt(w.slots, slot, () => ({ slot, partials: new Map(), folded }))
      // Merging two parents' copies of one interval: it is folded only if both were.
      target.folded &&= folded
      loadPartials(partials, target.partials, spec.reduce, range)
    }
    if (w.running === undefined) return
    if (stored.running === undefined || range !== undefined) {
      // Rebuilt from the folded slots: after a split each child's total is the sum of its keys' slots.
      w.running.clear()
      for (const s of w.slots) if (s.folded) fold(w, s)
      return
    }
    for (const [key, value, meta, slots] of stored.running) w.running.set(key, { value, last: recordFromMeta(meta), slots })
  }

  const stage: StatefulStage = {
    kind,
    restore: (shardId, data) => {
      const w = fresh()
      if (data !== undefined) load(w, data as StoredWindow<K, V>, undefined)
      shards.set(shardId, w)
    },
    inherit: (shardId, parents, range) => {
      const w = fresh()
      for (const parent of parents) load(w, parent as StoredWindow<K, V>, range)
      shards.set(shardId, w)
    },
    snapshot: (shardId) => {
      const w = shards.get(shardId)
      return w === undefined ? undefined : store(w)
    },
    drop: (shardId) => void shards.delete(shardId)
  }

  // The batch being fed: its interval, and the slot of the shard its last record came from.
  let batchSlot: number | undefined
  let currentShard: string | undefined
  let partials: Map<K, Partial<V>> | undefined

  /** Adds one record of the batch being fed. */
  const add = (r: StreamRecord<any>, key: K, value: V, context: BatchContext) => {
    if (batchSlot === undefined) batchSlot = clock.slotOf(context.closedAt)
    if (r.shardId !== currentShard) {
      currentShard = r.shardId
      partials = slotFor(shardOf(currentShard), batchSlot).partials
      context.touch(currentShard)
    }
    addTo(partials!, key, value, r, spec.reduce)
  }

  /** Ends the batch: drops what left the window; when the window is due, answers it over every shard held. */
  const finish = (context: BatchContext): Map<K, Partial<V>> | undefined => {
    const slot = batchSlot ?? clock.slotOf(context.closedAt)
    batchSlot = undefined
    currentShard = undefined
    partials = undefined
    const first = clock.firstSlot(slot)
    for (const w of shards.values()) expire(w, first)
    if (!clock.due(slot)) return undefined
    const result = new Map<K, Partial<V>>()
    for (const w of shards.values()) {
      if (w.running !== undefined) for (const [key, t] of w.running) mergeInto(result, key, t, spec.reduce)
      for (const s of w.slots) if (w.running === undefined || !s.folded) for (const [key, p] of s.partials) mergeInto(result, key, p, spec.reduce)
    }
    return result
  }
  return { stage, add, finish }
}

/** Options of the reducing windows; `inverse` undoes `reduce` so the window is updated, not recomputed. */
export interface ReduceWindowOptions<V> extends WindowOptions {
  /**
   * Takes a leaving value out of a total (`inverse(reduce(a, b), b) === a`), e.g. subtraction for
   * a sum: the window is then kept up to date incrementally (add the entering interval, subtract
   * the leaving one) instead of recomputed from its intervals.
   */
  readonly inverse?: (total: V, leaving: V) => V
}

const keyedWindow = <A, E, R, K, V, B>(
  self: Pipeline<A, E, R>,
  kind: string,
  options: ReduceWindowOptions<V>,
  reduce: (a: V, b: V) => V,
  keyOf: (r: StreamRecord<A>) => K,
  valueOf: (r: StreamRecord<A>) => V,
  emit: (key: K, partial: Partial<V>) => StreamRecord<B>
): Pipeline<B, E, R> =>
  addOperators(self, (run) =>
    Effect.map(windowSlots(kind, options, run.batchInterval), (slots) => {
      const { stage, add, finish } = keyedWindowStage<K, V>(
        kind,
        { reduce, inverse: options.inverse },
        new WindowClock(run.batchInterval, slots)
      )
      run.register(stage)
      const emitAll = (context: BatchContext) =>
        Effect.sync(() => {
          const result = finish(context)
          const out: Array<StreamRecord<B>> = []
          if (result !== undefined) for (const [key, p] of result) out.push(emit(key, p))
          return out
        })
      // Fed record by record from the decode loop when it comes first: no batch of records is built.
      return feedable<A, B, never, never>(
        (record, context) => add(record, keyOf(record), valueOf(record), context),
        emitAll
      )
    })
  )

/**
 * Per key, `reduce` over a sliding window of batches (Spark's `reduceByKeyAndWindow`): computed
 * every `slide`, over the last `length`, both multiples of the batch interval. One record per key,
 * with the metadata of the key's latest record. With `inverse` the window is updated
 * incrementally; results are the same. Window contents are kept per shard and committed with the
 * shard's checkpoint. `reduce` must be associative and commutative, and neither it nor `inverse`
 * may change its arguments (one value object can sit in several places of the window).
 *
 * @example
 * ```ts
 * requests.pipe(
 *   Pipeline.keyBy((r) => r.endpoint),
 *   Pipeline.map(([endpoint]) => [endpoint, 1] as const),
 *   Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, { length: "10 seconds", slide: "2 seconds", inverse: (a, b) => a - b })
 * )
 * ```
 */
export const reduceByKeyAndWindow: {
  <V>(
    reduce: (a: V, b: V) => V,
    options: ReduceWindowOptions<V>
  ): <K extends Key, E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<Keyed<K, V>, E, R>
  <K extends Key, V, E, R>(
    self: Pipeline<Keyed<K, V>, E, R>,
    reduce: (a: V, b: V) => V,
    options: ReduceWindowOptions<V>
  ): Pipeline<Keyed<K, V>, E, R>
} = dual(3, <K extends Key, V, E, R>(self: Pipeline<Keyed<K, V>, E, R>, reduce: (a: V, b: V) => V, options: ReduceWindowOptions<V>) =>
  keyedWindow(self, "reduceByKeyAndWindow", options, reduce, (r) => r.value[0], (r) => r.value[1], (key, p) =>
    withValue(p.last, [key, p.value] as const)))

/**
 * `reduce` over all values in a sliding window of batches (Spark's `reduceByWindow`); an empty
 * window gives no record.
 *
 * @example
 * ```ts
 * latencies.pipe(Pipeline.reduceByWindow((a: number, b: number) => Math.max(a, b), { length: "1 minute", slide: "10 seconds" }))
 * ```
 */
export const reduceByWindow: {
  <A>(reduce: (a: A, b: A) => A, options: ReduceWindowOptions<A>): <E, R>(self: Pipeline<A, E, R>) => Pipeline<A, E, R>
  <A, E, R>(self: Pipeline<A, E, R>, reduce: (a: A, b: A) => A, options: ReduceWindowOptions<A>): Pipeline<A, E, R>
} = dual(3, <A, E, R>(self: Pipeline<A, E, R>, reduce: (a: A, b: A) => A, options: ReduceWindowOptions<A>) =>
  keyedWindow(self, "reduceByWindow", options, reduce, () => 0, (r) => r.value, (_, p) => withValue(p.last, p.value)))

/**
 * The number of records in a sliding window of batches (Spark's `countByWindow`), kept
 * incrementally; an empty window gives no record.
 *
 * @example
 * ```ts
 * views.pipe(Pipeline.countByWindow({ length: "30 seconds", slide: "10 seconds" })) // Pipeline<number>
 * ```
 */
export const countByWindow = (options: WindowOptions): <A, E, R>(self: Pipeline<A, E, R>) => Pipeline<number, E, R> =>
  (self) =>
    keyedWindow(self, "countByWindow", { ...options, inverse: subtract }, add, () => 0, () => 1, (_, p) => withValue(p.last, p.value))

/** One shard's records in a window, per interval. */
type RecordSlots<A> = Array<{ readonly slot: number; readonly records: Array<StreamRecord<A>> }>
type StoredRecord<A> = readonly [value: A, meta: StoredMeta]

/**
 * Every record of a sliding window of batches (Spark's `window`): computed every `slide` over the
 * last `length`, per shard in sequence order. The window's records are kept per shard and
 * committed with the shard's checkpoint.
 *
 * @example
 * ```ts
 * views.pipe(Pipeline.window({ length: "1 minute", slide: "20 seconds" }))
 * ```
 */
export const window = (options: WindowOptions): <A, E, R>(self: Pipeline<A, E, R>) => Pipeline<A, E, R> =>
  <A, E, R>(self: Pipeline<A, E, R>) =>
    addOperators(self, (run) =>
      Effect.map(windowSlots("window", options, run.batchInterval), (slots) => {
        const clock = new WindowClock(run.batchInterval, slots)
        const shards = new Map<string, RecordSlots<A>>()
        const load = (into: RecordSlots<A>, stored: ReadonlyArray<readonly [number, ReadonlyArray<StoredRecord<A>>]>, range?: HashRange) => {
          for (const [slot, records] of stored) {
            const target = slotAt(into, slot, () => ({ slot, records: [] }))
            for (const [value, meta] of records) {
              if (range === undefined || routesTo(meta[2], range)) target.records.push(withValue(recordFromMeta(meta), value))
            }
          }
        }
        run.register({
          kind: "window",
          restore: (shardId, data) => {
            const slots: RecordSlots<A> = []
            if (data !== undefined) load(slots, data as any)
            shards.set(shardId, slots)
          },
          inherit: (shardId, parents, range) => {
            const slots: RecordSlots<A> = []
            for (const p of parents) load(slots, p as any, range)
            shards.set(shardId, slots)
          },
          snapshot: (shardId) =>
            shards.get(shardId)?.map((s) => [s.slot, s.records.map((r) => [r.value, metaOf(r)] as const)] as const),
          drop: (shardId) => void shards.delete(shardId)
        })
        return (records: ReadonlyArray<StreamRecord<A>>, context: BatchContext) =>
          Effect.sync(() => {
            const slot = clock.slotOf(context.closedAt)
            for (const r of records) {
              let slots = shards.get(r.shardId)
              if (slots === undefined) shards.set(r.shardId, (slots = []))
              let tail = slots[slots.length - 1]
              if (tail === undefined || tail.slot < slot) slots.push((tail = { slot, records: [] }))
              tail.records.push(r)
              context.touch(r.shardId)
            }
            const first = clock.firstSlot(slot)
            for (const slots of shards.values()) while (slots.length > 0 && slots[0]!.slot < first) slots.shift()
            if (!clock.due(slot)) return []
            const out: Array<StreamRecord<A>> = []
            for (const slots of shards.values()) for (const s of slots) for (const r of s.records) out.push(r)
            return out
          })
      })
    )
