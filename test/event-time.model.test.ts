import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Codec, type EventTimeOutput, InvalidOption, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { arbitraryScript, bag, effectProperty, encodeEvent, parseEvent, play, type Placed } from "./support/stateful.js"

const flushTime = 1_000_000_000
const source = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(Pipeline.map(parseEvent))

const windowed = (size: number, slide: number, lateness: number) =>
  source().pipe(
    Pipeline.map((e) => [e.key, { n: e.n, time: e.time }] as const),
    Pipeline.reduceByKeyAndEventTimeWindow((a: { n: number; time: number }, b: { n: number; time: number }) => ({ n: a.n + b.n, time: Math.max(a.time, b.time) }), {
      eventTime: ([, v]) => v.time,
      size: `${size} millis`,
      slide: `${slide} millis`,
      allowedLateness: `${lateness} millis`,
      idleTimeout: "3 seconds"
    })
  )

/** Moves every shard's event time far ahead (keys chosen so every shard gets one), then lets them go idle. */
const flush = (test: PipelineTest<EventTimeOutput<string, { n: number; time: number }>, unknown>) =>
  Effect.gen(function* () {
    yield* test.put(Array.from({ length: 40 }, (_, i) => encodeEvent({ key: `flush${i}`, n: 0, time: flushTime })))
    yield* test.advance(8)
  })

const outputs = (test: PipelineTest<EventTimeOutput<string, { n: number; time: number }>, unknown>) =>
  Effect.map(test.batches, (batches) => batches.flatMap((b) => b.records.map((r) => r.value)).filter((o) => !o.key.startsWith("flush")))

/** The naive result: per key and window, the sum over the records it holds. */
const naive = (records: ReadonlyArray<Placed["event"]>, size: number, slide: number) => {
  const sums = new Map<string, number>()
  for (const e of records) {
    for (let start = Math.floor(e.time / slide) * slide; start > e.time - size; start -= slide) {
      const id = JSON.stringify([e.key, start, start + size])
      sums.set(id, (sums.get(id) ?? 0) + e.n)
    }
  }
  return [...sums].map(([id, n]) => [...JSON.parse(id), n])
}

describe("event-time windows: reference model", () => {
  it("tumbling windows with any lateness: every record is in exactly one fired window or comes out late, each window fires once", () =>
    effectProperty(
      [arbitraryScript({ keys: 5, maxTime: 20_000 }), fc.constantFrom(1000, 2000, 5000), fc.integer({ min: 0, max: 6000 }), fc.integer({ min: 1, max: 3 })],
      (script, size, lateness, shards) =>
        Effect.gen(function* () {
          const test = yield* PipelineTest.make(windowed(size, size, lateness), undefined, { shardCount: shards })
          const placed = yield* play(test, script)
          yield* flush(test)
          const out = yield* outputs(test)
          const fired = out.filter((o) => o._tag === "Window")
          const late = out.filter((o) => o._tag === "Late")
          // Fired once per key and window.
          const ids = fired.map((w) => JSON.stringify([w.key, w.start.getTime()]))
          expect(new Set(ids).size).toBe(ids.length)
          // A late record's window had closed: its end is at or before the watermark it was behind.
          for (const l of late) expect(Math.floor(l.eventTime.getTime() / size) * size + size).toBeLessThanOrEqual(l.watermark.getTime())
          // Conservation: records = late ones + those in fired windows (sums per window).
          const lateBag = bag(late.map((l) => [l.key, l.value.n, l.eventTime.getTime()]))
          const onTime: Array<Placed["event"]> = []
          const remaining = [...lateBag]
          for (const p of placed) {
            const i = remaining.indexOf(JSON.stringify([p.event.key, p.event.n, p.event.time]))
            if (i >= 0) remaining.splice(i, 1)
            else onTime.push(p.event)
          }
          expect(remaining).toEqual([])
          expect(bag(fired.map((w) => [w.key, w.start.getTime(), w.end.getTime(), w.value.n]))).toEqual(bag(naive(onTime, size, size)))
        }),
      15
    ))

  it("sliding windows with lateness past every event time: nothing is late and every window equals the naive sum", () =>
    effectProperty([arbitraryScript({ keys: 4, maxTime: 10_000 }), fc.constantFrom([2000, 1000], [3000, 1000], [4000, 2000]), fc.integer({ min: 1, max: 3 })], (script, [size, slide], shards) =>
      Effect.gen(function* () {
        const test = yield* PipelineTest.make(windowed(size!, slide!, 20_000), undefined, { shardCount: shards })
        const placed = yield* play(test, script)
        yield* flush(test)
        const out = yield* outputs(test)
        expect(out.filter((o) => o._tag === "Late")).toEqual([])
        expect(bag(out.map((w) => (w._tag === "Window" ? [w.key, w.start.getTime(), w.end.getTime(), w.value.n] : [])))).toEqual(
          bag(naive(placed.map((p) => p.event), size!, slide!))
        )
      }), 12))

  it.scoped("an idle shard stops holding the watermark back after idleTimeout; a late record is reported, not dropped", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(windowed(1000, 1000, 0), undefined, { shardCount: 2 })
      // One key per shard: find two keys on different shards.
      const where = yield* test.put([encodeEvent({ key: "a", n: 1, time: 500 })])
      let other = 0
      while ((yield* test.put([encodeEvent({ key: `b${other}`, n: 1, time: 500 })]))[0]!.shardId === where[0]!.shardId) other++
      const busyKey = "a"
      yield* test.advance(1)
      // Only a's shard moves on; b's shard stays at 500 and holds the watermark at 500 until idle.
      yield* test.put([encodeEvent({ key: busyKey, n: 1, time: 5000 })])
      const early = yield* test.advance(1)
      expect(early.flatMap((b) => b.records)).toEqual([])
      const later = yield* test.advance(4)
      const fired = later.flatMap((b) => b.records.map((r) => r.value))
      expect(bag(fired.map((w) => (w._tag === "Window" ? [w.key, w.start.getTime(), w.value.n] : [])))).toEqual(bag([["a", 0, 1], [`b${other}`, 0, 1]]))
      // Now behind the watermark: reported late with the watermark it missed.
      yield* test.put([encodeEvent({ key: busyKey, n: 7, time: 100 })])
      const lateBatches = yield* test.advance(1)
      const late = lateBatches.flatMap((b) => b.records.map((r) => r.value))
      expect(late).toEqual([{ _tag: "Late", key: "a", value: { n: 7, time: 100 }, eventTime: new Date(100), watermark: new Date(5000) }])
    }))

  it.scoped("bad options fail at start with InvalidOption naming the option", () =>
    Effect.gen(function* () {
      const bad = [
        [{ size: "0 seconds" }, "size"],
        [{ size: "3 seconds", slide: "2 seconds" }, "slide"],
        [{ idleTimeout: "0 seconds" }, "idleTimeout"],
        [{ eventTime: "time" }, "eventTime"]
      ] as const
      for (const [options, option] of bad) {
        const pipeline = source().pipe(
          Pipeline.map((e) => [e.key, e.n] as const),
          Pipeline.reduceByKeyAndEventTimeWindow((a: number, b: number) => a + b, { eventTime: Pipeline.arrivalTime, size: "1 second", ...options } as never)
        )
        const test = yield* PipelineTest.make(pipeline)
        const error = yield* Effect.flip(test.advance(1))
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe(option)
      }
    }))
})
