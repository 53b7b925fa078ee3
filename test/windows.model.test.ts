import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Codec, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { arbitraryScript, bag, effectProperty, inputsOf, parseEvent, play, type Placed } from "./support/stateful.js"

const interval = 1000
const source = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(Pipeline.map(parseEvent))

/** The naive windows: at each batch that starts a slide period, everything of the last `length` intervals. */
const windowsOf = (
  batches: ReadonlyArray<{ readonly closedAt: Date }>,
  inputs: ReadonlyArray<ReadonlyArray<Placed>>,
  length: number,
  slide: number
) => {
  let previous: number | undefined
  return batches.map((batch) => {
    const slot = Math.floor(batch.closedAt.getTime() / interval)
    const before = previous ?? slot - 1
    previous = Math.max(before, slot)
    if (Math.floor(slot / slide) <= Math.floor(before / slide)) return undefined
    const inWindow: Array<Placed> = []
    batches.forEach((b, i) => {
      const s = Math.floor(b.closedAt.getTime() / interval)
      if (s > slot - length && s <= slot) inWindow.push(...inputs[i]!)
    })
    return inWindow
  })
}

const sumByKey = (events: ReadonlyArray<Placed>) => {
  const sums = new Map<string, number>()
  for (const p of events) sums.set(p.event.key, (sums.get(p.event.key) ?? 0) + p.event.n)
  return [...sums]
}

const windowShape = fc.integer({ min: 1, max: 4 }).chain((slide) => fc.integer({ min: 1, max: 3 }).map((k) => ({ slide, length: slide * k })))

describe("windows over batches: reference model", () => {
  it("reduceByKeyAndWindow, recomputed and incremental, equals the naive window of the batches' inputs", () =>
    effectProperty([arbitraryScript(), windowShape, fc.integer({ min: 1, max: 3 })], (script, shape, shards) =>
    Effect.gen(function* () {
      const keyed = source().pipe(Pipeline.map((e) => [e.key, e.n] as const))
      const options = { length: `${shape.length} seconds`, slide: `${shape.slide} seconds` } as const
      const recomputed = yield* PipelineTest.make(keyed.pipe(Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, options)), undefined, { shardCount: shards })
      const incremental = yield* PipelineTest.make(keyed.pipe(Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, { ...options, inverse: (a, b) => a - b })), undefined, { shardCount: shards })
      // After a non-fusable operator the window takes the decoded batch at once instead of being fed record by record.
      const unfed = yield* PipelineTest.make(
        keyed.pipe(Pipeline.mapEffect((v) => Effect.succeed(v)), Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, { ...options, inverse: (a, b) => a - b })),
        undefined,
        { shardCount: shards }
      )
      // Each test has its own stream and batches (they share the test clock): each is checked against its own.
      for (const test of [recomputed, incremental, unfed]) {
        const placed = yield* play(test, script)
        const batches = yield* test.batches
        const expected = windowsOf(batches, inputsOf(batches, placed), shape.length, shape.slide)
        expect(batches.map((b) => bag(b.records.map((r) => r.value)))).toEqual(expected.map((w) => bag(w === undefined ? [] : sumByKey(w))))
      }
    }), 12))

  it("window, countByWindow and reduceByWindow equal the naive window", () =>
    effectProperty([arbitraryScript(), windowShape], (script, shape) =>
    Effect.gen(function* () {
      const options = { length: `${shape.length} seconds`, slide: `${shape.slide} seconds` } as const
      const windowed = yield* PipelineTest.make(source().pipe(Pipeline.window(options)))
      const counted = yield* PipelineTest.make(source().pipe(Pipeline.countByWindow(options)))
      const maxed = yield* PipelineTest.make(source().pipe(Pipeline.map((e) => e.n), Pipeline.reduceByWindow((a: number, b: number) => Math.max(a, b), options)))
      const expectedOf = (batches: ReadonlyArray<{ readonly closedAt: Date; readonly checkpoints: any }>, placed: ReadonlyArray<Placed>) =>
        windowsOf(batches, inputsOf(batches as any, placed), shape.length, shape.slide)
      const placedW = yield* play(windowed, script)
      const batchesW = yield* windowed.batches
      expect(batchesW.map((b) => bag(b.records.map((r) => r.value)))).toEqual(
        expectedOf(batchesW, placedW).map((w) => bag((w ?? []).map((p) => p.event)))
      )
      const placedC = yield* play(counted, script)
      const batchesC = yield* counted.batches
      expect(batchesC.map((b) => b.records.map((r) => r.value))).toEqual(
        expectedOf(batchesC, placedC).map((w) => (w === undefined || w.length === 0 ? [] : [w.length]))
      )
      const placedM = yield* play(maxed, script)
      const batchesM = yield* maxed.batches
      expect(batchesM.map((b) => b.records.map((r) => r.value))).toEqual(
        expectedOf(batchesM, placedM).map((w) => (w === undefined || w.length === 0 ? [] : [Math.max(...w.map((p) => p.event.n))]))
      )
    }), 10))
})
