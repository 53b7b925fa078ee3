import { describe, expect, it, layer } from "@effect/vitest"
import fc from "fast-check"
import { Context, Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import {
  type Batch,
  Checkpoint,
  CheckpointStore,
  Codec,
  DeadLetter,
  type DeadLetterRecord,
  InvalidOption,
  Kinesis,
  LeaseStore,
  Pipeline,
  type RunOptions,
  SinkRecordsFailed
} from "../src/index.js"
import { makeMemoryStore } from "../src/checkpoint/CheckpointStore.js"
import { laneOf, splitIntoLanes } from "../src/pipeline/lanes.js"
import { MemoryKinesis, PipelineTest } from "../src/testing/index.js"
import { effectProperty } from "./support/stateful.js"
import { makeWorkers } from "./support/workers.js"

const encoder = new TextEncoder()
const STREAM = "orders"
const orders = Pipeline.fromKinesis({ streamName: STREAM, codec: Codec.utf8, batchInterval: "1 second" })

/** A record put: its key, its place in its key's order, and the sink latency it asks for. */
interface Planned {
  readonly key: string
  readonly index: number
  readonly latencyMs: number
}

const valueOf = (p: Planned) => `${p.key}:${p.index}:${p.latencyMs}`
const parse = (value: string): Planned => {
  const [key, index, latencyMs] = value.split(":")
  return { key: key!, index: Number(index), latencyMs: Number(latencyMs) }
}

/** Records over `keys` keys, each key's records numbered in the order they are put. */
const plannedRecords = (picks: ReadonlyArray<readonly [number, number]>): Array<Planned> => {
  const next = new Map<string, number>()
  return picks.map(([k, latencyMs]) => {
    const key = `k${k}`
    const index = next.get(key) ?? 0
    next.set(key, index + 1)
    return { key, index, latencyMs }
  })
}

/**
 * Runs `orders` on an in-memory Kinesis of `shardCount` shards with a sink that sleeps each
 * sub-batch for its records' largest latency (test clock), watching every checkpoint written:
 * each must cover only records whose sink call finished. Answers what it saw.
 */
const observe = (
  planned: ReadonlyArray<Planned>,
  options: RunOptions & { readonly shardCount: number; readonly putInRounds?: number; readonly log?: Array<string> }
) =>
  Effect.gen(function* () {
    const kinesis = yield* MemoryKinesis.make({ streams: [{ name: STREAM, shardCount: options.shardCount }] })
    const store = yield* makeMemoryStore()
    // Where each record went, to tell what a checkpoint covers.
    const placeOf = new Map<string, { shardId: string; sequence: bigint }>()
    const done = new Set<string>()
    const started = new Map<string, number>() // key -> next index expected to start
    const inFlightKeys = new Map<string, number>()
    const problems: Array<string> = []
    const checkpointsSeen: Array<ReadonlyMap<string, Checkpoint>> = []
    const calls: Array<{ batchId: number; lane: number | undefined; values: ReadonlyArray<string>; startedAt: number; endedAt?: number }> = []

    const covered = (shardId: string, checkpoint: Checkpoint) => {
      for (const [value, place] of placeOf) {
        if (place.shardId !== shardId) continue
        const inside = checkpoint._tag === "ShardEnd" || place.sequence <= BigInt(checkpoint.sequenceNumber)
        if (inside && !done.has(value)) problems.push(`checkpoint ${JSON.stringify(checkpoint)} on ${shardId} passed ${value}, not done yet`)
      }
    }
    const watched = Context.make(CheckpointStore, {
      ...store,
      save: (scope, checkpoints, states) =>
        Effect.suspend(() => {
          for (const [shardId, c] of checkpoints) covered(shardId, c)
          checkpointsSeen.push(new Map(checkpoints))
          options.log?.push(`save ${[...checkpoints.keys()].join(",")}`)
          return store.save(scope, checkpoints, states)
        })
    }).pipe(Context.add(Kinesis, kinesis.api))

    const sink = (batch: Batch<string>) =>
      Effect.gen(function* () {
        const call: (typeof calls)[number] = { batchId: batch.batchId, lane: batch.lane, values: batch.records.map((r) => r.value), startedAt: yield* TestClock.currentTimeMillis }
        calls.push(call)
        const keys = new Set<string>()
        let latency = 0
        for (const r of batch.records) {
          const p = parse(r.value)
          keys.add(p.key)
          if ((started.get(p.key) ?? 0) !== p.index) problems.push(`${r.value} started out of its key's order (expected index ${started.get(p.key) ?? 0})`)
          started.set(p.key, p.index + 1)
          latency = Math.max(latency, p.latencyMs)
        }
        for (const key of keys) {
          if ((inFlightKeys.get(key) ?? 0) > 0) problems.push(`two sink calls at once hold key ${key}`)
          inFlightKeys.set(key, (inFlightKeys.get(key) ?? 0) + 1)
        }
        if (latency > 0) yield* Effect.sleep(latency)
        for (const key of keys) inFlightKeys.set(key, inFlightKeys.get(key)! - 1)
        for (const r of batch.records) done.add(r.value)
        call.endedAt = yield* TestClock.currentTimeMillis
      })

    const stop = yield* Deferred.make<void>()
    const { log: _log, putInRounds = 1, shardCount: _shards, ...runOptions } = options
    const fiber = yield* orders.pipe(
      Pipeline.foreachBatch(sink, { ...runOptions, stopWhen: Deferred.await(stop) }),
      Effect.provide(watched),
      Effect.fork
    )
    // Put in rounds, a batch interval apart, so batches follow each other while sink calls are slow.
    const round = Math.ceil(planned.length / putInRounds)
    for (let i = 0; i < planned.length; i += round) {
      const part = planned.slice(i, i + round)
      const result = yield* kinesis.api.putRecords({
        StreamName: STREAM,
        Records: part.map((p) => ({ PartitionKey: p.key, Data: encoder.encode(valueOf(p)) }))
      })
      result.Records!.forEach((entry, j) =>
        placeOf.set(valueOf(part[j]!), { shardId: entry.ShardId!, sequence: BigInt(entry.SequenceNumber!) }))
      yield* TestClock.adjust("1 second")
    }
    const lastOf = new Map<string, bigint>()
    for (const { shardId, sequence } of placeOf.values()) if ((lastOf.get(shardId) ?? -1n) < sequence) lastOf.set(shardId, sequence)
    const settled = Effect.map(store.load({ applicationName: "shardline", streamName: STREAM }), (checkpoints) =>
      [...lastOf].every(([shardId, last]) => {
        const c = checkpoints.get(shardId)
        return c !== undefined && (c._tag === "ShardEnd" || BigInt(c.sequenceNumber) >= last)
      }))
    for (let i = 0; i < 400 && !(yield* settled); i++) yield* TestClock.adjust("500 millis")
    yield* Deferred.succeed(stop, undefined)
    for (let i = 0; i < 100 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("1 second")
    // A run that does not stop fails the test here rather than hanging it.
    if (fiber.unsafePoll() === null) return yield* Effect.dieMessage("the run did not stop within 100 s (test clock) of the stop")
    const summary = yield* Fiber.join(fiber)
    return { problems, done, calls, checkpointsSeen, summary, settled: yield* settled, placeOf }
  })

describe("lanes", () => {
  it("laneOf spreads keys over every lane and keeps a key on one lane", () => {
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 4000; i++) counts[laneOf(`user-${i}`, 4)]!++
    for (const c of counts) expect(c).toBeGreaterThan(800)
    expect(laneOf("user-7", 4)).toBe(laneOf("user-7", 4))
    expect(laneOf("anything", 1)).toBe(0)
  })

  it("splitIntoLanes keeps batch order inside each lane and splits by shard", () => {
    const records = ["a", "b", "a", "c", "b", "a"].map((key, i) => ({
      value: i,
      shardId: i % 2 === 0 ? "s0" : "s1",
      sequenceNumber: String(i),
      subSequenceNumber: 0,
      partitionKey: key,
      approximateArrivalTimestamp: undefined
    }))
    const lanes = splitIntoLanes(records, 3)
    expect(lanes.flatMap((l) => l.records).length).toBe(6)
    for (const lane of lanes) {
      expect(new Set(lane.records.map((r) => r.shardId))).toEqual(new Set([lane.shardId]))
      for (const r of lane.records) expect(laneOf(r.partitionKey, 3)).toBe(lane.lane)
      const values = lane.records.map((r) => r.value)
      expect(values).toEqual([...values].sort((x, y) => x - y))
    }
  })
})

describe("parallelism: ordered per-key sink calls", () => {
  it.effect("property: per-key order holds, every record is delivered once, and no checkpoint passes a record not done", () =>
    Effect.promise(() =>
      effectProperty(
        [
          fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.constantFrom(0, 0, 100, 700, 1500, 4000)), { minLength: 1, maxLength: 80 }),
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 4 })
        ],
        (picks, parallelism, shardCount, maxBatchesInFlight, putInRounds) =>
          Effect.gen(function* () {
            const planned = plannedRecords(picks)
            const seen = yield* observe(planned, { shardCount, parallelism, maxBatchesInFlight, putInRounds })
            expect(seen.problems).toEqual([])
            expect(seen.settled).toBe(true)
            const delivered = seen.calls.flatMap((c) => c.values)
            expect(delivered.length).toBe(planned.length)
            expect(new Set(delivered)).toEqual(new Set(planned.map(valueOf)))
            // Each sub-batch holds one shard's records of one lane.
            for (const call of seen.calls) {
              if (call.values.length === 0) continue
              const lanes = new Set(call.values.map((v) => laneOf(parse(v).key, parallelism)))
              if (parallelism === 1) continue
              expect(lanes.size).toBe(1)
              expect(new Set(call.values.map((v) => seen.placeOf.get(v)!.shardId)).size).toBe(1)
              expect(call.lane).toBe([...lanes][0])
            }
          }),
        40
      )))

  it.scoped("a slow key no longer holds up the shard's other keys, and the checkpoint waits for it", () =>
    Effect.gen(function* () {
      // One shard; "slow" takes 10 s in the first batch, the other keys take nothing.
      const keys = ["slow", "k1", "k2", "k3", "k4", "k5"]
      const picks: Array<Planned> = []
      for (let round = 0; round < 4; round++) {
        for (const key of keys) picks.push({ key, index: round, latencyMs: key === "slow" && round === 0 ? 10_000 : 0 })
      }
      const run = (parallelism: number) => observe(picks, { shardCount: 1, parallelism, putInRounds: 4 })
      const parallel = yield* run(4)
      const slowCall = parallel.calls.find((c) => c.values.includes("slow:0:10000"))!
      // Other keys' later records went through while the slow call was still running...
      const overtaking = parallel.calls.filter((c) =>
        c.batchId > slowCall.batchId && c.values.length > 0 && !c.values.some((v) => v.startsWith("slow")) && c.endedAt! < slowCall.endedAt!)
      expect(overtaking.length).toBeGreaterThan(0)
      // ...but no checkpoint was written past the slow record before it was done (the watcher checks every save).
      expect(parallel.problems).toEqual([])
      // And the slow key's later records waited for it, in order.
      const slowLater = parallel.calls.filter((c) => c.values.some((v) => v.startsWith("slow:1")))
      expect(slowLater[0]!.startedAt).toBeGreaterThanOrEqual(slowCall.endedAt!)

      // Without parallelism the whole shard waits for the slow call.
      const serial = yield* run(1)
      const serialSlow = serial.calls.find((c) => c.values.includes("slow:0:10000"))!
      const serialOvertaking = serial.calls.filter((c) => c.batchId > serialSlow.batchId && c.startedAt < serialSlow.endedAt!)
      expect(serialOvertaking).toEqual([])
      expect(serial.problems).toEqual([])
    }))

  it.scoped("checkpoints are written in batch order, never moving back", () =>
    Effect.gen(function* () {
      const planned = plannedRecords(Array.from({ length: 60 }, (_, i) => [i % 9, (i * 37) % 5 === 0 ? 3000 : 0] as const))
      const seen = yield* observe(planned, { shardCount: 2, parallelism: 3, putInRounds: 6 })
      expect(seen.problems).toEqual([])
      const last = new Map<string, bigint>()
      for (const checkpoints of seen.checkpointsSeen) {
        for (const [shardId, c] of checkpoints) {
          if (c._tag !== "Sequence") continue
          const at = BigInt(c.sequenceNumber)
          expect(at).toBeGreaterThanOrEqual(last.get(shardId) ?? -1n)
          last.set(shardId, at)
        }
      }
      expect(seen.summary.records).toBe(60)
    }))

  it.scoped("sub-batches go through onSinkError's bisect and dead letters, lane by lane", () =>
    Effect.gen(function* () {
      const letters: Array<DeadLetterRecord> = []
      const attempts = new Map<string, number>()
      const test = yield* PipelineTest.make(
        orders,
        (batch) =>
          Effect.suspend(() => {
            for (const r of batch.records) attempts.set(r.value, (attempts.get(r.value) ?? 0) + 1)
            return batch.records.some((r) => r.value === "poison") ? Effect.fail(new Error("refused")) : Effect.void
          }),
        {
          shardCount: 1,
          parallelism: 4,
          onSinkError: { bisectBatchOnError: true, onFailure: DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records))) }
        }
      )
      const values = Array.from({ length: 40 }, (_, i) => (i === 17 ? "poison" : `v${i}`))
      yield* test.put(values.map((v, i) => ({ partitionKey: `key-${i % 10}`, data: encoder.encode(v) })))
      yield* test.drain()
      expect(letters.map((l) => new TextDecoder().decode(l.data))).toEqual(["poison"])
      // Only the poison record's lane was split: records in other lanes went through once.
      const poisonLane = laneOf("key-7", 4)
      for (const [value, n] of attempts) {
        const i = Number(value.slice(1))
        if (value !== "poison" && laneOf(`key-${i % 10}`, 4) !== poisonLane) expect(n).toBe(1)
      }
      const checkpoints = yield* test.checkpoints
      expect(checkpoints.get("shardId-000000000000")?._tag).toBe("Sequence")
      const summary = yield* test.stop
      expect(summary.deadLettered).toBe(1)
    }))

  it.scoped("a lane that cannot deliver fails the run, checkpointed just before the first record it did not take", () =>
    Effect.gen(function* () {
      const values = Array.from({ length: 12 }, (_, i) => (i === 5 ? "bad" : `v${i}`))
      const keyOf = (i: number) => `key-${i}`
      const run = (sink: (batch: Batch<string>) => Effect.Effect<unknown, Error>) =>
        Effect.gen(function* () {
          const test = yield* PipelineTest.make(orders, sink, { shardCount: 1, parallelism: 3 })
          const put = yield* test.put(values.map((v, i) => ({ partitionKey: keyOf(i), data: encoder.encode(v) })))
          const outcome = yield* Effect.flip(test.drain({ maxIntervals: 10 }))
          return { outcome, put, checkpoint: (yield* test.checkpoints).get("shardId-000000000000") }
        })
      // The sink names the failed record: its lane's records before it and the other lanes are done.
      const reported = yield* run((batch) =>
        Effect.succeed(Pipeline.batchItemFailures(batch.records.filter((r) => r.value === "bad"), "refused")))
      expect(reported.outcome).toBeInstanceOf(SinkRecordsFailed)
      expect(reported.checkpoint).toEqual(Checkpoint.sequence(reported.put[4]!.sequenceNumber))
      // The sink fails the whole call: none of that lane's records is known done, so the shard is
      // checkpointed just before the lane's first record.
      const failed = yield* run((batch) => (batch.records.some((r) => r.value === "bad") ? Effect.fail(new Error("refused")) : Effect.void))
      expect((failed.outcome as Error).message).toBe("refused")
      const firstOfLane = values.findIndex((_, i) => laneOf(keyOf(i), 3) === laneOf(keyOf(5), 3))
      expect(failed.checkpoint).toEqual(
        firstOfLane === 0 ? undefined : Checkpoint.sequence(failed.put[firstOfLane - 1]!.sequenceNumber)
      )
    }))

  it.scoped("stateful operators with parallelism: one batch settles before the next runs, counts stay exact", () =>
    Effect.gen(function* () {
      const counting = orders.pipe(
        Pipeline.keyBy((value) => value.split(":")[0]!),
        Pipeline.updateStateByKey((values: ReadonlyArray<string>, total: number | undefined) => (total ?? 0) + values.length)
      )
      const latest = new Map<string, number>()
      const test = yield* PipelineTest.make(
        counting,
        (batch) => Effect.sync(() => batch.records.forEach((r) => latest.set(r.value[0], r.value[1]))),
        { shardCount: 2, parallelism: 3 }
      )
      const puts = Array.from({ length: 90 }, (_, i) => ({ partitionKey: `p${i % 7}`, data: encoder.encode(`k${i % 5}:${i}`) }))
      yield* test.put(puts)
      yield* test.drain()
      for (let k = 0; k < 5; k++) expect(latest.get(`k${k}`)).toBe(18)
    }))

  it.effect("parallelism and maxBatchesInFlight are checked", () =>
    Effect.gen(function* () {
      const run = (options: RunOptions) =>
        orders.pipe(Pipeline.foreachBatch(() => Effect.void, options), Effect.provide(MemoryKinesis.layer({ streams: [{ name: STREAM, shardCount: 1 }] })), Effect.provide(CheckpointStore.layerMemory), Effect.flip)
      const zero = yield* run({ parallelism: 0 })
      expect(zero).toBeInstanceOf(InvalidOption)
      expect((zero as InvalidOption).option).toBe("parallelism")
      const half = yield* run({ parallelism: 2, maxBatchesInFlight: 1.5 })
      expect((half as InvalidOption).option).toBe("maxBatchesInFlight")
    }))
})

describe("run hooks", () => {
  it.scoped("onStarted comes before the first batch; onBatchDone once per batch, after its checkpoint, lanes and all", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const planned = plannedRecords(Array.from({ length: 24 }, (_, i) => [i % 6, i % 4 === 0 ? 1500 : 0] as const))
      const seen = yield* observe(planned, {
        shardCount: 2,
        parallelism: 3,
        putInRounds: 3,
        onStarted: Effect.sync(() => void log.push("started")),
        log,
        onBatchDone: (done) => Effect.sync(() => void log.push(`done ${done.batchId} ${done.checkpoints.size}`))
      })
      // Each batch with positions is reported right after their save.
      log.forEach((entry, i) => {
        if (entry.startsWith("done") && !entry.endsWith(" 0")) expect(log[i - 1]).toMatch(/^save /)
      })
      expect(log[0]).toBe("started")
      const ids = log.filter((l) => l.startsWith("done")).map((l) => Number(l.split(" ")[1]))
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i))
      expect(ids.length).toBe(seen.summary.batches)
    }))
})

describe("parallelism with leases (live clock)", () => {
  layer(Layer.merge(MemoryKinesis.layer({ streams: [] }), LeaseStore.layerMemory), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    const putKeys = (streamName: string, count: number) =>
      Effect.flatMap(Kinesis, (kinesis) =>
        kinesis.putRecords({
          StreamName: streamName,
          Records: Array.from({ length: count }, (_, i) => ({ PartitionKey: `key-${i % 8}`, Data: encoder.encode(String(i)) }))
        }))

    it.scoped("interrupting a worker lets every lane in its sink finish, checkpoints the batch, then releases the lease", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("lanes-interrupt", 1)
        const inSink = yield* Deferred.make<void>()
        const calls: Array<number | undefined> = []
        const workers = yield* makeWorkers({
          streamName: "lanes-interrupt",
          parallelism: 4,
          beforeRecord: (_, batch) =>
            batch.records.length === 0
              ? Effect.void
              : Effect.zipRight(Effect.sync(() => void calls.push(batch.lane)), Effect.zipRight(Deferred.succeed(inSink, undefined), Effect.sleep("400 millis")))
        })
        yield* workers.start("w1")
        yield* putKeys("lanes-interrupt", 40)
        yield* Deferred.await(inSink)
        yield* Effect.sleep("50 millis")
        yield* workers.interrupt("w1")
        // Several lanes were in the sink at once; all finished, and the batch was checkpointed through the lease.
        expect(new Set(calls).size).toBeGreaterThan(1)
        expect(workers.seen.length).toBe(40)
        const [lease] = yield* workers.leases
        expect(lease?.owner).toBeUndefined()
        const last = workers.seen.reduce((a, b) => (BigInt(a.sequenceNumber) > BigInt(b.sequenceNumber) ? a : b))
        expect(lease?.checkpoint).toEqual(Checkpoint.sequence(last.sequenceNumber))
      }))

    it.scoped("two leased workers with parallelism read every record once, in order per key", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis
        yield* memory.createStream("lanes-two", 4)
        const workers = yield* makeWorkers({
          streamName: "lanes-two",
          parallelism: 3,
          beforeRecord: (_, batch) => (batch.records.length === 0 ? Effect.void : Effect.sleep(`${(batch.lane ?? 0) * 30} millis`))
        })
        yield* workers.start("w1")
        yield* workers.start("w2")
        // Once the leases are balanced (a lease stolen mid-batch is read again by its new owner: at least once).
        const balanced = Effect.map(workers.leases, (leases) => {
          const owners = leases.map((l) => l.owner)
          return leases.length === 4 && owners.filter((o) => o === "w1").length === 2 && owners.filter((o) => o === "w2").length === 2
        })
        for (let deadline = Date.now() + 15_000; !(yield* balanced) && Date.now() < deadline;) yield* Effect.sleep("100 millis")
        yield* Effect.sleep("1500 millis")
        expect(yield* balanced).toBe(true)
        yield* putKeys("lanes-two", 400)
        const deadline = Date.now() + 20_000
        while (workers.seen.length < 400 && Date.now() < deadline) yield* Effect.sleep("100 millis")
        yield* workers.stop("w1")
        yield* workers.stop("w2")
        expect(workers.failures).toEqual([])
        expect(workers.seen.map((s) => Number(s.value)).sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => i))
        for (let k = 0; k < 8; k++) {
          const values = workers.seen.filter((s) => s.partitionKey === `key-${k}`).map((s) => Number(s.value))
          expect(values).toEqual([...values].sort((a, b) => a - b))
        }
      }))
  })
})
