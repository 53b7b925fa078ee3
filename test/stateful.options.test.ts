import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Codec, InvalidOption, type KeyState, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { encodeEvent, parseEvent } from "./support/stateful.js"

const keyed = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(
    Pipeline.map(parseEvent),
    Pipeline.map((e) => [e.key, e.n] as const)
  )
const put = (key: string, n: number) => encodeEvent({ key, n, time: 0 })

describe("keyed state: timeouts and removal", () => {
  it.scoped("mapWithState: a key idle for `timeout` gets one last call with isTimingOut, then starts afresh", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const pipeline = keyed().pipe(
        Pipeline.mapWithState((key: string, n: number | undefined, state: KeyState<number>) => {
          const total = (state.get() ?? 0) + (n ?? 0)
          calls.push(`${key}:${n ?? "-"}:${total}:${state.isTimingOut ? "timeout" : "live"}`)
          if (state.isTimingOut) {
            expect(() => state.update(0)).toThrow(/cannot be updated while it times out/)
            return `${key} ended at ${total}`
          }
          state.update(total)
          return undefined
        }, { timeout: "3 seconds" })
      )
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      yield* test.put([put("a", 1), put("a", 2), put("b", 5)])
      yield* test.drain()
      // "b" keeps getting records; "a" goes quiet and times out.
      for (let i = 0; i < 4; i++) {
        yield* test.put([put("b", 1)])
        yield* test.advance(1)
      }
      const outputs = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      expect(outputs).toEqual(["a ended at 3"])
      expect(calls.filter((c) => c.startsWith("a"))).toEqual(["a:1:1:live", "a:2:3:live", "a:-:3:timeout"])
      // A new record for "a" starts from nothing.
      yield* test.put([put("a", 10)])
      yield* test.drain()
      expect(calls.at(-1)).toBe("a:10:10:live")
    }))

  it.scoped("updateStateByKey: answering undefined removes the key; emit 'updated' leaves unchanged keys out", () =>
    Effect.gen(function* () {
      const pipeline = keyed().pipe(
        Pipeline.updateStateByKey((ns: ReadonlyArray<number>, total: number | undefined) => {
          const next = (total ?? 0) + ns.reduce((a, b) => a + b, 0)
          return next >= 100 ? undefined : next
        }, { emit: "updated" })
      )
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      yield* test.put([put("a", 1), put("b", 2)])
      const first = (yield* test.drain()).flatMap((b) => b.records.map((r) => r.value))
      expect(new Map(first)).toEqual(new Map([["a", 1], ["b", 2]]))
      yield* test.put([put("b", 200)])
      const second = (yield* test.drain()).flatMap((b) => b.records.map((r) => r.value))
      expect(second).toEqual([]) // "a" unchanged, "b" removed (no output for a removed key)
      yield* test.put([put("b", 3)])
      const third = (yield* test.drain()).flatMap((b) => b.records.map((r) => r.value))
      expect(third).toEqual([["b", 3]]) // "b" started again from nothing
    }))
})

describe("window options", () => {
  it.scoped("length and slide must be positive multiples of the batch interval, slide at most length; the error names the option and a valid value", () =>
    Effect.gen(function* () {
      const cases = [
        [{ length: "1500 millis" }, "reduceByKeyAndWindow.length", /multiple of the batch interval \(1s\), e\.g\. 2s/],
        [{ length: "4 seconds", slide: "3500 millis" }, "reduceByKeyAndWindow.slide", /multiple of the batch interval/],
        [{ length: "2 seconds", slide: "4 seconds" }, "reduceByKeyAndWindow.slide", /at most the window length/],
        [{ length: "0 seconds" }, "reduceByKeyAndWindow.length", /./]
      ] as const
      for (const [options, option, expected] of cases) {
        const test = yield* PipelineTest.make(keyed().pipe(Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, options)))
        const error = yield* Effect.flip(test.advance(1))
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe(option)
        expect((error as InvalidOption).expected).toMatch(expected)
      }
      const windowTest = yield* PipelineTest.make(keyed().pipe(Pipeline.window({ length: "2500 millis" })))
      expect(yield* Effect.flip(windowTest.advance(1))).toMatchObject({ _tag: "InvalidOption", option: "window.length" })
      const stateTest = yield* PipelineTest.make(keyed().pipe(Pipeline.updateStateByKey((_: ReadonlyArray<number>, s: number | undefined) => s, { emit: "some" as never })))
      expect(yield* Effect.flip(stateTest.advance(1))).toMatchObject({ _tag: "InvalidOption", option: "emit" })
    }))
})
