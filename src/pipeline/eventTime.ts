import { Duration, Effect } from "effect"
import { dual } from "effect/Function"
import { durationOption, InvalidOption } from "../config/index.js"
import type { HashRange } from "../state/routing.js"
import type { BatchContext } from "../state/Stage.js"
import { type StreamRecord, withValue } from "./Batch.js"
import { addTo, type Key, type Keyed, mergeInto, type Partial } from "./keyed.js"
import { loadPartials, storePartials, type StoredPartial } from "./partials.js"
import { addOperators, type Pipeline } from "./Pipeline.js"

/** A window that closed: its key's result over [start, end) of event time. */
export interface WindowFired<K, V> {
  readonly _tag: "Window"
  readonly key: K
  readonly value: V
  readonly start: Date
  readonly end: Date
}

/**
 * A record that came after every window it belongs to had fired (its event time is behind the
 * watermark by more than the allowed lateness): the typed side output, never dropped silently.
 */
export interface LateRecord<K, V> {
  readonly _tag: "Late"
  readonly key: K
  readonly value: V
  readonly eventTime: Date
  /** The watermark the record was behind. */
  readonly watermark: Date
}

/** What an event-time window emits: fired windows, and late records. */
export type EventTimeOutput<K, V> = WindowFired<K, V> | LateRecord<K, V>

/** Where a record's event time comes from. */
export type EventTimeOf<A> = (value: A, record: StreamRecord<A>) => Date | number | bigint | undefined

/** Options of {@link reduceByKeyAndEventTimeWindow}. */
export interface EventTimeWindowOptions<A> {
  /**
   * The record's event time (a Date, or epoch milliseconds). Use {@link arrivalTime} for the
   * time Kinesis accepted the record, or e.g. `([, e]) => timestampMs(e.time!)` for a
   * `google.protobuf.Timestamp` field. A record without one (undefined) falls back to its arrival time.
   */
  readonly eventTime: EventTimeOf<A>
  /** The window's size in event time. */
  readonly size: Duration.DurationInput
  /** How far windows start apart; default `size` (tumbling windows). A divisor of `size` gives sliding windows. */
  readonly slide?: Duration.DurationInput
  /** How far behind the newest event time a record may be and still count. Default 0. */
  readonly allowedLateness?: Duration.DurationInput
  /**
   * A shard with no records for this long (processing time) stops holding the watermark back.
   * Default 1 minute. When every shard is idle, the watermark is the highest of theirs.
   */
  readonly idleTimeout?: Duration.DurationInput
}

/** The event time Kinesis gives every record: when it was accepted (ApproximateArrivalTimestamp). */
export const arrivalTime: EventTimeOf<unknown> = (_, record) => record.approximateArrivalTimestamp

const toMillis = (t: Date | number | bigint | undefined, record: StreamRecord<unknown>): number => {
  if (t === undefined) return record.approximateArrivalTimestamp?.getTime() ?? 0
  return typeof t === "number" ? t : typeof t === "bigint" ? Number(t) : t.getTime()
}

/** One shard's event-time state. */
interface ShardClock<K, V> {
  /** The newest event time seen (-Infinity: none yet). */
  maxEventTime: number
  /** Windows up to this end fired for this shard: later records for them are late even after a handover. */
  firedUpTo: number
  /** Processing time of the shard's last record (or of the batch it was taken over in), for idleness. */
  lastActive: number
  /** Open windows by start, then key. */
  readonly windows: Map<number, Map<K, Partial<V>>>
}

interface StoredClock<K, V> {
  readonly maxEventTime: number
  readonly firedUpTo: number
  readonly windows: ReadonlyArray<readonly [start: number, partials: ReadonlyArray<StoredPartial<K, V>>]>
}

const settings = <A>(options: EventTimeWindowOptions<A>) =>
  Effect.gen(function* () {
    if (typeof options.eventTime !== "function") {
      return yield* new InvalidOption({ option: "eventTime", given: typeof options.eventTime, expected: "a function (value, record) => Date | number" })
    }
    const size = Duration.toMillis(yield* durationOption("size", options.size, Duration.zero, Duration.zero, true))
    const slide = Duration.toMillis(yield* durationOption("slide", options.slide, Duration.millis(size), Duration.zero, true))
    if (size % slide !== 0) {
      return yield* new InvalidOption({ option: "slide", given: Duration.format(Duration.millis(slide)), expected: `a divisor of size (${Duration.format(Duration.millis(size))})` })
    }
    const lateness = Duration.toMillis(yield* durationOption("allowedLateness", options.allowedLateness, Duration.zero))
    const idle = Duration.toMillis(yield* durationOption("idleTimeout", options.idleTimeout, Duration.minutes(1), Duration.zero, true))
    return { size, slide, lateness, idle }
  })

/**
 * Per key, `reduce` over event-time windows (tumbling, or sliding with `slide`). Each shard tracks
 * the newest event time it saw; the watermark is the lowest of them over the shards this worker
 * holds that are not idle, minus `allowedLateness`. A window fires once, when the watermark passes
 * its end; records for windows that already fired come out as {@link LateRecord}s. Open windows
 * and each shard's event-time clock are kept per shard and committed with its checkpoint.
 *
 * @example
 * ```ts
 * requests.pipe(
 *   Pipeline.map((r) => [r.endpoint, r] as const),
 *   Pipeline.map(([endpoint, r]) => [endpoint, 1] as const),
 *   Pipeline.reduceByKeyAndEventTimeWindow((a: number, b: number) => a + b, {
 *     eventTime: Pipeline.arrivalTime,
 *     size: "1 minute",
 *     allowedLateness: "10 seconds"
 *   })
 * ) // Pipeline<EventTimeOutput<string, number>>
 * ```
 */
export const reduceByKeyAndEventTimeWindow: {
  <K extends Key, V>(
    reduce: (a: V, b: V) => V,
    options: EventTimeWindowOptions<Keyed<K, V>>
  ): <E, R>(self: Pipeline<Keyed<K, V>, E, R>) => Pipeline<EventTimeOutput<K, V>, E, R>
  <K extends Key, V, E, R>(
    self: Pipeline<Keyed<K, V>, E, R>,
    reduce: (a: V, b: V) => V,
    options: EventTimeWindowOptions<Keyed<K, V>>
  ): Pipeline<EventTimeOutput<K, V>, E, R>
} = dual(3, <K extends Key, V, E, R>(
  self: Pipeline<Keyed<K, V>, E, R>,
  reduce: (a: V, b: V) => V,
  options: EventTimeWindowOptions<Keyed<K, V>>
): Pipeline<EventTimeOutput<K, V>, E, R> =>
  addOperators(self, (run) =>
    Effect.map(settings(options), ({ size, slide, lateness, idle }) => {
      const shards = new Map<string, ShardClock<K, V>>()
      // The watermark never goes back within a run.
      let watermark = -Infinity
      let now = 0
      // A shard taken over counts as active from the batch it comes in with (NaN until then).
      const fresh = (): ShardClock<K, V> => ({ maxEventTime: -Infinity, firedUpTo: -Infinity, lastActive: NaN, windows: new Map() })
      const load = (into: ShardClock<K, V>, stored: StoredClock<K, V>, range?: HashRange) => {
        into.maxEventTime = Math.max(into.maxEventTime, stored.maxEventTime)
        into.firedUpTo = Math.max(into.firedUpTo, stored.firedUpTo)
        for (const [start, partials] of stored.windows) {
          let window = into.windows.get(start)
          if (window === undefined) into.windows.set(start, (window = new Map()))
          loadPartials(partials, window, reduce, range)
          if (window.size === 0) into.windows.delete(start)
        }
      }
      run.register({
        kind: "reduceByKeyAndEventTimeWindow",
        restore: (shardId, data) => {
          const clock = fresh()
          if (data !== undefined) load(clock, data as StoredClock<K, V>)
          shards.set(shardId, clock)
        },
        inherit: (shardId, parents, range) => {
          const clock = fresh()
          for (const p of parents) load(clock, p as StoredClock<K, V>, range)
          shards.set(shardId, clock)
        },
        snapshot: (shardId): StoredClock<K, V> | undefined => {
          const c = shards.get(shardId)
          return c === undefined
            ? undefined
            : { maxEventTime: c.maxEventTime, firedUpTo: c.firedUpTo, windows: [...c.windows].map(([start, w]) => [start, storePartials(w)] as const) }
        },
        drop: (shardId) => void shards.delete(shardId)
      })

      return (records: ReadonlyArray<StreamRecord<Keyed<K, V>>>, context: BatchContext) =>
        Effect.sync(() => {
          now = context.closedAt
          for (const c of shards.values()) if (Number.isNaN(c.lastActive)) c.lastActive = now
          const out: Array<StreamRecord<EventTimeOutput<K, V>>> = []
          for (const r of records) {
            let clock = shards.get(r.shardId)
            if (clock === undefined) shards.set(r.shardId, (clock = fresh()))
            clock.lastActive = now
            context.touch(r.shardId)
            const [key, value] = r.value
            const t = toMillis(options.eventTime(r.value, r), r)
            if (t > clock.maxEventTime) clock.maxEventTime = t
            const closed = Math.max(watermark, clock.firedUpTo)
            let placed = false
            // Every window [start, start + size) with start a multiple of slide that holds t.
            for (let start = Math.floor(t / slide) * slide; start > t - size; start -= slide) {
              if (start + size <= closed) continue
              let window = clock.windows.get(start)
              if (window === undefined) clock.windows.set(start, (window = new Map()))
              addTo(window, key, value, r, reduce)
              placed = true
            }
            if (!placed) {
              out.push(withValue(r, { _tag: "Late", key, value, eventTime: new Date(t), watermark: new Date(closed) }))
            }
          }

          // The watermark: the lowest over active shards; when all are idle, the highest.
          let low = Infinity
          let high = -Infinity
          for (const c of shards.values()) {
            const mark = c.maxEventTime - lateness
            if (mark > high) high = mark
            if (now - c.lastActive < idle && mark < low) low = mark
          }
          const next = low === Infinity ? high : low
          if (next > watermark) watermark = next

          const fired = new Map<number, Map<K, Partial<V>>>()
          for (const [shardId, c] of shards) {
            let changed = false
            for (const [start, window] of c.windows) {
              if (start + size > watermark) continue
              let all = fired.get(start)
              if (all === undefined) fired.set(start, (all = new Map()))
              for (const [key, p] of window) mergeInto(all, key, p, reduce)
              c.windows.delete(start)
              changed = true
            }
            if (changed) {
              c.firedUpTo = Math.max(c.firedUpTo, watermark)
              context.touch(shardId)
            }
          }
          for (const start of [...fired.keys()].sort((a, b) => a - b)) {
            for (const [key, p] of fired.get(start)!) {
              out.push(withValue(p.last, { _tag: "Window", key, value: p.value, start: new Date(start), end: new Date(start + size) }))
            }
          }
          return out
        })
    })
  ))
