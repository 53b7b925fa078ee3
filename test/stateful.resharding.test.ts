import { describe, expect, it, layer } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { CheckpointStore, Codec, hashKeyOf, Kinesis, Pipeline } from "../src/index.js"
import { MemoryKinesis, PipelineTest } from "../src/testing/index.js"
import { encodeEvent, parseEvent } from "./support/stateful.js"

const source = () =>
  Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" }).pipe(Pipeline.map(parseEvent))

/** Per-key running totals that report which shard holds each key's state. */
const totals = (emit: "all" | "updated" = "updated") =>
  source().pipe(
    Pipeline.map((e) => [e.key, e.n] as const),
    Pipeline.updateStateByKey((ns: ReadonlyArray<number>, total: number | undefined) => (total ?? 0) + ns.reduce((a, b) => a + b, 0), { emit })
  )

const keys = Array.from({ length: 24 }, (_, i) => `user-${i}`)
const wave = (n: number) => keys.map((key) => encodeEvent({ key, n, time: 0 }))

/** The last value each key had, and on which shard it came. */
const lastOf = (batches: ReadonlyArray<{ readonly records: ReadonlyArray<{ readonly value: readonly [string, number]; readonly shardId: string }> }>) => {
  const last = new Map<string, { total: number; shardId: string }>()
  for (const b of batches) for (const r of b.records) last.set(r.value[0], { total: r.value[1], shardId: r.shardId })
  return last
}

describe("keyed state across resharding", () => {
  it.scoped("after a split, each key's state goes on in the child whose hash range holds the MD5 of its partition key", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(totals("all"), undefined, { shardCount: 1 })
      yield* test.put(wave(1))
      yield* test.drain()
      const before = (yield* test.batches).length
      const [left, right] = yield* test.kinesis.splitShard("events", "shardId-000000000000")
      yield* test.put(wave(10))
      yield* test.put(wave(100))
      yield* test.drain({ maxIntervals: 50 })
      const last = lastOf(yield* test.batches)
      const shards = yield* test.kinesis.api.listShards({ StreamName: "events" })
      const rightStart = BigInt(shards.Shards!.find((s) => s.ShardId === right)!.HashKeyRange!.StartingHashKey!)
      const childOf = (key: string) => (hashKeyOf(key) >= rightStart ? right : left)
      for (const key of keys) expect(last.get(key)).toEqual({ total: 111, shardId: childOf(key) })
      // Every key's state is in exactly one child: no child ever reports a key that is not routed to it.
      for (const b of (yield* test.batches).slice(before)) {
        for (const r of b.records) if (r.shardId !== "shardId-000000000000") expect(r.shardId).toBe(childOf(r.value[0]))
      }
    }))

  it.scoped("window contents are split by key hash too: after a split every key's window total stays exact (nothing counted in both children)", () =>
    Effect.gen(function* () {
      const windowed = source().pipe(
        Pipeline.map((e) => [e.key, e.n] as const),
        Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, { length: "1000 seconds", inverse: (a, b) => a - b })
      )
      const test = yield* PipelineTest.make(windowed, undefined, { shardCount: 1 })
      yield* test.put(wave(1))
      yield* test.drain()
      yield* test.kinesis.splitShard("events", "shardId-000000000000")
      yield* test.put(wave(10))
      yield* test.drain({ maxIntervals: 50 })
      yield* test.advance(1)
      const batches = yield* test.batches
      const final = batches[batches.length - 1]!.records.map((r) => r.value)
      expect(new Map(final)).toEqual(new Map(keys.map((k) => [k, 11])))
      expect(final).toHaveLength(keys.length)
    }))

  it.scoped("after a merge, the child carries both parents' keys", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(totals(), undefined, { shardCount: 2 })
      yield* test.put(wave(1))
      yield* test.drain()
      const child = yield* test.kinesis.mergeShards("events", "shardId-000000000000", "shardId-000000000001")
      yield* test.put(wave(10))
      yield* test.drain({ maxIntervals: 50 })
      const last = lastOf(yield* test.batches)
      for (const key of keys) expect(last.get(key)).toEqual({ total: 11, shardId: child })
    }))

  it.scoped("a restart after the split resumes the children from their own state, with nothing counted twice", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(totals(), undefined, { shardCount: 1 })
      yield* test.put(wave(1))
      yield* test.drain()
      yield* test.kinesis.splitShard("events", "shardId-000000000000")
      yield* test.put(wave(10))
      yield* test.drain({ maxIntervals: 50 })
      yield* test.crash()
      yield* test.restart
      yield* test.put(wave(100))
      yield* test.drain({ maxIntervals: 50 })
      const last = lastOf(yield* test.batches)
      for (const key of keys) expect(last.get(key)?.total).toBe(111)
    }))
})

describe("operator state in the CheckpointStore (live clock)", () => {
  layer(Layer.mergeAll(MemoryKinesis.layer({ streams: [{ name: "pruned", shardCount: 1 }] }), CheckpointStore.layerMemory), { excludeTestServices: true, timeout: "30 seconds" })((it) => {
    it.scoped("is saved per shard with the checkpoint; once both children of a split hold their own, the parent's copy is deleted", () =>
      Effect.gen(function* () {
        const store = yield* CheckpointStore
        const kinesis = yield* Kinesis
        const scope = { applicationName: "shardline", streamName: "pruned" }
        const last = new Map<string, number>()
        const stop = yield* Deferred.make<void>()
        yield* Pipeline.fromKinesis({ streamName: "pruned", codec: Codec.utf8, batchInterval: "100 millis", reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" } }).pipe(
          Pipeline.map(parseEvent),
          Pipeline.map((e) => [e.key, e.n] as const),
          Pipeline.updateStateByKey((ns: ReadonlyArray<number>, total: number | undefined) => (total ?? 0) + ns.reduce((a, b) => a + b, 0)),
          Pipeline.foreachBatch((batch) => Effect.sync(() => { for (const r of batch.records) last.set(r.value[0], r.value[1]) }), { stopWhen: Deferred.await(stop) }),
          Effect.forkScoped
        )
        const putWave = (n: number) =>
          kinesis.putRecords({ StreamName: "pruned", Records: wave(n).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) })
        const waitFor = (total: number) =>
          Effect.gen(function* () {
            const deadline = Date.now() + 15_000
            while (!keys.every((k) => last.get(k) === total)) {
              if (Date.now() > deadline) return yield* Effect.dieMessage(`totals never reached ${total}`)
              yield* Effect.sleep("50 millis")
            }
          })
        yield* putWave(1)
        yield* waitFor(1)
        expect((yield* store.loadState(scope, "shardId-000000000000"))?.length).toBeGreaterThan(0)
        yield* kinesis.splitShard({ StreamName: "pruned", ShardToSplit: "shardId-000000000000", NewStartingHashKey: String(2n ** 127n) })
        yield* putWave(10)
        yield* waitFor(11)
        // Give the last commits a moment, then look at the store.
        yield* Effect.sleep("500 millis")
        expect(yield* store.loadState(scope, "shardId-000000000000")).toBeUndefined()
        for (const child of ["shardId-000000000001", "shardId-000000000002"]) {
          expect((yield* store.loadState(scope, child))?.length).toBeGreaterThan(0)
        }
        yield* Deferred.succeed(stop, undefined)
      }))
  })
})
