import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Codec, type KeyState, Pipeline } from "../src/index.js"
import { type Crash, PipelineTest } from "../src/testing/index.js"
import { arbitraryScript, type Script, bag, effectProperty, encodeEvent, parseEvent, play } from "./support/stateful.js"

const source = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(Pipeline.map(parseEvent))
const keyed = () => source().pipe(Pipeline.map((e) => [e.key, e.n] as const))

/** Every stateful operator at once; each output tagged with its operator, values chosen so the final ones are comparable. */
const operators = {
  totals: keyed().pipe(Pipeline.updateStateByKey((ns: ReadonlyArray<number>, total: number | undefined) => (total ?? 0) + ns.reduce((a, b) => a + b, 0))),
  running: keyed().pipe(
    Pipeline.mapWithState((key: string, n: number | undefined, state: KeyState<number>) => {
      const total = (state.get() ?? 0) + (n ?? 0)
      state.update(total)
      return [key, total] as const
    })
  ),
  // A window longer than the whole run: its total is the sum of everything read once.
  window: keyed().pipe(Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, { length: "1000 seconds", slide: "1 second", inverse: (a, b) => a - b })),
  // One event-time window holding everything: it fires once every shard's event time passes it.
  events: source().pipe(
    Pipeline.map((e) => [e.key, { n: e.n, time: e.time }] as const),
    Pipeline.reduceByKeyAndEventTimeWindow((a: { n: number; time: number }, b: { n: number; time: number }) => ({ n: a.n + b.n, time: 0 }), {
      eventTime: ([, v]) => v.time,
      size: "1 hour",
      idleTimeout: "3 seconds"
    }),
    Pipeline.flatMap((o) => (o._tag === "Window" ? [[o.key, o.value.n] as const] : []))
  )
} as const

/** Runs a script (then drains) and answers the last value each key had in the outputs. */
const finalValues = <A>(pipeline: Pipeline.Pipeline<A, never, any>, script: Script, crashes: ReadonlyArray<Crash>, shards: number, last: (outputs: ReadonlyArray<A>) => Map<string, unknown>) =>
  Effect.gen(function* () {
    const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: shards, faults: { seed: 1, faults: [], crashes } })
    yield* play(test, script)
    // One more record per step so a crash planned late still happens, then drain.
    yield* test.put([encodeEvent({ key: "end", n: 0, time: 0 })])
    yield* test.drain({ maxIntervals: 200 })
    // Event time far past the data on every shard (these keys' own windows never fire), then idle.
    yield* test.put(Array.from({ length: 40 }, (_, i) => encodeEvent({ key: `flush${i}`, n: 0, time: 7_200_000 })))
    yield* test.drain({ maxIntervals: 200 })
    yield* test.advance(6)
    return { values: last((yield* test.batches).flatMap((b) => b.records.map((r) => r.value))), runs: yield* test.runs }
  })

const lastByKey = (outputs: ReadonlyArray<readonly [string, number]>) => new Map(outputs.map(([k, v]) => [k, v]))

const crashesArb = fc.array(
  fc.record({ afterBatch: fc.integer({ min: 1, max: 6 }), checkpointed: fc.boolean() }).map((c): Crash => ({ _tag: "Crash", ...c })),
  { minLength: 1, maxLength: 3 }
)

describe("stateful operators across crashes and restarts", () => {
  it.each(["totals", "running", "window", "events"] as const)(
    "%s: crashing after random batches (before or after the checkpoint) and restarting ends with the same state as an uninterrupted run",
    (name) =>
      effectProperty([arbitraryScript({ keys: 5, steps: 5 }), crashesArb, fc.integer({ min: 1, max: 3 })], (script, crashes, shards) =>
        Effect.gen(function* () {
          const pipeline = operators[name] as Pipeline.Pipeline<readonly [string, number], never, any>
          const calm = yield* finalValues(pipeline, script, [], shards, lastByKey)
          const crashed = yield* finalValues(pipeline, script, crashes, shards, lastByKey)
          expect(crashed.runs).toBeGreaterThan(1)
          expect(bag(crashed.values)).toEqual(bag(calm.values))
          // And the state is right, not merely equal: the sums of what was put, each record counted once.
          const sums = new Map<string, number>()
          for (const step of script) for (const e of step.events) sums.set(e.key, (sums.get(e.key) ?? 0) + e.n)
          sums.set("end", 0)
          if (name !== "events") for (let i = 0; i < 40; i++) sums.set(`flush${i}`, 0)
          expect(bag(crashed.values)).toEqual(bag(sums))
        }), 6),
    120_000
  )
})
