/**
 * Resharding under lease coordination, against both emulators: two workers share a four-shard
 * stream while one shard is split and two others are merged in the middle of the writes. Every
 * record must be consumed, and per partition key in the order it was written (a child is read only
 * after its parents ended); the lease table must end with the parents ended or cleaned up and a
 * row per child.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Runtime } from "effect"
import * as fc from "fast-check"
import { Kinesis, type KinesisApi, type Lease, LeaseStore } from "../src/index.js"
import { LocalKinesis } from "../src/local/index.js"
import { shardId } from "./support/kinesisContract.js"
import { KinesisLocal } from "./support/kinesisLocal.js"
import { createStream, hidingFromListShards, mergeAdjacent, splitAtMiddle, watchingChildShards } from "./support/reshard.js"
import { makeWorkers, type Seen } from "./support/workers.js"

const encoder = new TextEncoder()

/** Which shard of the four to split, and which adjacent pair of the others to merge (lower first). */
const plans = [
  { split: 0, merge: [1, 2] },
  { split: 0, merge: [2, 3] },
  { split: 1, merge: [2, 3] },
  { split: 2, merge: [0, 1] },
  { split: 3, merge: [0, 1] },
  { split: 3, merge: [1, 2] }
] as const

interface Scenario {
  /** The partition keys; each record takes `keys[pick % keys.length]`. */
  readonly keys: ReadonlyArray<string>
  readonly picks: ReadonlyArray<number>
  /** The share of the records written before the reshard starts. */
  readonly reshardAt: number
  /** The share of the records written before the workers start (a backlog to read, maybe past the reshard). */
  readonly workersAt: number
  /** Records per GetRecords: small ones keep a parent's backlog unread while its children are ready. */
  readonly limit: number
  readonly plan: (typeof plans)[number]
}

const scenarios = (maxRecords: number): fc.Arbitrary<Scenario> =>
  fc.record({
    keys: fc.uniqueArray(
      fc.oneof(fc.string({ minLength: 1, maxLength: 24 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 })),
      { minLength: 1, maxLength: 16 }
    ),
    picks: fc.array(fc.nat(), { minLength: Math.min(100, maxRecords), maxLength: maxRecords, size: "max" }),
    reshardAt: fc.double({ min: 0.25, max: 0.6, noNaN: true }),
    workersAt: fc.double({ min: 0, max: 0.9, noNaN: true }),
    limit: fc.constantFrom(10, 25, 10_000),
    plan: fc.constantFrom(...plans)
  })

interface Written {
  readonly value: string
  readonly key: string
  readonly shardId: string
}

interface Ended {
  readonly shardId: string
  readonly childShardIds: ReadonlyArray<string>
}

interface Resharded {
  readonly splitParent: string
  readonly splitChildren: ReadonlyArray<string>
  readonly mergeParents: readonly [string, string]
  readonly mergeChild: string
}

const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()

const waitUntil = <E>(what: string, check: Effect.Effect<boolean, E>, timeoutMillis: number, details: () => unknown) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (!(yield* check)) {
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`timed out after ${timeoutMillis} ms waiting until ${what}: ${JSON.stringify(details(), null, 1)}`)
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** Per partition key, the values in the order their first copies reached any sink. */
const firstSeenByKey = (seen: ReadonlyArray<Seen>) => {
  const first = new Set<string>()
  const byKey = new Map<string, Array<string>>()
  for (const s of seen) {
    if (first.has(s.value)) continue
    first.add(s.value)
    byKey.set(s.partitionKey, [...(byKey.get(s.partitionKey) ?? []), s.value])
  }
  return byKey
}

const writtenByKey = (written: ReadonlyArray<Written>) => {
  const byKey = new Map<string, Array<string>>()
  for (const w of written) byKey.set(w.key, [...(byKey.get(w.key) ?? []), w.value])
  return byKey
}

interface CaseOptions {
  /** The emulator's GetRecords names ChildShards at a shard's end (kinesis-mock does, kinesalite does not). */
  readonly childShards: boolean
  /**
   * The workers' ListShards never lists the children: what they know of them comes from
   * ChildShards alone.
   */
  readonly hideChildren?: boolean
}

let streams = 0

/** One scenario on a fresh stream with two fresh workers and a fresh lease table. */
const runCase = (label: string, scenario: Scenario, options: CaseOptions) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const streamName = `reshard-${label}-${++streams}`
    yield* createStream(streamName, 4)
    const original = new Set([0, 1, 2, 3].map(shardId))

    const ended: Array<Ended> = []
    const childShardsRead: Array<{ shardId: string | undefined; children: ReadonlyArray<string> }> = []
    let workerKinesis: KinesisApi = watchingChildShards(kinesis, (id, children) => void childShardsRead.push({ shardId: id, children }))
    if (options.hideChildren === true) workerKinesis = hidingFromListShards(workerKinesis, (id) => !original.has(id))

    const workers = yield* makeWorkers({
      streamName,
      startAt: "TRIM_HORIZON",
      batchInterval: "200 millis",
      reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis", limit: scenario.limit },
      leases: {
        failoverTime: "1 second",
        shardSyncInterval: "1 second",
        hooks: { onShardEnded: (event) => Effect.sync(() => void ended.push(event)) }
      }
    })
    const startWorkers = Effect.zipRight(
      workers.start("w1").pipe(Effect.provideService(Kinesis, workerKinesis)),
      workers.start("w2").pipe(Effect.provideService(Kinesis, workerKinesis))
    )

    let rows: ReadonlyArray<Lease> = []
    const refreshRows = Effect.map(workers.leases, (list) => void (rows = list))

    // ---- write, one awaited put at a time: per key, the write order is the order of the puts
    const written: Array<Written> = []
    const put = (i: number) =>
      Effect.gen(function* () {
        const key = scenario.keys[scenario.picks[i]! % scenario.keys.length]!
        const value = String(i)
        const out = yield* kinesis.putRecord({ StreamName: streamName, PartitionKey: key, Data: encoder.encode(value) })
        written.push({ value, key, shardId: out.ShardId! })
      })
    const reshard = Effect.gen(function* () {
      const splitParent = shardId(scenario.plan.split)
      const mergeParents = [shardId(scenario.plan.merge[0]), shardId(scenario.plan.merge[1])] as const
      const splitChildren = yield* splitAtMiddle(streamName, splitParent)
      const mergeChild = yield* mergeAdjacent(streamName, mergeParents[0], mergeParents[1])
      return { splitParent, splitChildren, mergeParents, mergeChild } satisfies Resharded
    })
    const total = scenario.picks.length
    // The reshard starts at `reshardAt` and runs while writes go on; the last part is written after it.
    const reshardFrom = Math.floor(total * scenario.reshardAt)
    const reshardJoin = reshardFrom + Math.ceil((total - reshardFrom) / 2)
    const workersFrom = Math.floor(total * scenario.workersAt)
    let resharding: Fiber.RuntimeFiber<Resharded, unknown> | undefined
    let resharded: Resharded | undefined
    for (let i = 0; i < total; i++) {
      if (i === workersFrom) yield* startWorkers
      if (i === reshardFrom) resharding = yield* Effect.fork(reshard)
      if (i === reshardJoin) resharded = yield* Fiber.join(resharding!)
      yield* put(i)
    }
    const { splitParent, splitChildren, mergeParents, mergeChild } = resharded!
    const parents = [splitParent, ...mergeParents]
    const childrenOf = new Map<string, ReadonlyArray<string>>([
      [splitParent, splitChildren],
      [mergeParents[0], [mergeChild]],
      [mergeParents[1], [mergeChild]]
    ])
    const children = [...splitChildren, mergeChild]
    const afterReshard = written.slice(reshardJoin)
    expect(afterReshard.every((w) => !parents.includes(w.shardId))).toBe(true)

    // ---- every record is consumed
    const distinctSeen = () => new Set(workers.seen.map((s) => s.value)).size
    const details = () => ({
      written: written.length,
      seen: workers.seen.length,
      distinctSeen: distinctSeen(),
      missing: written.filter((w) => !workers.seen.some((s) => s.value === w.value)).slice(0, 20),
      resharded,
      ended,
      rows,
      failures: workers.failures.map((f) => String(f.error)),
      lost: workers.lost
    })
    yield* waitUntil("every written record is seen", Effect.sync(() => distinctSeen() >= written.length), 30_000, details)
    expect(new Set(workers.seen.map((s) => s.value))).toEqual(new Set(written.map((w) => w.value)))

    // ---- per key, first copies in write order
    const expected = writtenByKey(written)
    const actual = firstSeenByKey(workers.seen)
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort())
    for (const [key, values] of expected) expect({ key, values: actual.get(key) }).toEqual({ key, values })

    // ---- each resharded parent ended once, naming (some of) its children
    yield* waitUntil("the three parents ended", Effect.sync(() => parents.every((p) => ended.some((e) => e.shardId === p))), 10_000, details)
    expect(sorted(ended.map((e) => e.shardId))).toEqual(sorted(parents))
    for (const e of ended) {
      const kids = childrenOf.get(e.shardId)!
      if (options.childShards) {
        // From the GetRecords that ended the shard: the row names the children as it is ended.
        expect({ shardId: e.shardId, childShardIds: sorted(e.childShardIds) }).toEqual({ shardId: e.shardId, childShardIds: sorted(kids) })
      } else {
        // No ChildShards: the row names the children only if a shard sync listed them first.
        expect(e.childShardIds.every((id) => kids.includes(id))).toBe(true)
      }
    }

    // ---- the lease table: parents ended (naming their children) or cleaned up; children have rows
    const tableSettled = () => {
      const byId = new Map(rows.map((r) => [r.shardId, r]))
      const parentsDone = parents.every((p) => {
        const row = byId.get(p)
        return row === undefined || (row.checkpoint?._tag === "ShardEnd" && childrenOf.get(p)!.every((c) => row.childShardIds.includes(c)))
      })
      return parentsDone && children.every((c) => byId.has(c))
    }
    yield* waitUntil("the lease table shows the reshard", Effect.map(refreshRows, tableSettled), 10_000, details)
    // And stays so through further shard syncs: no parent comes back to be read again.
    const seenBefore = workers.seen.length
    yield* Effect.sleep("1500 millis")
    yield* refreshRows
    expect(tableSettled()).toBe(true)
    expect(workers.seen.slice(seenBefore).filter((x) => parents.includes(x.shardId))).toEqual([])
    for (const row of rows) {
      if (parents.includes(row.shardId)) {
        expect(row.checkpoint?._tag).toBe("ShardEnd")
      } else if (children.includes(row.shardId)) {
        const expectedParents = row.shardId === mergeChild ? mergeParents : [splitParent]
        expect(sorted(row.parentShardIds)).toEqual(sorted(expectedParents))
        expect(row.checkpoint?._tag).not.toBe("ShardEnd")
      } else {
        // The shards left alone stay open.
        expect(original.has(row.shardId)).toBe(true)
        expect(row.checkpoint?._tag).not.toBe("ShardEnd")
      }
    }
    if (options.childShards) {
      // The service named the children as each parent ended.
      for (const p of parents) {
        expect(childShardsRead.some((c) => c.shardId === p && sorted(c.children).join() === sorted(childrenOf.get(p)!).join())).toBe(true)
      }
    } else {
      expect(childShardsRead).toEqual([])
    }

    yield* workers.stop("w1")
    yield* workers.stop("w2")
    expect(workers.failures).toEqual([])
    return { records: written.length, seen: workers.seen.length }
  }).pipe(Effect.scoped, Effect.provide(LeaseStore.layerMemory))

/** Runs `runCase` as a fast-check property: `numRuns` scenarios of at most `maxRecords` records, no shrinking. */
const property = (label: string, options: CaseOptions, numRuns: number, maxRecords: number) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<Kinesis>()
    const run = Runtime.runPromise(runtime)
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(scenarios(maxRecords), async (scenario) => {
          await run(runCase(label, scenario, options))
        }),
        // A case takes seconds: a failure is reported as found (with its seed), not shrunk.
        { numRuns, endOnFailure: true }
      )
    )
  })

describe("lease coordination across a split and a merge (live clock)", () => {
  layer(LocalKinesis.layer({ host: "127.0.0.1", port: 0 }), { excludeTestServices: true, timeout: "30 seconds" })(
    "kinesalite (no ChildShards: children from ListShards)",
    (it) => {
      it.effect(
        "two workers read every record, per key in write order, and the lease table follows the reshard",
        () => property("kinesalite", { childShards: false }, 5, 500),
        { timeout: 90_000 }
      )
    }
  )

  layer(KinesisLocal.layer(), { excludeTestServices: true, timeout: "30 seconds" })(
    "kinesis-local (ChildShards at the shard end)",
    (it) => {
      it.effect(
        "two workers read every record, per key in write order; each ended parent's row names its children at once",
        () => property("kinesis-local", { childShards: true }, 5, 150),
        { timeout: 90_000 }
      )

      it.effect(
        "with the children never listed by ListShards, ChildShards alone lead the workers through the reshard",
        () =>
          runCase("hidden", {
            keys: ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"],
            picks: Array.from({ length: 120 }, (_, i) => (i * 5) % 8),
            reshardAt: 0.4,
            workersAt: 0,
            limit: 10,
            plan: { split: 1, merge: [2, 3] }
          }, { childShards: true, hideChildren: true }),
        { timeout: 30_000 }
      )
    }
  )
})
