import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Checkpoint, type Lease, planShardSync, planTakes, type ShardInfo } from "../src/index.js"
import { newLease } from "../src/lease/Lease.js"

const id = (i: number) => `shardId-${String(i).padStart(12, "0")}`
const lease = (i: number, owner: string | undefined, extra: Partial<Lease> = {}): Lease => ({
  ...newLease({ shardId: id(i), startAt: "TRIM_HORIZON", parentShardIds: [] }),
  owner,
  ...extra
})
const shard = (i: number, parents: ReadonlyArray<number> = [], closed = false): ShardInfo => ({
  shardId: id(i),
  parentShardId: parents[0] === undefined ? undefined : id(parents[0]),
  adjacentParentShardId: parents[1] === undefined ? undefined : id(parents[1]),
  startingHashKey: "0",
  endingHashKey: "1",
  closed
})

describe("planTakes (the KCL balancing rule)", () => {
  it("takes free leases up to its share before stealing, and steals one at a time from the busiest", () => {
    const leases = [lease(0, undefined), lease(1, "a"), lease(2, "a"), lease(3, "a"), lease(4, "b")]
    const base = { workerId: "c", held: new Set<string>(), expired: () => false, maxLeasesForWorker: Infinity, maxLeasesToStealAtOneTime: 1 }
    // 5 leases, 3 workers: the share is 2; one is free.
    expect(planTakes({ ...base, leases })).toEqual({ take: [leases[0]], steal: false })
    // With none free, it steals one from a (3 > 2).
    const taken = [lease(0, "c"), ...leases.slice(1)]
    const plan = planTakes({ ...base, leases: taken, held: new Set([id(0)]) })
    expect(plan.steal).toBe(true)
    expect(plan.take.length).toBe(1)
    expect(plan.take[0]!.owner).toBe("a")
    // Expired leases count as free; ended ones do not count at all.
    const expired = planTakes({ ...base, leases: [lease(0, "dead"), lease(1, "dead", { checkpoint: Checkpoint.shardEnd })], expired: (l) => l.owner === "dead" })
    expect(expired.take.map((l) => l.shardId)).toEqual([id(0)])
  })

  it("does not steal while another worker's lease looks abandoned (its leases are about to come free)", () => {
    const leases = [lease(0, "w1"), lease(1, "w1"), lease(2, "w2"), lease(3, "w2"), lease(4, "w3"), lease(5, "w3"), lease(6, "w3"), lease(7, "w3")]
    const base = { leases, workerId: "w1", held: new Set([id(0), id(1)]), expired: () => false, maxLeasesForWorker: Infinity, maxLeasesToStealAtOneTime: 1 }
    expect(planTakes(base).steal).toBe(true)
    expect(planTakes({ ...base, suspect: (l) => l.owner === "w2" })).toEqual({ take: [], steal: false })
  })

  it("never takes past maxLeasesForWorker", () => {
    const leases = Array.from({ length: 6 }, (_, i) => lease(i, undefined))
    const plan = planTakes({ leases, workerId: "a", held: new Set(), expired: () => false, maxLeasesForWorker: 2, maxLeasesToStealAtOneTime: 1 })
    expect(plan.take.length).toBe(2)
  })

  it("property: any start, any order of rounds: every lease ends with a live worker, loads within one of each other", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.constantFrom<string | undefined>(undefined, "w0", "w1", "dead"), { maxLength: 24 }),
        fc.integer({ min: 1, max: 3 }),
        fc.infiniteStream(fc.nat()),
        (count, workerCount, initial, maxSteal, order) => {
          const workers = Array.from({ length: workerCount }, (_, i) => `w${i}`)
          const owners = Array.from({ length: count }, (_, i) => {
            const o = initial[i]
            return o === undefined || o === "dead" || workers.includes(o) ? o : undefined
          })
          const picks = order[Symbol.iterator]()
          for (let round = 0; round < count * workerCount * 4 + 20; round++) {
            const worker = workers[picks.next().value! % workerCount]!
            const leases = owners.map((o, i) => lease(i, o))
            const held = new Set(leases.filter((l) => l.owner === worker).map((l) => l.shardId))
            const plan = planTakes({ leases, workerId: worker, held, expired: (l) => l.owner === "dead", maxLeasesForWorker: Infinity, maxLeasesToStealAtOneTime: maxSteal })
            for (const l of plan.take) owners[Number(l.shardId.slice(-12))] = worker
          }
          // One more pass where every worker looks: nothing left to do.
          for (const worker of workers) {
            const leases = owners.map((o, i) => lease(i, o))
            const held = new Set(leases.filter((l) => l.owner === worker).map((l) => l.shardId))
            expect(planTakes({ leases, workerId: worker, held, expired: (l) => l.owner === "dead", maxLeasesForWorker: Infinity, maxLeasesToStealAtOneTime: maxSteal }).take).toEqual([])
          }
          expect(owners.every((o) => o !== undefined && workers.includes(o))).toBe(true)
          const loads = workers.map((w) => owners.filter((o) => o === w).length)
          expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("planShardSync (lease rows from ListShards)", () => {
  it("the first sync creates rows at the initial position; under LATEST closed shards get none", () => {
    const shards = [shard(0, [], true), shard(1, [0]), shard(2, [0])]
    const trim = planShardSync(shards, [], "TRIM_HORIZON", true)
    expect(trim.create.map((c) => [c.shardId, c.startAt, c.parentShardIds])).toEqual([
      [id(0), "TRIM_HORIZON", []],
      [id(1), "TRIM_HORIZON", [id(0)]],
      [id(2), "TRIM_HORIZON", [id(0)]]
    ])
    expect(trim.create[0]!.childShardIds).toEqual([id(1), id(2)])
    const latest = planShardSync(shards, [], "LATEST", true)
    expect(latest.create.map((c) => [c.shardId, c.startAt])).toEqual([[id(1), "LATEST"], [id(2), "LATEST"]])
  })

  it("later syncs create new shards at TRIM_HORIZON and tell parents their children", () => {
    const plan = planShardSync([shard(0, [], true), shard(1, [0])], [lease(0, "a")], "LATEST", true)
    expect(plan.create.map((c) => [c.shardId, c.startAt])).toEqual([[id(1), "TRIM_HORIZON"]])
    expect(plan.setChildren).toEqual([{ shardId: id(0), childShardIds: [id(1)] }])
    expect(plan.remove).toEqual([])
  })

  it("an ended parent is deleted once every child has a checkpoint, and is not created again", () => {
    const shards = [shard(0, [], true), shard(1, [0]), shard(2, [0])]
    const parent = lease(0, "a", { checkpoint: Checkpoint.shardEnd, childShardIds: [id(1), id(2)] })
    const waiting = planShardSync(shards, [parent, lease(1, "a", { checkpoint: Checkpoint.sequence("5") }), lease(2, "b")], "TRIM_HORIZON", true)
    expect(waiting.remove).toEqual([])
    const both = [parent, lease(1, "a", { checkpoint: Checkpoint.sequence("5") }), lease(2, "b", { checkpoint: Checkpoint.sequence("9") })]
    expect(planShardSync(shards, both, "TRIM_HORIZON", true).remove).toEqual([id(0)])
    expect(planShardSync(shards, both, "TRIM_HORIZON", false).remove).toEqual([])
    // Cleaned up: the closed parent is still listed, but its children have rows.
    expect(planShardSync(shards, both.slice(1), "TRIM_HORIZON", true).create).toEqual([])
  })

  it("after two generations of resharding, the cleaned-up grandparent is not created again", () => {
    const shards = [shard(0, [], true), shard(1, [0], true), shard(2, [0], true), shard(3, [1, 2])]
    const merged = { ...lease(3, "a", { checkpoint: Checkpoint.sequence("123") }), parentShardIds: [id(1), id(2)] }
    expect(planShardSync(shards, [merged], "TRIM_HORIZON", true).create).toEqual([])
  })

  it("a row whose shard left the listing is deleted, unless it is newer than the listing", () => {
    const plan = planShardSync([shard(1), shard(2)], [lease(0, "a"), lease(1, "a"), lease(7, undefined)], "TRIM_HORIZON", true)
    expect(plan.remove).toEqual([id(0)])
  })
})
