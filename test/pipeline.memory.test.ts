import { describe, expect, layer } from "@effect/vitest"
import { Data, Effect, Ref } from "effect"
import {
  type Batch,
  Checkpoint,
  CheckpointStore,
  type CheckpointStoreApi,
  Codec,
  Kinesis,
  type KinesisSourceOptions,
  makeMemoryStore,
  Pipeline
} from "../src/index.js"
import { Faults, KinesisCalls, MemoryKinesis } from "../src/testing/index.js"
import { collect, sourceCount } from "./support/collect.js"
import { byShard } from "./support/produce.js"

/** A record as written: where it landed and what it held. */
interface Put {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly value: string
}

const encoder = new TextEncoder()

/** Creates `streamName` with `shardCount` shards in the shared MemoryKinesis. */
const createStream = (streamName: string, shardCount: number) =>
  Effect.flatMap(MemoryKinesis, (memory) => memory.createStream(streamName, shardCount))

/** Writes `values` as UTF-8 records, one PutRecords call, partition key from `keyOf`; answers where each landed. */
const put = (streamName: string, values: ReadonlyArray<string>, keyOf: (value: string, i: number) => string = (v) => `key-${v}`) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const out = yield* kinesis.putRecords({
      StreamName: streamName,
      Records: values.map((value, i) => ({ PartitionKey: keyOf(value, i), Data: encoder.encode(value) }))
    })
    return values.map((value, i): Put => ({ shardId: out.Records![i]!.ShardId!, sequenceNumber: out.Records![i]!.SequenceNumber!, value }))
  })

const source = (streamName: string, extra: Partial<Omit<KinesisSourceOptions<string>, "codec" | "streamName">> = {}) =>
  Pipeline.fromKinesis({ streamName, codec: Codec.utf8, batchInterval: "50 millis", ...extra })

const scopeOf = (streamName: string) => ({ applicationName: "shardline", streamName })

const recordsOf = <A>(batches: ReadonlyArray<Batch<A>>) => batches.flatMap((b) => b.records)
const lastPerShard = (puts: ReadonlyArray<{ readonly shardId: string; readonly sequenceNumber: string }>) => new Map(puts.map((p) => [p.shardId, p.sequenceNumber] as const))

class SinkFailed extends Data.TaggedError("SinkFailed")<{ readonly batchId: number }> {}
class EnrichFailed extends Data.TaggedError("EnrichFailed")<{ readonly value: string }> {}

const withStore = (store: CheckpointStoreApi) => Effect.provideService(CheckpointStore, store)

describe("pipeline over MemoryKinesis (live clock)", () => {
  layer(MemoryKinesis.layer(), { excludeTestServices: true, timeout: "20 seconds" })((it) => {
    it.effect("operators apply per batch, and checkpoints pass records the operators dropped", () =>
      Effect.gen(function* () {
        yield* createStream("operators", 2)
        const kept = yield* put("operators", Array.from({ length: 30 }, (_, i) => String(i)))
        // Written last on every shard, and all filtered out below.
        const dropped = yield* put("operators", Array.from({ length: 12 }, (_, i) => `x${i}`))
        const written = [...kept, ...dropped]
        for (const [shardId, list] of byShard(written)) {
          expect(list[list.length - 1]!.value, `last record of ${shardId}`).toMatch(/^x/)
        }
        expect(byShard(written).size).toBe(2)

        const store = yield* makeMemoryStore()
        const effectCalls = yield* Ref.make<Array<number>>([])
        const pipeline = source("operators", { maxBatchRecords: 8 }).pipe(
          Pipeline.filter((value) => !value.startsWith("x")),
          Pipeline.map((value) => Number(value)),
          Pipeline.flatMap((n) => (n % 2 === 0 ? [n, n + 0.5] : [])),
          Pipeline.mapEffect((n, record) =>
            Effect.as(Ref.update(effectCalls, (all) => [...all, n]), `${record.shardId}:${n}`)
          )
        )
        const { batches, summary } = yield* collect(pipeline, (bs) => sourceCount(bs) >= written.length).pipe(withStore(store))

        expect(summary.records).toBe(written.length)
        expect(batches.filter((b) => b.sourceRecords > 0).length).toBeGreaterThanOrEqual(written.length / 8)
        for (const batch of batches) expect(batch.sourceRecords).toBeLessThanOrEqual(8)
        // Per shard, in shard order: even values, each followed by its flatMapped twin; metadata kept.
        const got = recordsOf(batches)
        for (const [shardId, list] of byShard(kept)) {
          const want = list.filter((p) => Number(p.value) % 2 === 0).flatMap((p) => [
            { shardId, sequenceNumber: p.sequenceNumber, value: `${shardId}:${p.value}` },
            { shardId, sequenceNumber: p.sequenceNumber, value: `${shardId}:${Number(p.value) + 0.5}` }
          ])
          expect(
            got.filter((r) => r.shardId === shardId).map((r) => ({ shardId: r.shardId, sequenceNumber: r.sequenceNumber, value: r.value }))
          ).toEqual(want)
        }
        // mapEffect ran once per record that reached it, in the order the sink got them.
        expect(yield* Ref.get(effectCalls)).toEqual(got.map((r) => Number(r.value.split(":")[1])))

        // The checkpoint of every shard is its last record read, though the operators dropped it.
        const saved = yield* store.load(scopeOf("operators"))
        expect(saved).toEqual(new Map([...lastPerShard(written)].map(([shardId, seq]) => [shardId, Checkpoint.sequence(seq)])))

        // A restart on the same store reads only what was written since.
        const more = yield* put("operators", ["100", "101", "102", "x-new"])
        const again = yield* collect(pipeline, (bs) => sourceCount(bs) >= more.length).pipe(withStore(store))
        expect(again.summary.records).toBe(more.length)
        expect(recordsOf(again.batches).map((r) => r.value.split(":")[1]).sort()).toEqual(["100", "100.5", "102", "102.5"])
      }))

    it.effect("a sink failure fails the run with the sink's error; the failed batch is not checkpointed and comes again", () =>
      Effect.gen(function* () {
        yield* createStream("sink-fails", 1)
        const written = yield* put("sink-fails", Array.from({ length: 10 }, (_, i) => String(i)))
        const store = yield* makeMemoryStore()
        const pipeline = source("sink-fails", { maxBatchRecords: 4 })
        const delivered: Array<ReadonlyArray<string>> = []
        const error = yield* pipeline.pipe(
          Pipeline.foreachBatch((batch) => {
            delivered.push(batch.records.map((r) => r.value))
            return batch.records.some((r) => r.value === "4") ? new SinkFailed({ batchId: batch.batchId }) : Effect.void
          }),
          withStore(store),
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the run did not fail") }),
          Effect.flip
        )
        expect(error).toBeInstanceOf(SinkFailed)
        expect(delivered.filter((values) => values.length > 0)).toEqual([["0", "1", "2", "3"], ["4", "5", "6", "7"]])
        // Only the batch before the failed one is checkpointed.
        expect(yield* store.load(scopeOf("sink-fails"))).toEqual(
          new Map([[written[3]!.shardId, Checkpoint.sequence(written[3]!.sequenceNumber)]])
        )

        const again = yield* collect(pipeline, (bs) => recordsOf(bs).some((r) => r.value === "9")).pipe(withStore(store))
        expect(recordsOf(again.batches).map((r) => r.value)).toEqual(["4", "5", "6", "7", "8", "9"])
        expect(again.summary.records).toBe(6)
      }))

    it.effect("a mapEffect failure fails the run with its error; that batch is not checkpointed", () =>
      Effect.gen(function* () {
        yield* createStream("operator-fails", 1)
        yield* put("operator-fails", ["a", "b", "boom", "c"])
        const store = yield* makeMemoryStore()
        const sunk: Array<string> = []
        const error = yield* source("operator-fails", { maxBatchRecords: 2 }).pipe(
          Pipeline.mapEffect((value) => (value === "boom" ? new EnrichFailed({ value }) : Effect.succeed(value.toUpperCase()))),
          Pipeline.foreachBatch((batch) => Effect.sync(() => sunk.push(...batch.records.map((r) => r.value)))),
          withStore(store),
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the run did not fail") }),
          Effect.flip
        )
        expect(error).toEqual(new EnrichFailed({ value: "boom" }))
        expect(sunk).toEqual(["A", "B"])
        const again = yield* collect(source("operator-fails"), (bs) => sourceCount(bs) >= 2).pipe(withStore(store))
        expect(recordsOf(again.batches).map((r) => r.value)).toEqual(["boom", "c"])
      }))

    it.effect("without skipEmptyBatches every interval reaches the sink, empty or not", () =>
      Effect.gen(function* () {
        yield* createStream("idle", 1)
        const seen: Array<Batch<string>> = []
        const summary = yield* source("idle", { batchInterval: "30 millis" }).pipe(
          Pipeline.foreachBatch((batch) => Effect.sync(() => seen.push(batch)), { stopWhen: Effect.sleep("200 millis") }),
          Effect.provide(CheckpointStore.layerMemory)
        )
        expect(seen.length).toBeGreaterThanOrEqual(3)
        expect(seen.map((b) => b.batchId)).toEqual(seen.map((_, i) => i))
        expect(seen.every((b) => b.records.length === 0 && b.sourceRecords === 0 && b.checkpoints.size === 0)).toBe(true)
        expect(seen.slice(0, -1).every((b) => b.closedBy === "interval")).toBe(true)
        expect(seen[seen.length - 1]!.closedBy).toBe("end")
        expect(summary).toEqual({ batches: seen.length, records: 0, shardsEnded: 0, deadLettered: 0, filtered: 0 })
      }))

    it.effect("skipEmptyBatches leaves out empty batches; batch ids stay consecutive", () =>
      Effect.gen(function* () {
        yield* createStream("sparse", 1)
        yield* put("sparse", ["early"])
        const late = Effect.sleep("120 millis").pipe(Effect.zipRight(put("sparse", ["late-1", "late-2"])))
        yield* Effect.forkScoped(late)
        const { batches, summary } = yield* collect(
          source("sparse", { batchInterval: "30 millis", reader: { noRecordsPollDelay: "200 millis", pollDelay: "200 millis" } }),
          (bs) => sourceCount(bs) >= 3,
          { skipEmptyBatches: true }
        ).pipe(Effect.provide(CheckpointStore.layerMemory))
        // At least one interval passed with nothing read between the two writes.
        expect(batches.length).toBeGreaterThanOrEqual(2)
        expect(batches.every((b) => b.records.length > 0)).toBe(true)
        expect(batches.map((b) => b.batchId)).toEqual(batches.map((_, i) => i))
        expect(recordsOf(batches).map((r) => r.value)).toEqual(["early", "late-1", "late-2"])
        expect(summary).toEqual({ batches: batches.length, records: 3, shardsEnded: 0, deadLettered: 0, filtered: 0 })
      }).pipe(Effect.scoped))

    it.effect("batch metadata: ids from 0, closedBy size / interval / end, positions and lag per batch", () =>
      Effect.gen(function* () {
        yield* createStream("metadata", 1)
        const written = yield* put("metadata", Array.from({ length: 20 }, (_, i) => String(i)))
        const shardId = written[0]!.shardId
        const { batches, summary } = yield* collect(
          source("metadata", { batchInterval: "150 millis", maxBatchRecords: 7 }),
          (bs) => sourceCount(bs) >= 20
        ).pipe(Effect.provide(CheckpointStore.layerMemory))

        expect(batches.map((b) => b.batchId)).toEqual(batches.map((_, i) => i))
        const full = batches.filter((b) => b.records.length > 0)
        expect(full.map((b) => b.records.length)).toEqual([7, 7, 6])
        expect(full.map((b) => b.closedBy)).toEqual(["size", "size", "interval"])
        // The stop closes the batch that was open then; it is the last one.
        expect(batches[batches.length - 1]!.closedBy).toBe("end")
        expect(batches[batches.length - 1]!.records).toEqual([])
        let at = 0
        for (const batch of full) {
          const slice = written.slice(at, at + batch.records.length)
          at += batch.records.length
          expect(batch.records.map((r) => [r.shardId, r.sequenceNumber, r.value])).toEqual(
            slice.map((p) => [p.shardId, p.sequenceNumber, p.value])
          )
          expect(batch.records.every((r) => r.partitionKey === `key-${r.value}` && r.approximateArrivalTimestamp instanceof Date)).toBe(true)
          expect(batch.sourceRecords).toBe(batch.records.length)
          expect(batch.checkpoints).toEqual(new Map([[shardId, Checkpoint.sequence(slice[slice.length - 1]!.sequenceNumber)]]))
          expect(batch.millisBehindLatest.get(shardId)).toBeTypeOf("number")
          expect(batch.millisBehindLatest.get(shardId)).toBeGreaterThanOrEqual(0)
        }
        for (const batch of batches) expect(batch.closedAt.getTime()).toBeGreaterThanOrEqual(batch.openedAt.getTime())
        const byInterval = full[2]!
        expect(byInterval.closedAt.getTime() - byInterval.openedAt.getTime()).toBeGreaterThanOrEqual(140)
        expect(summary).toEqual({ batches: batches.length, records: 20, shardsEnded: 0, deadLettered: 0, filtered: 0 })
      }))

    it.effect("many shards: every record once, per-shard order kept, each batch's positions are its last records", () =>
      Effect.gen(function* () {
        yield* createStream("shards", 4)
        const written = yield* put("shards", Array.from({ length: 160 }, (_, i) => String(i)))
        expect(byShard(written).size).toBe(4)
        const { batches, summary } = yield* collect(
          source("shards", { maxBatchRecords: 25, reader: { limit: 25, pollDelay: "200 millis" } }),
          (bs) => sourceCount(bs) >= written.length
        ).pipe(Effect.provide(CheckpointStore.layerMemory))

        expect(summary.records).toBe(written.length)
        const got = recordsOf(batches)
        for (const [shardId, list] of byShard(written)) {
          expect(got.filter((r) => r.shardId === shardId).map((r) => r.sequenceNumber)).toEqual(list.map((p) => p.sequenceNumber))
        }
        for (const batch of batches) {
          expect(batch.records.length).toBeLessThanOrEqual(25)
          const last = lastPerShard(batch.records)
          expect(batch.checkpoints).toEqual(new Map([...last].map(([shardId, seq]) => [shardId, Checkpoint.sequence(seq)])))
          for (const shardId of last.keys()) expect(batch.millisBehindLatest.get(shardId)).toBeTypeOf("number")
        }
      }))

    it.effect("a stopWhen that fires drains what was read; the summary counts what the sink saw; a restart reads the rest", () =>
      Effect.gen(function* () {
        yield* createStream("drain", 2)
        const written = yield* put("drain", Array.from({ length: 120 }, (_, i) => String(i)))
        const store = yield* makeMemoryStore()
        const pipeline = source("drain", { maxBatchRecords: 15, reader: { limit: 20, pollDelay: "200 millis" } })
        // Stop as soon as the first records arrive: most of the stream is still unread then.
        const first = yield* collect(pipeline, (bs) => sourceCount(bs) > 0).pipe(withStore(store))
        const seen1 = recordsOf(first.batches)
        expect(first.summary.records).toBe(seen1.length)
        expect(first.summary.batches).toBe(first.batches.length)
        expect(seen1.length).toBeGreaterThan(0)
        expect(seen1.length).toBeLessThan(written.length)
        // What was drained is checkpointed, and nothing beyond it.
        expect(yield* store.load(scopeOf("drain"))).toEqual(
          new Map([...lastPerShard(seen1)].map(([s, seq]) => [s, Checkpoint.sequence(seq)]))
        )

        const rest = written.length - seen1.length
        const second = yield* collect(pipeline, (bs) => sourceCount(bs) >= rest).pipe(withStore(store))
        const seen2 = recordsOf(second.batches)
        expect(second.summary.records).toBe(rest)
        const all = [...seen1, ...seen2]
        expect(all.map((r) => r.value).sort()).toEqual(written.map((p) => p.value).sort())
        for (const [shardId, list] of byShard(written)) {
          expect(all.filter((r) => r.shardId === shardId).map((r) => r.sequenceNumber)).toEqual(list.map((p) => p.sequenceNumber))
        }
      }))

    it.effect("a closed shard is read to its end, checkpointed as ShardEnd, and not read again after a restart", () =>
      Effect.gen(function* () {
        yield* createStream("resharded", 1)
        const memory = yield* MemoryKinesis
        const before = yield* put("resharded", Array.from({ length: 10 }, (_, i) => `p${i}`))
        const parent = before[0]!.shardId
        const children = yield* memory.splitShard("resharded", parent)
        const after = yield* put("resharded", Array.from({ length: 12 }, (_, i) => `c${i}`))
        expect(new Set(after.map((p) => p.shardId))).toEqual(new Set(children))
        const written = [...before, ...after]
        const store = yield* makeMemoryStore()
        const pipeline = source("resharded")

        const first = yield* collect(pipeline, (bs) => sourceCount(bs) >= written.length).pipe(withStore(store))
        const got = recordsOf(first.batches)
        // Every record once; order across parent and children is not asserted (not implemented yet).
        expect(got.map((r) => r.value).sort()).toEqual(written.map((p) => p.value).sort())
        for (const [shardId, list] of byShard(written)) {
          expect(got.filter((r) => r.shardId === shardId).map((r) => r.value)).toEqual(list.map((p) => p.value))
        }
        expect(first.summary).toMatchObject({ records: written.length, shardsEnded: 1 })
        const ending = first.batches.find((b) => b.checkpoints.get(parent)?._tag === "ShardEnd")
        expect(ending?.records.filter((r) => r.shardId === parent).map((r) => r.value).at(-1)).toBe("p9")
        const last = lastPerShard(after)
        expect(yield* store.load(scopeOf("resharded"))).toEqual(
          new Map([
            [parent, Checkpoint.shardEnd],
            ...children.map((c) => [c, Checkpoint.sequence(last.get(c)!)] as const)
          ])
        )

        // The restart starts no reader on the closed shard and reads only the new records.
        const more = yield* put("resharded", ["n0", "n1", "n2", "n3"])
        const second = yield* Effect.gen(function* () {
          const run = yield* collect(pipeline, (bs) => sourceCount(bs) >= more.length)
          return { ...run, calls: yield* (yield* KinesisCalls).calls }
        }).pipe(withStore(store), Effect.provide(Faults.layer([])))
        expect(recordsOf(second.batches).map((r) => r.value).sort()).toEqual(["n0", "n1", "n2", "n3"])
        expect(second.summary).toEqual({ batches: second.batches.length, records: 4, shardsEnded: 0, deadLettered: 0, filtered: 0 })
        expect(second.calls.filter((c) => c.shardId === parent)).toEqual([])
        expect(second.calls.some((c) => c.operation === "GetRecords" && c.shardId === children[0])).toBe(true)
      }))

    it.effect("a shard closed after its records were checkpointed ends with no records; with skipEmptyBatches its ShardEnd is still saved", () =>
      Effect.gen(function* () {
        yield* createStream("closed-later", 1)
        const memory = yield* MemoryKinesis
        const before = yield* put("closed-later", ["p0", "p1", "p2"])
        const parent = before[0]!.shardId
        const store = yield* makeMemoryStore()
        const pipeline = source("closed-later")
        yield* collect(pipeline, (bs) => sourceCount(bs) >= before.length).pipe(withStore(store))
        expect(yield* store.load(scopeOf("closed-later"))).toEqual(new Map([[parent, Checkpoint.sequence(before[2]!.sequenceNumber)]]))

        const children = yield* memory.splitShard("closed-later", parent)
        const after = yield* put("closed-later", Array.from({ length: 6 }, (_, i) => `c${i}`))
        const seen: Array<Batch<string>> = []
        // Every first read happens at once; 300 ms leaves time for all of them and their batches.
        const summary = yield* pipeline.pipe(
          Pipeline.foreachBatch((batch) => Effect.sync(() => seen.push(batch)), {
            stopWhen: Effect.sleep("300 millis"),
            skipEmptyBatches: true
          }),
          withStore(store)
        )
        expect(recordsOf(seen).map((r) => r.value).sort()).toEqual(after.map((p) => p.value).sort())
        expect(seen.every((b) => b.records.length > 0)).toBe(true)
        expect(summary).toMatchObject({ records: after.length, shardsEnded: 1 })
        const last = lastPerShard(after)
        expect(yield* store.load(scopeOf("closed-later"))).toEqual(
          new Map([[parent, Checkpoint.shardEnd], ...children.map((c) => [c, Checkpoint.sequence(last.get(c)!)] as const)])
        )
      }))
  })
})
