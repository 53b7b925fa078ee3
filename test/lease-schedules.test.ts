/**
 * Random schedules of worker starts, crashes, graceful stops and restarts over an in-memory
 * stream (with a split or a merge on the way), on the TestClock: whatever happens, the sinks
 * together see every record, and per partition key in the order it was written.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import { Kinesis, LeaseStore } from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { makeWorkers } from "./support/workers.js"

const STREAM = "schedules"
const STEP_MS = 100
const encoder = new TextEncoder()

type Action = "start" | "crash" | "stop"
interface Step {
  readonly at: number
  readonly action: Action
  readonly worker: string
}
interface Scenario {
  readonly shards: number
  readonly records: number
  readonly keys: number
  readonly reshard: "split" | "merge" | undefined
  readonly steps: ReadonlyArray<Step>
}

const scenarios: fc.Arbitrary<Scenario> = fc.record({
  shards: fc.integer({ min: 2, max: 4 }),
  records: fc.integer({ min: 10, max: 120 }),
  keys: fc.integer({ min: 1, max: 10 }),
  reshard: fc.option(fc.constantFrom("split" as const, "merge" as const), { nil: undefined }),
  steps: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 60 }).map((n) => n * STEP_MS),
      action: fc.constantFrom<Action>("start", "start", "crash", "stop"),
      worker: fc.constantFrom("a", "b", "c")
    }),
    { maxLength: 10 }
  )
})

const runScenario = (scenario: Scenario) =>
  Effect.gen(function* () {
    const memory = yield* MemoryKinesis
    const kinesis = yield* Kinesis
    yield* memory.createStream(STREAM, scenario.shards)
    const workers = yield* makeWorkers({ streamName: STREAM, batchInterval: "200 millis" })
    // What was written, per key in write order.
    const written = new Map<string, Array<string>>()
    const steps = [...scenario.steps].sort((x, y) => x.at - y.at)
    let next = 0
    for (let t = 0; t <= 6_000; t += STEP_MS) {
      while (next < steps.length && steps[next]!.at <= t) {
        const step = steps[next++]!
        if (step.action === "start") yield* workers.start(step.worker)
        else if (step.action === "crash") yield* workers.crash(step.worker)
        else yield* workers.stop(step.worker).pipe(Effect.fork)
      }
      // Records go in steadily over the first five seconds, one put at a time.
      const due = Math.min(scenario.records, Math.ceil((scenario.records * (t + STEP_MS)) / 5_000))
      for (let i = [...written.values()].reduce((n, v) => n + v.length, 0); i < due; i++) {
        const key = `key-${i % scenario.keys}`
        yield* kinesis.putRecord({ StreamName: STREAM, PartitionKey: key, Data: encoder.encode(String(i)) })
        written.set(key, [...(written.get(key) ?? []), String(i)])
      }
      if (t === 2_500 && scenario.reshard === "split") yield* memory.splitShard(STREAM, "shardId-000000000000")
      if (t === 2_500 && scenario.reshard === "merge") yield* memory.mergeShards(STREAM, "shardId-000000000000", "shardId-000000000001")
      yield* TestClock.adjust(STEP_MS)
    }
    // Whatever the schedule left, one worker comes (back) to finish the job.
    if (workers.alive().length === 0) yield* workers.start("z")
    const all = scenario.records
    for (let waited = 0; new Set(workers.seen.map((s) => s.value)).size < all && waited < 120_000; waited += STEP_MS) {
      yield* TestClock.adjust(STEP_MS)
    }
    return { written, seen: workers.seen, failures: workers.failures }
  })

describe("leases under random schedules (in memory, TestClock)", () => {
  it("every record reaches a sink, and per key first in write order, whatever the starts, crashes and stops", async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        const { written, seen, failures } = await Effect.runPromise(
          runScenario(scenario).pipe(
            Effect.scoped,
            Effect.provide(Layer.mergeAll(MemoryKinesis.layer(), LeaseStore.layerMemory)),
            Effect.provide(TestContext.TestContext)
          )
        )
        expect(failures).toEqual([])
        const values = new Set(seen.map((s) => s.value))
        const missing = [...written.values()].flat().filter((v) => !values.has(v))
        expect(missing).toEqual([])
        // First occurrences, per key, in the order the sinks saw them.
        const firsts = new Map<string, Array<string>>()
        const counted = new Set<string>()
        for (const s of seen) {
          if (counted.has(s.value)) continue
          counted.add(s.value)
          firsts.set(s.partitionKey, [...(firsts.get(s.partitionKey) ?? []), s.value])
        }
        for (const [key, order] of written) expect(firsts.get(key)).toEqual(order)
      }),
      { numRuns: 12 }
    )
  }, 120_000)
})
