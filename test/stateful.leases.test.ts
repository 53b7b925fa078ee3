import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Kinesis, LeaseStore, Pipeline } from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { splitAtMiddle } from "./support/reshard.js"
import { makeWorkers } from "./support/workers.js"

const encoder = new TextEncoder()
const keys = Array.from({ length: 32 }, (_, i) => `user-${i}`)

/** One record per key, each worth `n`. */
const wave = (streamName: string, n: number) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.putRecords({ StreamName: streamName, Records: keys.map((key) => ({ PartitionKey: key, Data: encoder.encode(String(n)) })) })
  )

const waitUntil = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMillis = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

/** Per partition key, the total of the values read: the state follows the key's shard lease. */
const totals = (pipeline: Pipeline.Pipeline<string, never, LeaseStore>) =>
  pipeline.pipe(
    Pipeline.map((value, record) => [record.partitionKey, Number(value)] as const),
    Pipeline.updateStateByKey((ns: ReadonlyArray<number>, total: number | undefined) => (total ?? 0) + ns.reduce((a, b) => a + b, 0), { emit: "updated" })
  )

/** Each key's latest total as the sinks saw it (outputs come in order per key: one owner at a time). */
const latest = (seen: ReadonlyArray<{ readonly value: string }>) => {
  const last = new Map<string, number>()
  for (const s of seen) {
    const [key, total] = JSON.parse(s.value) as [string, number]
    last.set(key, total)
  }
  return last
}

const exactly = (total: number) => (last: ReadonlyMap<string, number>) => keys.every((k) => last.get(k) === total)

describe("keyed state with leases (live clock)", () => {
  layer(MemoryKinesis.layer({ streams: [{ name: "state", shardCount: 4 }, { name: "split", shardCount: 2 }] }), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.scoped("state follows each shard's lease through joins, a graceful stop and a crash: per-key totals stay exact", () =>
      Effect.gen(function* () {
        const workers = yield* makeWorkers({ streamName: "state", operators: totals })
        yield* workers.start("w1")
        yield* wave("state", 1)
        yield* waitUntil("w1 counted the first wave", Effect.sync(() => exactly(1)(latest(workers.seen))))
        // A second worker joins and takes half the leases, with their state.
        yield* workers.start("w2")
        yield* waitUntil("the leases are shared", Effect.map(workers.leases, (ls) => new Set(ls.map((l) => l.owner)).size === 2 && ls.every((l) => l.owner !== undefined)))
        yield* wave("state", 10)
        yield* waitUntil("the second wave is counted on top", Effect.sync(() => exactly(11)(latest(workers.seen))))
        // w1 hands its leases over gracefully; then w2 crashes and w3 takes everything from the lease table.
        yield* workers.stop("w1")
        yield* wave("state", 100)
        yield* waitUntil("w2 counted the third wave", Effect.sync(() => exactly(111)(latest(workers.seen))))
        yield* workers.crash("w2")
        yield* workers.start("w3")
        yield* wave("state", 1000)
        yield* waitUntil("w3 resumed every key's state", Effect.sync(() => exactly(1111)(latest(workers.seen))))
        // Every total the sinks saw was a running total of waves: nothing was counted twice.
        for (const s of workers.seen) expect([1, 11, 111, 1111]).toContain((JSON.parse(s.value) as [string, number])[1])
        expect(workers.failures).toEqual([])
      }).pipe(Effect.provide(LeaseStore.layerMemory)))

    it.scoped("a split under leases hands each key's state to the child that now gets its records", () =>
      Effect.gen(function* () {
        const workers = yield* makeWorkers({ streamName: "split", operators: totals, leases: { shardSyncInterval: "500 millis" } })
        yield* workers.start("w1")
        yield* workers.start("w2")
        yield* wave("split", 1)
        yield* waitUntil("the first wave is counted", Effect.sync(() => exactly(1)(latest(workers.seen))))
        yield* splitAtMiddle("split", "shardId-000000000000")
        yield* splitAtMiddle("split", "shardId-000000000001")
        yield* wave("split", 10)
        yield* waitUntil("the children carry on from their parents' state", Effect.sync(() => exactly(11)(latest(workers.seen))))
        expect(workers.failures).toEqual([])
      }).pipe(Effect.provide(LeaseStore.layerMemory)))
  })
})
