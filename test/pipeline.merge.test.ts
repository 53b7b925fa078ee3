import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Codec, InvalidOption, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

const encoder = new TextEncoder()
const put = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ partitionKey: `${prefix}${i % 5}`, data: encoder.encode(`${prefix}${i}`) }))
const web = Pipeline.fromKinesis({ streamName: "web", codec: Codec.utf8, batchInterval: "1 second" })
const app = Pipeline.fromKinesis({ streamName: "app", codec: Codec.utf8, batchInterval: "1 second" })
const streams = [{ name: "web", shardCount: 2 }, { name: "app", shardCount: 2 }]

describe("Pipeline.merge", () => {
  it.scoped("reads both streams into one batch stream; each side's operators apply to its own records; shard ids name their stream", () =>
    Effect.gen(function* () {
      const merged = Pipeline.merge(web.pipe(Pipeline.map((v) => `web:${v}`)), app.pipe(Pipeline.filter((v) => !v.endsWith("0"))))
      const test = yield* PipelineTest.make(merged, undefined, { streams })
      yield* test.put(put(20, "w"), "web")
      yield* test.put(put(20, "a"), "app")
      yield* test.advance(3)
      const records = (yield* test.batches).flatMap((b) => b.records)
      expect(records.map((r) => r.value).sort()).toEqual([
        ...Array.from({ length: 20 }, (_, i) => `web:w${i}`),
        ...Array.from({ length: 20 }, (_, i) => `a${i}`).filter((v) => !v.endsWith("0"))
      ].sort())
      for (const r of records) expect(r.shardId.startsWith(r.value.startsWith("web:") ? "web/shardId-" : "app/shardId-")).toBe(true)
      // Each side checkpointed its own shards under its own stream (the test's store holds the first side's).
      const checkpoints = yield* test.checkpoints
      expect([...checkpoints.keys()].sort()).toEqual(["shardId-000000000000", "shardId-000000000001"])
    }))

  it.scoped("keyed state over the merged stream counts both streams' records", () =>
    Effect.gen(function* () {
      const merged = Pipeline.merge(web, app).pipe(
        Pipeline.map((v) => [v.slice(0, 1), 1] as const),
        Pipeline.updateStateByKey((ones: ReadonlyArray<number>, n: number | undefined) => (n ?? 0) + ones.length)
      )
      const test = yield* PipelineTest.make(merged, undefined, { streams })
      yield* test.put(put(12, "w"), "web")
      yield* test.put(put(7, "a"), "app")
      yield* test.advance(3)
      const batches = yield* test.batches
      expect(new Map(batches[batches.length - 1]!.records.map((r) => r.value))).toEqual(new Map([["w", 12], ["a", 7]]))
    }))

  it.scoped("different batch intervals, or the same stream twice, fail with InvalidOption", () =>
    Effect.gen(function* () {
      const slow = Pipeline.fromKinesis({ streamName: "app", codec: Codec.utf8, batchInterval: "2 seconds" })
      for (const [merged, option] of [[Pipeline.merge(web, slow), "batchInterval"], [Pipeline.merge(web, web), "streamName"]] as const) {
        const error = yield* Effect.flip(Effect.flatMap(PipelineTest.make(merged, undefined, { streams }), (t) => t.advance(1)))
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe(option)
      }
    }))
})
