import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref } from "effect"
import { type PageView, PageViewSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { backoff, CheckpointStore, type Kinesis, type KinesisSourceOptions, Codec, LocalKinesis, Pipeline } from "../src/index.js"
import { Faults, KinesisCalls, MemoryKinesis } from "../src/testing/index.js"
import { collect, sourceCount } from "./support/collect.js"
import { byShard, writePageViews } from "./support/produce.js"


const scratch = mkdtempSync(join(tmpdir(), "shardline-pipeline-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const fastRetry = backoff({ base: "10 millis", cap: "50 millis", maxRetries: 5 })

/** Reads `streamName` until exactly `expected` records arrived, then stops gracefully; answers what was seen. */
const consume = (streamName: string, expected: number, extra: Partial<Omit<KinesisSourceOptions<PageView>, "codec">> = {}) =>
  collect(
    Pipeline.fromKinesis({
      streamName,
      codec: Codec.protobuf(PageViewSchema),
      batchInterval: "200 millis",
      maxBatchRecords: 250,
      ...extra
    }).pipe(Pipeline.map((view) => view.url)),
    (batches) => sourceCount(batches) >= expected
  )

const streams = [
  { name: "all-records", shardCount: 4 },
  { name: "restart", shardCount: 4 },
  { name: "throttled", shardCount: 2 },
  { name: "exhausted", shardCount: 1 },
  { name: "backpressure", shardCount: 1 }
]

// The same pipeline contract against the emulator over HTTP and against the in-memory Kinesis.
const backends: ReadonlyArray<{ readonly name: string; readonly layer: Layer.Layer<Kinesis, unknown> }> = [
  { name: "the kinesalite emulator", layer: LocalKinesis.layer({ streams }) },
  { name: "the in-memory Kinesis", layer: MemoryKinesis.layer({ streams }) }
]

describe.each(backends)("pipeline against $name", (backend) => {
  // Real time: the emulator, its HTTP calls and the batch intervals all run on the live clock.
  layer(backend.layer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("consumes every record of 4 shards once, in per-shard order, with its contents", () =>
      Effect.gen(function* () {
        const written = yield* writePageViews("all-records", 1200)
        const { records, summary } = yield* consume("all-records", 1200).pipe(Effect.provide(CheckpointStore.layerMemory))
        expect(records).toHaveLength(1200)
        expect(summary.records).toBe(1200)
        const want = byShard(written)
        const got = byShard(records)
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort())
        expect(want.size).toBe(4)
        for (const [shardId, list] of want) {
          expect(got.get(shardId)!.map((r) => [r.sequenceNumber, r.value])).toEqual(list.map((w) => [w.sequenceNumber, w.url]))
        }
      })
    )

    it.effect("resumes from the file checkpoint: nothing re-read past it, nothing skipped", () =>
      Effect.gen(function* () {
        const folder = join(scratch, backend.name.replace(/\W+/g, "-"))
        const path = join(folder, "checkpoints.json")
        const store = CheckpointStore.layerFile({ path })
        const first = yield* writePageViews("restart", 400)
        const run1 = yield* consume("restart", 150).pipe(Effect.provide(store))
        // The graceful stop drains what was read, so run 1 may have seen more than 150; all of it is checkpointed.
        expect(run1.records.length).toBeGreaterThanOrEqual(150)
        expect(run1.summary.records).toBe(run1.records.length)
        const second = yield* writePageViews("restart", 300, 400)
        const rest = first.length + second.length - run1.records.length
        const run2 = yield* consume("restart", rest).pipe(Effect.provide(store))
        const key = (r: { shardId: string; sequenceNumber: string }) => `${r.shardId}/${r.sequenceNumber}`
        const seen1 = new Set(run1.records.map(key))
        expect(run2.records.filter((r) => seen1.has(key(r)))).toEqual([])
        expect(run2.records).toHaveLength(rest)
        const all = [...run1.records, ...run2.records]
        expect(new Set(all.map(key)).size).toBe(700)
        for (const [shardId, list] of byShard([...first, ...second])) {
          expect(byShard(all).get(shardId)!.map((r) => r.value)).toEqual(list.map((w) => w.url))
        }
        expect(readdirSync(folder)).toEqual(["checkpoints.json"])
      })
    )

    it.effect("retries throttled GetRecords calls and still delivers everything once", () =>
      Effect.gen(function* () {
        const written = yield* writePageViews("throttled", 300)
        const faults = Faults.layer([Faults.throttle("GetRecords", { times: 4, streamName: "throttled" })])
        const run = yield* Effect.gen(function* () {
          const result = yield* consume("throttled", 300, { reader: { retry: fastRetry } })
          const calls = yield* (yield* KinesisCalls).calls
          return { ...result, calls }
        }).pipe(Effect.provide(Layer.merge(faults, CheckpointStore.layerMemory)))
        expect(run.calls.filter((c) => c.operation === "GetRecords" && c.outcome === "injected")).toHaveLength(4)
        expect(run.records.map((r) => r.sequenceNumber).sort()).toEqual(written.map((w) => w.sequenceNumber).sort())
      })
    )

    it.effect("fails with KinesisThrottled, naming stream and shard, once retries run out", () =>
      Effect.gen(function* () {
        yield* writePageViews("exhausted", 10)
        const faults = Faults.layer([Faults.throttle("GetRecords", { times: 1_000, streamName: "exhausted" })])
        const error = yield* consume("exhausted", 10, {
          reader: { retry: backoff({ base: "5 millis", cap: "10 millis", maxRetries: 2 }) }
        }).pipe(Effect.provide(Layer.merge(faults, CheckpointStore.layerMemory)), Effect.flip)
        expect(error).toMatchObject({ _tag: "KinesisThrottled", streamName: "exhausted" })
        expect(error.message).toContain("exhausted")
        expect(error.message).toContain("shardId-000000000000")
      })
    )

    it.effect("a slow sink keeps reads bounded while the stream grows far past them", () =>
      Effect.gen(function* () {
        yield* writePageViews("backpressure", 3000)
        const release = yield* Deferred.make<void>()
        const firstBatch = yield* Deferred.make<void>()
        const sunk = yield* Ref.make(0)
        const faults = Faults.layer([])
        const outcome = yield* Effect.gen(function* () {
          const calls = yield* KinesisCalls
          const fetched = Effect.map(calls.calls, (all) =>
            all.filter((c) => c.operation === "GetRecords").reduce((n, c) => n + (c.records ?? 0), 0)
          )
          const fiber = yield* Pipeline.fromKinesis({
            streamName: "backpressure",
            codec: Codec.protobuf(PageViewSchema),
            batchInterval: "100 millis",
            maxBatchRecords: 50,
            reader: { limit: 50, maxPrefetchRecords: 100, pollDelay: "200 millis" }
          }).pipe(
            Pipeline.foreachBatch((batch) =>
              Effect.gen(function* () {
                yield* Deferred.succeed(firstBatch, undefined)
                yield* Deferred.await(release)
                yield* Ref.update(sunk, (n) => n + batch.records.length)
              })
            ),
            Effect.fork
          )
          yield* Deferred.await(firstBatch)
          // The stream keeps growing while the sink is stuck: 300 more records every 250 ms.
          let written = 3000
          const producer = yield* Effect.fork(
            Effect.forever(
              Effect.zipRight(
                Effect.suspend(() => writePageViews("backpressure", 300, (written += 300) - 300)),
                Effect.sleep("250 millis")
              )
            )
          )
          // The reader runs ahead until what it may hold is full, then stops: two samples 600 ms apart
          // (three poll intervals) agree while the stream keeps growing. Sampled for at most 15 s.
          let previous = -1
          let whileBlocked = yield* fetched
          for (let i = 0; i < 25 && whileBlocked !== previous; i++) {
            yield* Effect.sleep("600 millis")
            previous = whileBlocked
            whileBlocked = yield* fetched
          }
          yield* Fiber.interrupt(producer)
          expect(whileBlocked).toBe(previous)
          expect(written).toBeGreaterThanOrEqual(3600)
          yield* Deferred.succeed(release, undefined)
          yield* Effect.sleep("500 millis")
          const afterRelease = yield* fetched
          yield* Fiber.interrupt(fiber)
          return { whileBlocked, afterRelease, sunk: yield* Ref.get(sunk) }
        }).pipe(Effect.provide(Layer.merge(faults, CheckpointStore.layerMemory)))
        // What may be held, in records: reader prefetch (100) + the merge buffer and the chunk waiting
        // to enter it ((2 + 1) x limit 50) + batcher slots and the chunk waiting for one ((4 + 1) x 50)
        // + the forming, buffered, waiting and sinking batches (4 x 50) = 700, whatever the stream holds.
        expect(outcome.whileBlocked).toBeLessThanOrEqual(700)
        expect(outcome.whileBlocked).toBeGreaterThan(0)
        expect(outcome.afterRelease).toBeGreaterThan(outcome.whileBlocked)
      })
    )
  })
})
