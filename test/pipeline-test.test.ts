import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, TestClock, TestContext } from "effect"
import fc from "fast-check"
import { backoff, Codec, InvalidOption, Pipeline } from "../src/index.js"
import {
  arbitraryScenarioPlan,
  Faults,
  PipelineNotDrained,
  PipelineTest,
  type ScenarioPlan,
  type TestRecord
} from "../src/testing/index.js"

const encoder = new TextEncoder()
const records = (from: number, count: number): Array<TestRecord> =>
  Array.from({ length: count }, (_, i) => ({ partitionKey: `k${from + i}`, data: encoder.encode(`v${from + i}`) }))
const values = (batches: ReadonlyArray<{ readonly records: ReadonlyArray<{ readonly value: string }> }>) =>
  batches.flatMap((b) => b.records.map((r) => r.value))
const sorted = (xs: ReadonlyArray<string>) => [...xs].sort()
const expected = (from: number, count: number) => sorted(records(from, count).map((r) => new TextDecoder().decode(r.data)))

const pipeline = Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" })

class SinkRefused extends Data.TaggedError("SinkRefused")<{ readonly batchId: number }> {}

describe("PipelineTest", () => {
  it.scoped("put, advance and drain on the test clock: every record reaches the sink once, checkpointed", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      const placed = yield* test.put(records(0, 50))
      expect(placed).toHaveLength(50)
      yield* test.drain()
      expect(sorted(values(yield* test.batches))).toEqual(expected(0, 50))
      const checkpoints = yield* test.checkpoints
      for (const { sequenceNumber, shardId } of placed) {
        const at = checkpoints.get(shardId)
        expect(at?._tag === "Sequence" && BigInt(at.sequenceNumber) >= BigInt(sequenceNumber)).toBe(true)
      }
    }))

  it.scoped("drain also waits for records written through test.kinesis.api (a producer under test), not only test.put", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      yield* Effect.orDie(test.kinesis.api.putRecords({
        StreamName: "events",
        Records: records(0, 20).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data }))
      }))
      yield* Effect.orDie(test.kinesis.api.putRecord({ StreamName: "events", PartitionKey: "k20", Data: encoder.encode("v20") }))
      const batches = yield* test.drain()
      expect(sorted(values(batches))).toEqual(expected(0, 21))
    }))

  it.scoped("advance moves only virtual time: one batch per interval, with deterministic boundaries", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      const start = yield* TestClock.currentTimeMillis
      yield* test.put(records(0, 10))
      const first = yield* test.advance(3)
      expect(first.map((b) => b.records.length)).toEqual([10, 0, 0])
      expect(first.map((b) => b.closedAt.getTime() - start)).toEqual([1000, 2000, 3000])
      // Run again from scratch: the same boundaries and contents.
      const again = yield* Effect.scoped(Effect.gen(function* () {
        const other = yield* PipelineTest.make(pipeline)
        yield* other.put(records(0, 10))
        return yield* other.advance(3)
      }))
      expect(again.map((b) => [b.records.length, b.closedAt.getTime() - start - 3000])).toEqual([[10, 1000], [0, 2000], [0, 3000]])
    }))

  it.scoped("a crash right after the sink replays that batch on restart (at-least-once), nothing is lost", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      yield* test.put(records(0, 20))
      yield* test.crash({ afterSink: true })
      const beforeCrash = yield* test.advance(2)
      expect(values(beforeCrash)).toHaveLength(20)
      expect(yield* test.running).toBe(false)
      expect((yield* test.checkpoints).size).toBe(0)
      // Not running: draining cannot finish, and says why.
      const stuck = yield* Effect.flip(test.drain())
      expect(stuck).toBeInstanceOf(PipelineNotDrained)
      expect(stuck).toMatchObject({ running: false })
      yield* test.restart
      yield* test.put(records(20, 5))
      const afterRestart = yield* test.drain()
      expect(sorted(values(afterRestart))).toEqual(expected(0, 25))
      expect(yield* test.runs).toBe(2)
    }))

  it.scoped("crash now loses the unfinished batch's progress only: restart reads from the last checkpoint", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      yield* test.put(records(0, 10))
      yield* test.drain()
      yield* test.put(records(10, 10))
      yield* test.crash()
      yield* test.advance(3)
      expect(sorted(values(yield* test.batches))).toEqual(expected(0, 10))
      yield* test.restart
      yield* test.drain()
      // Nothing was checkpointed twice: the second run starts after the first's checkpoints.
      expect(sorted(values(yield* test.batches))).toEqual(expected(0, 20))
    }))

  it.scoped("a failing sink fails advance with the sink's error, and the failed batch is not checkpointed", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(
        pipeline,
        (batch) => batch.records.length > 0 ? Effect.fail(new SinkRefused({ batchId: batch.batchId })) : Effect.void
      )
      yield* test.put(records(0, 3))
      const error = yield* Effect.flip(test.advance(2))
      expect(error).toEqual(new SinkRefused({ batchId: 0 }))
      expect((yield* test.checkpoints).size).toBe(0)
    }))

  it.scoped("drain gives up after maxIntervals when faults keep the pipeline from reading", () =>
    Effect.gen(function* () {
      const retriesForever = Pipeline.fromKinesis({
        streamName: "events",
        codec: Codec.utf8,
        batchInterval: "1 second",
        reader: { retry: backoff({ base: "100 millis", cap: "1 second", maxRetries: 1_000_000 }) }
      })
      const test = yield* PipelineTest.make(retriesForever, undefined, {
        faults: [Faults.throttle("GetRecords", { times: 1_000_000 })]
      })
      yield* test.put(records(0, 5))
      const error = yield* Effect.flip(test.drain({ maxIntervals: 5 }))
      expect(error).toEqual(new PipelineNotDrained({ intervals: 5, pending: 2, running: true }))
      const throttled = (yield* test.calls).filter((c) => c.outcome === "injected")
      expect(throttled.length).toBeGreaterThan(5)
    }))

  it.effect("run: the one-shot form puts, drains, stops gracefully and answers the batches", () =>
    Effect.gen(function* () {
      const batches = yield* PipelineTest.run(pipeline, { records: records(0, 30), shardCount: 3 })
      expect(sorted(values(batches))).toEqual(expected(0, 30))
      expect(new Set(batches.flatMap((b) => b.records.map((r) => r.shardId))).size).toBe(3)
    }))

  it.effect("run with intervals moves exactly that many batch intervals, then stops gracefully", () =>
    Effect.gen(function* () {
      const batches = yield* PipelineTest.run(pipeline, { records: records(0, 4), intervals: 3 })
      // Three interval batches, then the graceful stop's final (empty) batch.
      expect(batches.slice(0, 3).map((b) => [b.records.length, b.closedBy])).toEqual([[4, "interval"], [0, "interval"], [0, "interval"]])
      expect(sorted(values(batches))).toEqual(expected(0, 4))
    }))

  it.scoped("interval counts that are not whole numbers >= 0 are refused, naming the option", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      for (const [run, option] of [
        [test.advance(-1), "intervals"],
        [test.advance(1.5), "intervals"],
        [test.drain({ maxIntervals: Number.NaN }), "maxIntervals"]
      ] as const) {
        const error = yield* Effect.flip(run)
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe(option)
      }
    }))

  it.scoped("stopping a crashed run is a defect that says to restart first", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      yield* test.crash()
      const exit = yield* Effect.exit(test.stop)
      expect(exit._tag === "Failure" && Cause.isDie(exit.cause) && Cause.pretty(exit.cause)).toContain("restart it before stopping")
      yield* test.restart
      expect((yield* test.stop).records).toBe(0)
    }))

  it.scoped("stop ends the run gracefully with its summary; later advances see no batches", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(pipeline)
      yield* test.put(records(0, 7))
      yield* test.advance(2)
      const summary = yield* test.stop
      expect(summary.records).toBe(7)
      expect(yield* test.running).toBe(false)
      expect(yield* test.advance(3)).toEqual([])
    }))

  describe("crashes planned as data", () => {
    const counts = (seen: ReadonlyArray<string>) => {
      const byValue = new Map<string, number>()
      for (const v of seen) byValue.set(v, (byValue.get(v) ?? 0) + 1)
      return byValue
    }

    it.scoped("a crash before the checkpoint restarts the run, which delivers that batch again", () =>
      Effect.gen(function* () {
        const plan: ScenarioPlan = { seed: 1, faults: [], crashes: [{ _tag: "Crash", afterBatch: 1, checkpointed: false }] }
        const test = yield* PipelineTest.make(pipeline, undefined, { faults: plan })
        yield* test.put(records(0, 8))
        yield* test.drain()
        const seen = values(yield* test.batches)
        expect(yield* test.runs).toBe(2)
        expect(yield* test.running).toBe(true)
        expect(seen).toHaveLength(16)
        expect([...counts(seen).values()].every((n) => n === 2)).toBe(true)
      }))

    it.scoped("a crash after the checkpoint restarts the run with nothing delivered twice", () =>
      Effect.gen(function* () {
        const plan: ScenarioPlan = { seed: 1, faults: [], crashes: [{ _tag: "Crash", afterBatch: 1 }] }
        const test = yield* PipelineTest.make(pipeline, undefined, { faults: plan })
        yield* test.put(records(0, 8))
        yield* test.drain()
        yield* test.put(records(8, 4))
        yield* test.drain()
        expect(yield* test.runs).toBe(2)
        expect(sorted(values(yield* test.batches))).toEqual(expected(0, 12))
      }))

    it.scoped("a bad plan is refused before anything runs, naming the field", () =>
      Effect.gen(function* () {
        const plan = { seed: 1, faults: [], crashes: [{ _tag: "Crash", afterBatch: -1 }] } as ScenarioPlan
        const error = yield* Effect.flip(PipelineTest.make(pipeline, undefined, { faults: plan }))
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe("crashes[0].afterBatch")
      }))

    it("any plan of throttles, latency, timeouts, expired iterators and crashes: every record arrives, twice only after a crash before its checkpoint", async () => {
      const patient = Pipeline.fromKinesis({
        streamName: "events",
        codec: Codec.utf8,
        batchInterval: "1 second",
        maxBatchRecords: 7,
        reader: { retry: backoff({ base: "100 millis", cap: "2 seconds", maxRetries: Infinity, jitter: false }) }
      })
      await fc.assert(
        fc.asyncProperty(
          arbitraryScenarioPlan({ maxAfterBatch: 4 }),
          fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 4 }),
          async (plan, groups) => {
            const run = Effect.gen(function* () {
              const test = yield* PipelineTest.make(patient, undefined, { faults: plan, shardCount: 3 })
              let next = 0
              for (const size of groups) {
                yield* test.put(records(next, size))
                next += size
                yield* test.advance(1)
              }
              yield* test.drain({ maxIntervals: 500 })
              return { seen: values(yield* test.batches), total: next }
            })
            const { seen, total } = await Effect.runPromise(run.pipe(Effect.scoped, Effect.provide(TestContext.TestContext)))
            const byValue = counts(seen)
            expect(sorted([...byValue.keys()])).toEqual(expected(0, total))
            if (plan.crashes.every((c) => c.checkpointed !== false)) expect(seen).toHaveLength(total)
          }
        ),
        { numRuns: 40 }
      )
    })
  })
})
