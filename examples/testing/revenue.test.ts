/**
 * A property-based test of the clickstream revenue pipeline, the way a shardline user writes one:
 * random events generated from the .proto schema, random batch boundaries, throttling, a crash in
 * the middle and a restart, and the result compared with a plain computation over the same events.
 * It runs on the in-memory Kinesis and the test clock: no server, no real time.
 */
import { clone, toBinary } from "@bufbuild/protobuf"
import { Effect, TestContext } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { arbitraryMessage, arbitraryScenarioPlan, PipelineTest, type ScenarioPlan } from "shardline/testing"
import {
  type ClickstreamEvent,
  ClickstreamEventSchema
} from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { partitionKeyOf } from "../clickstream/events.js"
import { type CurrencyTotal, NaiveRevenueLedger, purchases, RevenueLedger, revenueOf } from "../clickstream/revenue.js"

/** Events of every kind, with the fields this pipeline reads drawn from a few values so totals collide. */
const arbitraryEvent = arbitraryMessage(ClickstreamEventSchema, { maxCollectionSize: 2 }).map((generated) => {
  const event = clone(ClickstreamEventSchema, generated)
  if (event.event.case === "purchase") {
    event.event.value.currency = ["EUR", "USD", "JPY"][Number(event.event.value.totalMinor & 3n) % 3]!
  }
  return event
})

/**
 * A test run: events put in groups with the clock moved between groups, a crash in the middle,
 * and a generated plan of Kinesis faults (throttling, latency, timeouts, expired iterators) and
 * more crashes.
 */
interface Scenario {
  readonly groups: ReadonlyArray<{ readonly events: ReadonlyArray<ClickstreamEvent>; readonly advance: number }>
  readonly maxBatchRecords: number
  readonly crash: { readonly afterGroup: number; readonly afterSink: boolean }
  readonly plan: ScenarioPlan
}

const arbitraryScenario: fc.Arbitrary<Scenario> = fc.record({
  groups: fc.array(
    fc.record({ events: fc.array(arbitraryEvent, { maxLength: 10 }), advance: fc.integer({ min: 0, max: 3 }) }),
    { minLength: 1, maxLength: 4 }
  ),
  maxBatchRecords: fc.integer({ min: 1, max: 40 }),
  crash: fc.record({ afterGroup: fc.nat({ max: 3 }), afterSink: fc.boolean() }),
  plan: arbitraryScenarioPlan({ maxFaults: 3, maxCallIndex: 10, maxCrashes: 2, maxAfterBatch: 5 })
})

// Kinesis takes 1 to 256 characters; generated ids may be empty or longer.
const partitionKey = (event: ClickstreamEvent, index: number) => {
  const key = partitionKeyOf(event)
  return key.length >= 1 && key.length <= 256 ? key : `event-${index}`
}

/** Runs the scenario through the pipeline into `ledger`; answers the totals the ledger ends with. */
const runScenario = (scenario: Scenario, ledger: RevenueLedger | NaiveRevenueLedger) =>
  Effect.gen(function* () {
    const pipeline = purchases({ streamName: "clicks", maxBatchRecords: scenario.maxBatchRecords })
    const test = yield* PipelineTest.make(pipeline, (batch) => Effect.sync(() => ledger.apply(batch)), {
      shardCount: 3,
      faults: scenario.plan
    })
    let index = 0
    for (const [i, group] of scenario.groups.entries()) {
      yield* test.put(group.events.map((event) => ({
        partitionKey: partitionKey(event, index++),
        data: toBinary(ClickstreamEventSchema, event)
      })))
      yield* test.advance(group.advance)
      if (i === Math.min(scenario.crash.afterGroup, scenario.groups.length - 1)) {
        yield* test.crash(scenario.crash.afterSink ? { afterSink: true } : {})
        // An armed crash goes off at the next batch that reaches the sink.
        yield* test.advance(2)
        yield* test.restart
      }
    }
    yield* test.drain()
    return ledger.totals
  }).pipe(Effect.scoped, Effect.provide(TestContext.TestContext))

const expectedTotals = (scenario: Scenario) =>
  revenueOf(scenario.groups.flatMap((g) => g.events).flatMap((e) => (e.event.case === "purchase" ? [e.event.value] : [])))

const sorted = (totals: ReadonlyMap<string, CurrencyTotal>) => [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

describe("clickstream revenue, property-based", () => {
  it("counts every purchase exactly once per currency, whatever the batches, throttles and crash", async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryScenario, async (scenario) => {
        const totals = await Effect.runPromise(runScenario(scenario, new RevenueLedger()))
        expect(sorted(totals)).toEqual(sorted(expectedTotals(scenario)))
      }),
      { numRuns: 40 }
    )
  })

  it("finds the double count of a ledger that ignores sequence numbers, with a small counterexample", async () => {
    const result = await fc.check(
      fc.asyncProperty(arbitraryScenario, async (scenario) => {
        const totals = await Effect.runPromise(runScenario(scenario, new NaiveRevenueLedger()))
        expect(sorted(totals)).toEqual(sorted(expectedTotals(scenario)))
      }),
      { numRuns: 100, seed: 7 }
    )
    expect(result.failed).toBe(true)
    const [scenario] = result.counterexample!
    // Shrunk to the essence: one purchase, replayed after a crash between sink and checkpoint.
    const events = scenario.groups.flatMap((g) => g.events)
    expect(events).toHaveLength(1)
    expect(events[0]!.event.case).toBe("purchase")
    expect(scenario.crash.afterSink || scenario.plan.crashes.some((c) => c.checkpointed === false)).toBe(true)
    expect(scenario.plan.faults).toEqual([])
  })
})
