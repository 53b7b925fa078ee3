import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fc from "fast-check"
import { PageViewSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import {
  CheckpointStore,
  Codec,
  type LineageState,
  makeMemoryStore,
  Pipeline,
  readyShards,
  type ShardInfo,
  startPosition
} from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { collect, sourceCount } from "./support/collect.js"
import { writePageViews } from "./support/produce.js"

/** Runs a pipeline until `expected` records arrived; answers them in the order the sink saw them. */
const consume = <R = never>(
  streamName: string,
  expected: number,
  onRecords: (seen: number) => Effect.Effect<void, never, R> = () => Effect.void
) =>
  collect(
    Pipeline.fromKinesis({
      streamName,
      codec: Codec.protobuf(PageViewSchema),
      batchInterval: "100 millis",
      reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" }
    }).pipe(Pipeline.map((view) => view.url)),
    (batches) => {
      const seen = sourceCount(batches)
      return Effect.as(onRecords(seen), seen >= expected)
    }
  )

const parentShard = "shardId-000000000000"

describe("resharding: children after parents", () => {
  layer(MemoryKinesis.layer({ streams: [{ name: "split-before", shardCount: 1 }, { name: "split-during", shardCount: 1 }] }), {
    excludeTestServices: true
  })((it) => {
    it.effect("reads a closed parent to its end before its children, and checkpoints it as ended", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const store = yield* makeMemoryStore()
        const before = yield* writePageViews("split-before", 120)
        const children = yield* memory.splitShard("split-before", parentShard)
        const after = yield* writePageViews("split-before", 120, 120)
        expect(new Set(after.map((w) => w.shardId))).toEqual(new Set(children))
        const run = yield* consume("split-before", 240).pipe(Effect.provide(Layer.succeed(CheckpointStore, store)))
        expect(run.records).toHaveLength(240)
        const lastParentAt = run.records.findLastIndex((r) => r.shardId === parentShard)
        const firstChildAt = run.records.findIndex((r) => r.shardId !== parentShard)
        expect(lastParentAt).toBe(before.length - 1)
        expect(firstChildAt).toBe(before.length)
        for (const child of children) {
          expect(run.records.filter((r) => r.shardId === child).map((r) => r.value)).toEqual(
            after.filter((w) => w.shardId === child).map((w) => w.url)
          )
        }
        const checkpoints = yield* store.load({ applicationName: "shardline", streamName: "split-before" })
        expect(checkpoints.get(parentShard)).toEqual({ _tag: "ShardEnd" })

        // A restart reads only what is new, and not the ended parent.
        const more = yield* writePageViews("split-before", 30, 240)
        const rerun = yield* consume("split-before", 30).pipe(Effect.provide(Layer.succeed(CheckpointStore, store)))
        expect(rerun.records.map((r) => r.value)).toEqual(expect.arrayContaining(more.map((w) => w.url)))
        expect(rerun.records).toHaveLength(30)
      })
    )

    it.effect("finds children created while it runs, when their parent ends", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* writePageViews("split-during", 50)
        let split = false
        const run = yield* consume("split-during", 100, (seen) =>
          seen >= 50 && !split
            ? Effect.gen(function* () {
                split = true
                yield* memory.splitShard("split-during", parentShard)
                yield* writePageViews("split-during", 50, 50)
              }).pipe(Effect.orDie)
            : Effect.void
        ).pipe(Effect.provide(CheckpointStore.layerMemory))
        expect(run.records).toHaveLength(100)
        expect(new Set(run.records.map((r) => r.value)).size).toBe(100)
        expect(run.records.slice(0, 50).every((r) => r.shardId === parentShard)).toBe(true)
        expect(run.summary.shardsEnded).toBe(1)
      })
    )
  })
})

/** A random lineage: shards 0..n-1, each later shard with up to two parents among the earlier ones. */
const arbitraryLineage = fc.integer({ min: 1, max: 12 }).chain((n) =>
  fc
    .tuple(
      ...Array.from({ length: n }, (_, i) =>
        i === 0 ? fc.constant<[number?, number?]>([]) : fc.tuple(fc.option(fc.nat(i - 1), { nil: undefined }), fc.option(fc.nat(i - 1), { nil: undefined }))
      )
    )
    .map((parents) =>
      parents.map(([p, q], i): ShardInfo => ({
        shardId: `s${i}`,
        parentShardId: p === undefined ? undefined : `s${p}`,
        adjacentParentShardId: q === undefined || q === p ? undefined : `s${q}`,
        startingHashKey: "0",
        endingHashKey: "0",
        closed: true
      }))
    )
)

describe("readyShards and startPosition", () => {
  it("never starts a shard before all its known parents ended, and eventually starts every shard", () =>
    fc.assert(
      fc.property(arbitraryLineage, fc.array(fc.nat(), { maxLength: 50 }), (shards, choices) => {
        let state: LineageState = { shards: new Map(shards.map((s) => [s.shardId, s])), ended: new Set(), skipped: new Set(), started: new Set() }
        const order: Array<string> = []
        let running: Array<string> = []
        let step = 0
        for (;;) {
          const ready = readyShards(state)
          for (const s of ready) {
            for (const p of [s.parentShardId, s.adjacentParentShardId]) if (p !== undefined) expect(state.ended.has(p)).toBe(true)
            expect(startPosition(state, s, undefined, "LATEST").type).toBe(s.parentShardId === undefined && s.adjacentParentShardId === undefined ? "LATEST" : "TRIM_HORIZON")
          }
          state = { ...state, started: new Set([...state.started, ...ready.map((s) => s.shardId)]) }
          running = [...running, ...ready.map((s) => s.shardId)]
          if (running.length === 0) break
          // End one running shard, chosen at random.
          const [done] = running.splice((choices[step++] ?? 0) % running.length, 1)
          order.push(done!)
          state = { ...state, ended: new Set([...state.ended, done!]) }
        }
        expect(order.sort()).toEqual(shards.map((s) => s.shardId).sort())
      })
    ))

  it("a checkpoint wins over lineage, and a parent no longer listed does not block", () => {
    const child: ShardInfo = { shardId: "c", parentShardId: "gone", adjacentParentShardId: undefined, startingHashKey: "0", endingHashKey: "1", closed: false }
    const state: LineageState = { shards: new Map([["c", child]]), ended: new Set(), skipped: new Set(), started: new Set() }
    expect(readyShards(state)).toEqual([child])
    expect(startPosition(state, child, undefined, "TRIM_HORIZON")).toEqual({ type: "TRIM_HORIZON" })
    expect(startPosition(state, child, { type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: "5" }, "LATEST")).toEqual({
      type: "AFTER_SEQUENCE_NUMBER",
      sequenceNumber: "5"
    })
  })
})
