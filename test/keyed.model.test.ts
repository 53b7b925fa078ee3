import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Codec, type KeyState, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { arbitraryScript, bag, effectProperty, inputsOf, parseEvent, play, type Placed } from "./support/stateful.js"

const source = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(Pipeline.map(parseEvent))
const keyed = () => source().pipe(Pipeline.keyBy((e) => e.key))

const groupBy = <T, K>(xs: ReadonlyArray<T>, key: (x: T) => K) => {
  const groups = new Map<K, Array<T>>()
  for (const x of xs) {
    const g = groups.get(key(x))
    if (g === undefined) groups.set(key(x), [x])
    else g.push(x)
  }
  return groups
}
/** Per shard in sequence order, shards in the order they come: what a batch's per-key order follows. */
const inShardOrder = (inputs: ReadonlyArray<Placed>) => [...inputs].sort((a, b) => (a.shardId === b.shardId ? Number(a.sequenceNumber - b.sequenceNumber) : 0))

describe("keyed operators within a batch: reference model", () => {
  it("reduceByKey, countByKey and groupByKey equal a naive grouping of each batch's inputs", () =>
    effectProperty([arbitraryScript({ keys: 6 }), fc.integer({ min: 1, max: 4 })], (script, shards) =>
      Effect.gen(function* () {
        const summed = yield* PipelineTest.make(keyed().pipe(Pipeline.map(([k, e]) => [k, e.n] as const), Pipeline.reduceByKey((a: number, b: number) => a + b)), undefined, { shardCount: shards })
        const counted = yield* PipelineTest.make(keyed().pipe(Pipeline.countByKey()), undefined, { shardCount: shards })
        const grouped = yield* PipelineTest.make(keyed().pipe(Pipeline.map(([k, e]) => [k, e.n] as const), Pipeline.groupByKey()), undefined, { shardCount: shards })
        const check = <A>(test: PipelineTest<A, unknown>, expected: (inputs: ReadonlyArray<Placed>) => Array<unknown>) =>
          Effect.gen(function* () {
            const placed = yield* play(test, script)
            const batches = yield* test.batches
            const inputs = inputsOf(batches, placed)
            expect(batches.map((b) => bag(b.records.map((r) => r.value)))).toEqual(inputs.map((i) => bag(expected(i))))
          })
        yield* check(summed, (inputs) => [...groupBy(inputs, (p) => p.event.key)].map(([k, ps]) => [k, ps.reduce((s, p) => s + p.event.n, 0)]))
        yield* check(counted, (inputs) => [...groupBy(inputs, (p) => p.event.key)].map(([k, ps]) => [k, ps.length]))
        // Keys are partition keys, so a key's values come from one shard, in sequence order.
        yield* check(grouped, (inputs) => [...groupBy(inShardOrder(inputs), (p) => p.event.key)].map(([k, ps]) => [k, ps.map((p) => p.event.n)]))
      }), 10))
})

describe("keyed state: reference model", () => {
  it("mapWithState gives each record the running total of its key; updateStateByKey emits every key's total after each batch", () =>
    effectProperty([arbitraryScript({ keys: 6 }), fc.integer({ min: 1, max: 4 })], (script, shards) =>
      Effect.gen(function* () {
        const running = yield* PipelineTest.make(
          keyed().pipe(
            Pipeline.mapWithState((key: string, e: { readonly n: number } | undefined, state: KeyState<number>) => {
              const total = (state.get() ?? 0) + (e?.n ?? 0)
              state.update(total)
              return [key, total] as const
            })
          ),
          undefined,
          { shardCount: shards }
        )
        const totals = yield* PipelineTest.make(
          keyed().pipe(Pipeline.updateStateByKey((events: ReadonlyArray<{ readonly n: number }>, total: number | undefined) => (total ?? 0) + events.reduce((s, e) => s + e.n, 0))),
          undefined,
          { shardCount: shards }
        )
        const placedR = yield* play(running, script)
        yield* running.drain()
        // Each key's records in order (one shard per key): the running totals the reference computes.
        const expectedRunning = [...groupBy(inShardOrder(placedR), (p) => p.event.key)].flatMap(([k, ps]) => {
          let total = 0
          return ps.map((p) => [k, (total += p.event.n)])
        })
        const gotRunning = (yield* running.batches).flatMap((b) => b.records.map((r) => r.value))
        expect(bag(gotRunning)).toEqual(bag(expectedRunning))
        // Per key, the outputs come in record order.
        for (const [k, outs] of groupBy(gotRunning, (v) => v[0])) {
          expect(outs.map((o) => o[1])).toEqual(expectedRunning.filter((e) => e[0] === k).map((e) => e[1]))
        }

        const placedT = yield* play(totals, script)
        const batches = yield* totals.batches
        const inputs = inputsOf(batches, placedT)
        const state = new Map<string, number>()
        batches.forEach((b, i) => {
          for (const p of inputs[i]!) state.set(p.event.key, (state.get(p.event.key) ?? 0) + p.event.n)
          expect(bag(b.records.map((r) => r.value))).toEqual(bag([...state]))
        })
      }), 10))
})
