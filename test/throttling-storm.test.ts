import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Codec, Pipeline, RetryPolicy } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

const encoder = new TextEncoder()

describe("a throttling storm", () => {
  it.scoped("half of all GetRecords throttled: every record is processed exactly once, and no shard sees more than 5 GetRecords calls in any second", () =>
    Effect.gen(function* () {
      const pipeline = Pipeline.fromKinesis({
        streamName: "storm",
        codec: Codec.utf8,
        batchInterval: "1 second",
        maxBatchRecords: 500,
        // Keeps retrying through the storm (the default gives up after 20 throttles in a row).
        reader: { limit: 200, retry: RetryPolicy.patient }
      })
      const test = yield* PipelineTest.make(pipeline, undefined, {
        shardCount: 3,
        faults: { seed: 42, faults: [{ operation: "GetRecords", kind: { _tag: "Throttle" }, rate: 0.5 }] }
      })
      const values = Array.from({ length: 3_000 }, (_, i) => `r${i}`)
      yield* test.put(values.map((v, i) => ({ partitionKey: `k${i % 31}`, data: encoder.encode(v) })))
      yield* test.drain({ maxIntervals: 600 })
      const seen = (yield* test.batches).flatMap((b) => b.records.map((r) => r.value))
      // No crash, so no replay: exactly once.
      expect(seen.length).toBe(values.length)
      expect(new Set(seen)).toEqual(new Set(values))
      const calls = (yield* test.calls).filter((c) => c.operation === "GetRecords")
      const throttled = calls.filter((c) => c.outcome === "injected").length
      expect(throttled / calls.length).toBeGreaterThan(0.35)
      expect(throttled / calls.length).toBeLessThan(0.65)
      // The per-shard read limit, throttled calls included: at most 5 calls in any 1,000 ms window.
      const byShard = new Map<string, Array<number>>()
      for (const c of calls) byShard.set(c.shardId ?? "", [...(byShard.get(c.shardId ?? "") ?? []), c.at])
      for (const times of byShard.values()) {
        times.sort((a, b) => a - b)
        for (let i = 5; i < times.length; i++) expect(times[i]! - times[i - 5]!).toBeGreaterThanOrEqual(1000)
      }
    }), 60_000)
})
