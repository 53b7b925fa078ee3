import { describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import {
  Checkpoint,
  Kinesis,
  type KinesisApi,
  KinesisResourceNotFound,
  type HeldLease,
  type Lease,
  type LeaseLossReason,
  type LeaseScope,
  LeaseStore
} from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { makeWorkers } from "./support/workers.js"

const encoder = new TextEncoder()

const putKeys = (streamName: string, from: number, count: number, keys = 16) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.putRecords({
      StreamName: streamName,
      Records: Array.from({ length: count }, (_, i) => ({ PartitionKey: `key-${(from + i) % keys}`, Data: encoder.encode(String(from + i)) }))
    })
  )

const waitUntil = <E>(what: string, check: Effect.Effect<boolean, E>, timeoutMillis = 15_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

describe("lease coordination in one process (live clock)", () => {
  layer(MemoryKinesis.layer({ streams: [{ name: "eight", shardCount: 8 }] }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("three workers split eight shards 3/3/2 and, once balanced, read every record exactly once", () =>
      Effect.gen(function* () {
        const workers = yield* makeWorkers({ streamName: "eight" })
        for (const w of ["w1", "w2", "w3"]) yield* workers.start(w)
        yield* waitUntil(
          "the leases are balanced",
          Effect.map(workers.leases, (leases) => {
            const counts = new Map<string, number>()
            for (const l of leases) counts.set(l.owner ?? "", (counts.get(l.owner ?? "") ?? 0) + 1)
            return leases.length === 8 && counts.size === 3 && [...counts.values()].every((n) => n === 2 || n === 3) && !counts.has("")
          })
        )
        // Balanced, they stay put: every lease is renewed in time, nobody takes or steals. (A worker
        // robbed by the last steal learns it within a take round: let that pass first.)
        yield* Effect.sleep("500 millis")
        const settled = yield* workers.leases
        const lostBefore = workers.lost.length
        yield* Effect.sleep("2500 millis")
        const later = yield* workers.leases
        expect(later.map((l) => [l.shardId, l.owner])).toEqual(settled.map((l) => [l.shardId, l.owner]))
        for (const [i, l] of later.entries()) expect(l.counter - settled[i]!.counter).toBeGreaterThanOrEqual(5)
        expect(workers.lost.length).toBe(lostBefore)
        yield* putKeys("eight", 0, 400)
        yield* waitUntil("all 400 records are seen", Effect.sync(() => new Set(workers.seen.map((s) => s.value)).size === 400))
        yield* Effect.sleep("300 millis")
        expect(workers.seen.length).toBe(400)
        expect(workers.failures).toEqual([])
        yield* Effect.forEach(["w1", "w2", "w3"], workers.stop)
        const leases = yield* workers.leases
        expect(leases.every((l) => l.owner === undefined)).toBe(true)
      }).pipe(Effect.provide(LeaseStore.layerMemory)))
  })

  const fresh = Layer.mergeAll(MemoryKinesis.layer(), LeaseStore.layerMemory)
  const scope = (streamName: string) => ({ applicationName: "workers", streamName })
  const ownerCounts = (leases: ReadonlyArray<Lease>) => {
    const counts = new Map<string, number>()
    for (const l of leases) if (l.checkpoint?._tag !== "ShardEnd") counts.set(l.owner ?? "", (counts.get(l.owner ?? "") ?? 0) + 1)
    return counts
  }

  layer(fresh, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("a graceful stop checkpoints and releases: the leases move at once, with no record read twice", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("handoff", 4)
        const workers = yield* makeWorkers({ streamName: "handoff" })
        yield* workers.start("w1")
        yield* workers.start("w2")
        yield* waitUntil("w1 and w2 hold two leases each", Effect.map(workers.leases, (l) => ownerCounts(l).get("w1") === 2 && ownerCounts(l).get("w2") === 2))
        yield* putKeys("handoff", 0, 200)
        yield* waitUntil("200 records are seen", Effect.sync(() => workers.seen.length >= 200))
        const stoppedAt = Date.now()
        yield* workers.stop("w1")
        const released = yield* workers.leases
        expect(released.filter((l) => l.owner === "w1")).toEqual([])
        yield* waitUntil("w2 holds all four", Effect.map(workers.leases, (l) => ownerCounts(l).get("w2") === 4))
        // Taken within a take round or two, far below the one second failover time.
        expect(Date.now() - stoppedAt).toBeLessThan(900)
        yield* putKeys("handoff", 200, 200)
        yield* waitUntil("400 records are seen", Effect.sync(() => new Set(workers.seen.map((s) => s.value)).size === 400))
        yield* Effect.sleep("300 millis")
        expect(workers.seen.length).toBe(400)
        // Each lease was checkpointed by w1 before w2 took it: w2 read on from there.
        expect(workers.seen.filter((s) => s.worker === "w2").length).toBeGreaterThan(200)
      }))

    it.scoped("a renewal cut off by the stop after it landed does not leave the lease owned", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const store = yield* LeaseStore
        yield* memory.createStream("late-renewal", 1)
        // Renewals are written at once but answered late, so a stop often interrupts one in between.
        const slow = { ...store, renew: (scope: LeaseScope, held: HeldLease) => Effect.zipLeft(store.renew(scope, held), Effect.sleep("250 millis")) }
        const workers = yield* makeWorkers({ streamName: "late-renewal" }).pipe(Effect.provideService(LeaseStore, slow))
        yield* workers.start("w1")
        yield* waitUntil("w1 renewed a few times", Effect.map(workers.leases, (l) => (l[0]?.counter ?? 0) >= 4))
        yield* workers.stop("w1")
        const [lease] = yield* workers.leases
        expect(lease?.owner).toBeUndefined()
      }))

    it.scoped("interrupting a worker lets the batch in its sink finish and checkpoint before the leases are released", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("interrupt", 1)
        const inSink = yield* Deferred.make<void>()
        const shutdownTold: Array<ReadonlyArray<string>> = []
        const workers = yield* makeWorkers({
          streamName: "interrupt",
          leases: { hooks: { onShutdownRequested: ({ heldShardIds }) => Effect.sync(() => void shutdownTold.push(heldShardIds)) } },
          beforeRecord: (_, batch) =>
            batch.records.length === 0 ? Effect.void : Effect.zipRight(Deferred.succeed(inSink, undefined), Effect.sleep("400 millis"))
        })
        yield* workers.start("w1")
        yield* putKeys("interrupt", 0, 30)
        yield* Deferred.await(inSink)
        yield* workers.interrupt("w1")
        // The batch finished: its records were recorded, and checkpointed through the lease, which is released.
        expect(workers.seen.length).toBe(30)
        const [lease] = yield* workers.leases
        expect(lease?.owner).toBeUndefined()
        expect(lease?.checkpoint).toEqual(Checkpoint.sequence(workers.seen[29]!.sequenceNumber))
        expect(shutdownTold).toEqual([["shardId-000000000000"]])
      }))

    it.scoped("gracefulStopTimeout bounds a stuck sink: the interrupted worker gives up, checkpoints nothing and releases", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("stuck", 1)
        const inSink = yield* Deferred.make<void>()
        const store = yield* LeaseStore
        const workers = yield* makeWorkers({
          streamName: "stuck",
          gracefulStopTimeout: "1 second",
          beforeRecord: (_, batch) => (batch.records.length === 0 ? Effect.void : Effect.zipRight(Deferred.succeed(inSink, undefined), Effect.never))
        })
        yield* workers.start("w1")
        yield* putKeys("stuck", 0, 5)
        yield* Deferred.await(inSink)
        const started = Date.now()
        yield* workers.interrupt("w1")
        const took = Date.now() - started
        expect(took).toBeGreaterThanOrEqual(950)
        expect(took).toBeLessThan(3_000)
        const [lease] = yield* store.list(scope("stuck"))
        expect(lease?.owner).toBeUndefined()
        expect(lease?.checkpoint).toBeUndefined()
      }), { timeout: 20_000 })

    it.scoped("a zombie whose lease was taken mid-batch cannot checkpoint, and its fencing token is below the new owner's", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const store = yield* LeaseStore
        yield* memory.createStream("zombie", 1)
        const inSink = yield* Deferred.make<void>()
        const letGo = yield* Deferred.make<void>()
        const losses: Array<LeaseLossReason> = []
        const workers = yield* makeWorkers({
          streamName: "zombie",
          leases: { failoverTime: "3 seconds", hooks: { onLeaseLost: ({ reason }) => Effect.sync(() => void losses.push(reason)) } },
          beforeRecord: (_, batch) =>
            batch.records.length === 0 ? Effect.void : Effect.zipRight(Deferred.succeed(inSink, undefined), Deferred.await(letGo))
        })
        yield* workers.start("w1")
        yield* putKeys("zombie", 0, 10)
        yield* Deferred.await(inSink)
        // Another worker takes the lease while w1's batch is in its sink.
        const [before] = yield* store.list(scope("zombie"))
        const taken = yield* store.take(scope("zombie"), before!.shardId, { owner: before!.owner, counter: before!.counter }, "w2")
        yield* Deferred.succeed(letGo, undefined)
        yield* waitUntil("w1 learns it lost the lease", Effect.sync(() => losses.length > 0))
        const [after] = yield* store.list(scope("zombie"))
        expect(after?.owner).toBe("w2")
        expect(after?.checkpoint).toBeUndefined()
        const reason = losses[0]!
        expect(reason._tag).toBe("Lost")
        if (reason._tag === "Lost") {
          expect(reason.error._tag).toBe("LeaseLost")
          expect(reason.error.current).toEqual({ owner: "w2", counter: taken.counter })
        }
        const zombieTokens = new Set(workers.seen.map((s) => s.token))
        expect(Math.max(...zombieTokens)).toBeLessThan(taken.counter)
        // Its reader of the shard stopped: what is written now is not delivered by w1.
        yield* putKeys("zombie", 10, 10)
        yield* Effect.sleep("1 second")
        expect(workers.seen.filter((s) => Number(s.value) >= 10)).toEqual([])
        expect(workers.failures).toEqual([])
      }))

    it.scoped("a checkpoint always wins over the start position; LATEST and AT_TIMESTAMP apply only without one", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("positions", 1)
        yield* putKeys("positions", 0, 5)
        const first = yield* makeWorkers({ streamName: "positions", startAt: "TRIM_HORIZON" })
        yield* first.start("w1")
        yield* waitUntil("5 records are seen", Effect.sync(() => first.seen.length === 5))
        yield* first.stop("w1")
        yield* putKeys("positions", 5, 3)
        // Same application, now asking for LATEST: the checkpoint wins, so 5..7 are read, nothing again.
        const second = yield* makeWorkers({ streamName: "positions", startAt: "LATEST" })
        yield* second.start("w2")
        yield* waitUntil("3 records are seen", Effect.sync(() => second.seen.length === 3))
        expect(second.seen.map((s) => s.value)).toEqual(["5", "6", "7"])
        yield* second.stop("w2")
        // A new application at LATEST reads only what comes after it started.
        const latest = yield* makeWorkers({ streamName: "positions", applicationName: "fresh-latest", startAt: "LATEST" })
        yield* latest.start("w3")
        yield* waitUntil("w3 holds the lease", Effect.map(latest.leases, (l) => l[0]?.owner === "w3"))
        yield* Effect.sleep("300 millis")
        const cut = new Date()
        yield* Effect.sleep("20 millis")
        yield* putKeys("positions", 8, 2)
        yield* waitUntil("2 records are seen", Effect.sync(() => latest.seen.length === 2))
        expect(latest.seen.map((s) => s.value)).toEqual(["8", "9"])
        yield* latest.stop("w3")
        // A new application AT_TIMESTAMP reads from that time on.
        const timed = yield* makeWorkers({ streamName: "positions", applicationName: "fresh-timed", startAt: { atTimestamp: cut } })
        yield* timed.start("w4")
        yield* waitUntil("2 records are seen", Effect.sync(() => timed.seen.length === 2))
        expect(timed.seen.map((s) => s.value)).toEqual(["8", "9"])
        yield* timed.stop("w4")
      }))

    it.scoped.each([["ChildShards", false], ["ListShards parent ids alone", true]] as const)("after a split (children from %s), the children wait for the parent's end; the ended parent's lease is deleted once both started", ([, strip]) =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const store = yield* LeaseStore
        yield* memory.createStream(streamOf(strip), 1)
        const ended: Array<{ shardId: string; childShardIds: ReadonlyArray<string> }> = []
        const kinesis = strip ? withoutChildShards(memory.api) : memory.api
        const workers = yield* makeWorkers({
          streamName: streamOf(strip),
          leases: { shardSyncInterval: "500 millis", hooks: { onShardEnded: (e) => Effect.sync(() => void ended.push(e)) } }
        })
        yield* workers.start("w1").pipe(Effect.provideService(Kinesis, kinesis))
        yield* workers.start("w2").pipe(Effect.provideService(Kinesis, kinesis))
        yield* putKeys(streamOf(strip), 0, 100, 7)
        const [low, high] = yield* memory.splitShard(streamOf(strip), "shardId-000000000000")
        yield* putKeys(streamOf(strip), 100, 100, 7)
        yield* waitUntil("200 records are seen", Effect.sync(() => new Set(workers.seen.map((s) => s.value)).size === 200))
        // Per key, in write order: the parent's records all came before any child's.
        for (let k = 0; k < 7; k++) {
          const values = workers.seen.filter((s) => s.partitionKey === `key-${k}`).map((s) => Number(s.value))
          expect(values).toEqual([...values].sort((a, b) => a - b))
        }
        expect(ended).toEqual([{ shardId: "shardId-000000000000", childShardIds: [low, high] }])
        yield* waitUntil("the parent's lease is cleaned up", Effect.map(store.list(scope(streamOf(strip))), (l) => l.every((x) => x.shardId !== "shardId-000000000000")))
        const leases = yield* store.list(scope(streamOf(strip)))
        expect(leases.map((l) => [l.shardId, l.parentShardIds])).toEqual([[low, ["shardId-000000000000"]], [high, ["shardId-000000000000"]]])
      }))

    it.scoped("two generations of resharding (split, then merge the children): nothing is read twice", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        const store = yield* LeaseStore
        yield* memory.createStream("twice", 1)
        const workers = yield* makeWorkers({ streamName: "twice", leases: { shardSyncInterval: "300 millis" } })
        yield* workers.start("w1")
        const rowsOf = Effect.map(store.list(scope("twice")), (l) => l.map((x) => x.shardId))
        yield* putKeys("twice", 0, 20)
        const [low, high] = yield* memory.splitShard("twice", "shardId-000000000000")
        yield* putKeys("twice", 20, 20)
        yield* waitUntil("the first parent's row is cleaned up", Effect.map(rowsOf, (ids) => !ids.includes("shardId-000000000000")))
        const merged = yield* memory.mergeShards("twice", low, high)
        yield* putKeys("twice", 40, 20)
        yield* waitUntil("only the merged shard's row is left", Effect.map(rowsOf, (ids) => ids.length === 1 && ids[0] === merged))
        yield* Effect.sleep("1500 millis")
        expect(workers.seen.length).toBe(60)
        expect(yield* rowsOf).toEqual([merged])
      }))

    it.scoped("a parent past retention (gone from ListShards, reads refused) does not block its children", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("expired", 1)
        const hidden = new Set<string>()
        const expiring = hideShards(memory.api, hidden)
        const workers = yield* makeWorkers({ streamName: "expired", leases: { shardSyncInterval: "500 millis" } }).pipe(
          Effect.provideService(Kinesis, expiring)
        )
        yield* workers.start("w1").pipe(Effect.provideService(Kinesis, expiring))
        yield* putKeys("expired", 0, 20)
        yield* waitUntil("20 records are seen", Effect.sync(() => workers.seen.length === 20))
        // Split, and at once the parent "expires": its records past 20 are lost with it, as with retention.
        const [low, high] = yield* memory.splitShard("expired", "shardId-000000000000")
        hidden.add("shardId-000000000000")
        yield* putKeys("expired", 100, 50)
        yield* waitUntil("the children's 50 records are seen", Effect.sync(() => workers.seen.filter((s) => Number(s.value) >= 100).length === 50))
        expect(new Set(workers.seen.filter((s) => Number(s.value) >= 100).map((s) => s.shardId))).toEqual(new Set([low, high]))
        expect(workers.failures).toEqual([])
      }))
  })
})

const streamOf = (strip: boolean) => (strip ? "split-listed" : "split-children")

/** A Kinesis like kinesalite: GetRecords never names ChildShards. */
const withoutChildShards = (api: KinesisApi): KinesisApi => ({
  ...api,
  getRecords: (input, target) => Effect.map(api.getRecords(input, target), ({ ChildShards: _, ...out }) => out)
})

/** A Kinesis that no longer knows the shards in `hidden`: not listed, and reads answer ResourceNotFound. */
const hideShards = (api: KinesisApi, hidden: ReadonlySet<string>): KinesisApi => {
  const notFound = (operation: "GetShardIterator" | "GetRecords", shardId: string | undefined) =>
    new KinesisResourceNotFound({ operation, shardId, cause: new Error("expired") })
  return {
    ...api,
    listShards: (input, target) =>
      Effect.map(api.listShards(input, target), (out) => ({ ...out, Shards: out.Shards?.filter((s) => !hidden.has(s.ShardId ?? "")) })),
    getShardIterator: (input) =>
      hidden.has(input.ShardId ?? "") ? Effect.fail(notFound("GetShardIterator", input.ShardId)) : api.getShardIterator(input),
    getRecords: (input, target) =>
      target?.shardId !== undefined && hidden.has(target.shardId) ? Effect.fail(notFound("GetRecords", target.shardId)) : api.getRecords(input, target)
  }
}
