import { Duration, Effect } from "effect"
import { dual } from "effect/Function"
import { durationOption, InvalidOption } from "../config/index.js"
import { type HashRange, routesTo } from "../state/routing.js"
import type { BatchContext, StatefulStage } from "../state/Stage.js"
import { type StreamRecord, withValue } from "./Batch.js"
import { groupValues, type Key, type Keyed } from "./keyed.js"
import { metaOf, recordFromMeta, type StoredMeta } from "./partials.js"
import { addOperators, type Pipeline } from "./Pipeline.js"

/**
 * A key's state as the function of {@link mapWithState} sees it. Valid only during the call.
 *
 * @example
 * ```ts
 * (key, value, state) => {
 *   const total = (state.get() ?? 0) + (value ?? 0)
 *   if (!state.isTimingOut) state.update(total)
 *   return [key, total] as const
 * }
 * ```
 */
export interface KeyState<S> {
  readonly exists: boolean
  /** The state, or undefined when there is none. */
  get(): S | undefined
  /** Sets the state (not allowed while timing out: the state is removed then anyway). */
  update(state: S): void
  remove(): void
  /** The call is the last one for an idle key: its state goes after it. */
  readonly isTimingOut: boolean
}

interface Entry<S> {
  state: S
  /** The shard the state belongs to: that of the last record that updated it. */
  owner: string
  last: StreamRecord<unknown>
  /** Processing time of the key's last record, for the idle timeout. */
  touchedAt: number
}

type StoredEntry<K, S> = readonly [key: K, state: S, meta: StoredMeta, touchedAt: number]

/**
 * Keyed state of one worker, each key owned by one shard (that of the record that last updated
 * it): a key's state is committed with, and follows, its owner's lease. When the key is the
 * partition key, every key has one shard, and the results are exact across workers.
 */
class OwnedState<K, S> {
  readonly entries = new Map<K, Entry<S>>()
  private readonly byShard = new Map<string, Set<K>>()
  /** Shards whose stored state changed outside a batch (a conflict on restore), to commit with the next one. */
  readonly changed = new Set<string>()

  private keysOf(shardId: string) {
    let keys = this.byShard.get(shardId)
    if (keys === undefined) this.byShard.set(shardId, (keys = new Set()))
    return keys
  }

  put(key: K, entry: Entry<S>, touch: (shardId: string) => void) {
    const before = this.entries.get(key)
    if (before !== undefined && before.owner !== entry.owner) {
      this.byShard.get(before.owner)?.delete(key)
      touch(before.owner)
    }
    this.entries.set(key, entry)
    this.keysOf(entry.owner).add(key)
    touch(entry.owner)
  }

  remove(key: K, touch: (shardId: string) => void) {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.byShard.get(entry.owner)?.delete(key)
    touch(entry.owner)
  }

  /** Takes a shard's stored entries; a key held already (from another shard) keeps the newer state. */
  load(shardId: string, stored: ReadonlyArray<StoredEntry<K, S>>, range?: HashRange) {
    this.keysOf(shardId)
    for (const [key, state, meta, touchedAt] of stored) {
      if (range !== undefined && !routesTo(meta[2], range)) continue
      const held = this.entries.get(key)
      if (held !== undefined && held.touchedAt > touchedAt) {
        this.changed.add(shardId)
        continue
      }
      this.put(key, { state, owner: shardId, last: recordFromMeta(meta), touchedAt }, (s) => void this.changed.add(s))
    }
    this.changed.delete(shardId)
  }

  snapshot(shardId: string): Array<StoredEntry<K, S>> {
    const out: Array<StoredEntry<K, S>> = []
    for (const key of this.byShard.get(shardId) ?? []) {
      const e = this.entries.get(key)!
      out.push([key, e.state, metaOf(e.last), e.touchedAt])
    }
    return out
  }

  drop(shardId: string) {
    for (const key of this.byShard.get(shardId) ?? []) this.entries.delete(key)
    this.byShard.delete(shardId)
    this.changed.delete(shardId)
  }

  stage(kind: string): StatefulStage {
    return {
      kind,
      restore: (shardId, data) => this.load(shardId, (data as ReadonlyArray<StoredEntry<K, S>> | undefined) ?? []),
      inherit: (shardId, parents, range) => {
        for (const p of parents) this.load(shardId, p as ReadonlyArray<StoredEntry<K, S>>, range)
      },
      snapshot: (shardId) => this.snapshot(shardId),
      drop: (shardId) => this.drop(shardId)
    }
  }

  /** Starts a batch: shards changed outside one are committed with it. */
  begin(context: BatchContext) {
    for (const shardId of this.changed) context.touch(shardId)
    this.changed.clear()
  }
}

/** One reusable {@link KeyState} view. */
class KeyStateView<S> implements KeyState<S> {
  entry: Entry<S> | undefined = undefined
  isTimingOut = false
  updated: { state: S } | undefined = undefined
  removed = false
  reset(entry: Entry<S> | undefined, timingOut: boolean) {
    this.entry = entry
    this.isTimingOut = timingOut
    this.updated = undefined
    this.removed = false
  }
  get exists() {
    return this.updated !== undefined || (!this.removed && this.entry !== undefined)
  }
  get() {
    return this.updated !== undefined ? this.updated.state : this.removed ? undefined : this.entry?.state
  }
  update(state: S) {
    if (this.isTimingOut) throw new Error("shardline: a key's state cannot be updated while it times out")
    this.updated = { state }
    this.removed = false
  }
  remove() {
    this.updated = undefined
    this.removed = true
  }
}

/** Options of {@link mapWithState}. */
export interface MapWithStateOptions {
  /**
   * A key with no records for this long (processing time) times out: the function is called one
   * last time with no value and `state.isTimingOut`, then its state is removed. Default: never.
   */
  readonly timeout?: Duration.DurationInput
}

/**
 * Keeps a state per key across batches (Spark's `mapWithState`): `f` is called for each record
 * with its key, value and the key's state, which it may read, update or remove; what it returns
 * (unless undefined) becomes the output. The state is committed with the shard checkpoints and
 * follows the shard leases (see the README on keys that are not the partition key).
 *
 * @example
 * ```ts
 * clicks.pipe(
 *   Pipeline.keyBy((c) => c.userId),
 *   Pipeline.mapWithState((user, click, state: KeyState<number>) => {
 *     const n = (state.get() ?? 0) + 1
 *     if (!state.isTimingOut) state.update(n)
 *     return [user, n] as const
 *   }, { timeout: "30 minutes" })
 * )
 * ```
 */
export const mapWithState: {
  <K extends Key, V, S, B>(
    f: (key: K, value: V | undefined, state: KeyState<S>) => B,
    options?: MapWithStateOptions
  ): <E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<Exclude<B, undefined>, E, R>
  <K extends Key, V, E, R, S, B>(
    self: Pipeline<Keyed<K, V>, E, R>,
    f: (key: K, value: V | undefined, state: KeyState<S>) => B,
    options?: MapWithStateOptions
  ): Pipeline<Exclude<B, undefined>, E, R>
} = dual((args) => typeof args[0] !== "function", <K extends Key, V, E, R, S, B>(
  self: Pipeline<Keyed<K, V>, E, R>,
  f: (key: K, value: V | undefined, state: KeyState<S>) => B,
  options: MapWithStateOptions = {}
): Pipeline<Exclude<B, undefined>, E, R> =>
  addOperators(self, (run) =>
    Effect.map(
      options.timeout === undefined ? Effect.succeed(Infinity) : Effect.map(durationOption("timeout", options.timeout, Duration.zero, Duration.zero, true), Duration.toMillis),
      (timeout) => {
        const owned = new OwnedState<K, S>()
        run.register(owned.stage("mapWithState"))
        const view = new KeyStateView<S>()
        return (records: ReadonlyArray<StreamRecord<Keyed<K, V>>>, context: BatchContext) =>
          Effect.sync(() => {
            owned.begin(context)
            const now = context.closedAt
            const out: Array<StreamRecord<Exclude<B, undefined>>> = []
            for (const r of records) {
              const [key, value] = r.value
              const entry = owned.entries.get(key)
              view.reset(entry, false)
              const result = f(key, value, view)
              if (view.updated !== undefined) {
                owned.put(key, { state: view.updated.state, owner: r.shardId, last: r, touchedAt: now }, context.touch)
              } else if (view.removed) owned.remove(key, context.touch)
              else if (entry !== undefined) {
                entry.touchedAt = now
                context.touch(entry.owner)
              }
              if (result !== undefined) out.push(withValue(r, result as Exclude<B, undefined>))
            }
            if (timeout !== Infinity) {
              for (const [key, entry] of owned.entries) {
                if (now - entry.touchedAt < timeout) continue
                view.reset(entry, true)
                const result = f(key, undefined, view)
                owned.remove(key, context.touch)
                if (result !== undefined) out.push(withValue(entry.last, result as Exclude<B, undefined>))
              }
            }
            return out
          })
      }
    )
  ))

/** Options of {@link updateStateByKey}. */
export interface UpdateStateOptions {
  /** `"all"` (Spark's behaviour, the default): every key's state after each batch; `"updated"`: only keys with records or a changed state. */
  readonly emit?: "all" | "updated"
}

/**
 * Keeps a state per key across batches (Spark's `updateStateByKey`): after each batch, `update` is
 * called for every key with the batch's values for it (maybe none) and its state; undefined
 * removes the key. Emits `[key, state]` records.
 *
 * @example
 * ```ts
 * pageViews.pipe(
 *   Pipeline.keyBy((v) => v.page),
 *   Pipeline.updateStateByKey((views: ReadonlyArray<PageView>, total: number | undefined) => (total ?? 0) + views.length)
 * ) // Pipeline<readonly [string, number]>
 * ```
 */
export const updateStateByKey: {
  <V, S>(
    update: (values: ReadonlyArray<V>, state: S | undefined) => S | undefined,
    options?: UpdateStateOptions
  ): <K extends Key, E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<Keyed<K, S>, E, R>
  <K extends Key, V, E, R, S>(
    self: Pipeline<Keyed<K, V>, E, R>,
    update: (values: ReadonlyArray<V>, state: S | undefined) => S | undefined,
    options?: UpdateStateOptions
  ): Pipeline<Keyed<K, S>, E, R>
} = dual((args) => typeof args[0] !== "function", <K extends Key, V, E, R, S>(
  self: Pipeline<Keyed<K, V>, E, R>,
  update: (values: ReadonlyArray<V>, state: S | undefined) => S | undefined,
  options: UpdateStateOptions = {}
): Pipeline<Keyed<K, S>, E, R> =>
  addOperators(self, (run) => {
    const emit = options.emit ?? "all"
    if (emit !== "all" && emit !== "updated") {
      return Effect.fail(new InvalidOption({ option: "emit", given: String(emit), expected: `"all" or "updated"` }))
    }
    const owned = new OwnedState<K, S>()
    run.register(owned.stage("updateStateByKey"))
    return Effect.succeed((records: ReadonlyArray<StreamRecord<Keyed<K, V>>>, context: BatchContext) =>
      Effect.sync(() => {
        owned.begin(context)
        const now = context.closedAt
        const batch = groupValues(records)
        const out: Array<StreamRecord<Keyed<K, S>>> = []
        const keys = new Set<K>([...owned.entries.keys(), ...batch.keys()])
        for (const key of keys) {
          const entry = owned.entries.get(key)
          const group = batch.get(key)
          const next = update(group?.value ?? [], entry?.state)
          if (next === undefined) {
            owned.remove(key, context.touch)
            continue
          }
          const changed = group !== undefined || entry === undefined || next !== entry.state
          if (changed) {
            const last = group?.last ?? entry!.last
            owned.put(key, { state: next, owner: group?.last.shardId ?? entry!.owner, last, touchedAt: group === undefined ? entry!.touchedAt : now }, context.touch)
          }
          if (emit === "all" || changed) out.push(withValue(owned.entries.get(key)!.last, [key, next] as const))
        }
        return out
      })
    )
  }))
