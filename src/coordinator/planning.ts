import type { InitialPosition, ShardInfo } from "../consumer/index.js"
import { parentsOf } from "../consumer/lineage.js"
import { isEnded, type Lease, type NewLease } from "../lease/index.js"

// The coordinator's decisions as pure functions of what it read, so they can be tested alone.

/** What a worker knows when it decides which leases to take. */
export interface TakeInput {
  readonly leases: ReadonlyArray<Lease>
  readonly workerId: string
  /** Leases this worker holds now (a row naming it that is not here is a leftover: free to take). */
  readonly held: ReadonlySet<string>
  /** Whether a lease's counter has stood still for the failover time. */
  readonly expired: (lease: Lease) => boolean
  /**
   * Whether a lease's counter has stood still long enough (two renewals missed) that its owner may
   * be dead. While any is, nobody steals: the loads are about to change as its leases expire, and
   * a steal now would cut a live worker's batch short for nothing.
   */
  readonly suspect?: (lease: Lease) => boolean
  readonly maxLeasesForWorker: number
  readonly maxLeasesToStealAtOneTime: number
}

/** The leases to try to take this round, and whether each is a steal. */
export interface TakePlan {
  readonly take: ReadonlyArray<Lease>
  readonly steal: boolean
}

/** Spreads workers over different leases when several take at once: each starts at its own offset. */
const rotate = <A>(items: ReadonlyArray<A>, seed: string): ReadonlyArray<A> => {
  if (items.length === 0) return items
  let h = 0
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) >>> 0
  const at = h % items.length
  return [...items.slice(at), ...items.slice(0, at)]
}

/**
 * The KCL 2.x balancing rule: aim for ceil(active leases / workers), capped by
 * `maxLeasesForWorker`; take free leases (unowned, expired) first; only when none are free, steal
 * up to `maxLeasesToStealAtOneTime` from the busiest worker when it holds two or more leases
 * more than this one. Loads end within one lease of each other.
 */
export const planTakes = (input: TakeInput): TakePlan => {
  const active = input.leases.filter((l) => !isEnded(l))
  const free: Array<Lease> = []
  const byOwner = new Map<string, Array<Lease>>()
  let mine = 0
  for (const lease of active) {
    if (input.held.has(lease.shardId)) {
      mine++
      continue
    }
    if (lease.owner === undefined || lease.owner === input.workerId || input.expired(lease)) {
      free.push(lease)
      continue
    }
    const owned = byOwner.get(lease.owner) ?? []
    owned.push(lease)
    byOwner.set(lease.owner, owned)
  }
  const workers = byOwner.size + 1
  const target = Math.min(Math.ceil(active.length / workers), input.maxLeasesForWorker)
  const need = target - mine
  if (need <= 0) return { take: [], steal: false }
  if (free.length > 0) return { take: rotate(free, input.workerId).slice(0, need), steal: false }
  if (input.suspect !== undefined && [...byOwner.values()].some((owned) => owned.some(input.suspect!))) {
    return { take: [], steal: false }
  }
  let busiest: Array<Lease> = []
  for (const owned of byOwner.values()) if (owned.length > busiest.length) busiest = owned
  // Steal only across a gap of two or more, and at most half the gap: each steal narrows the
  // spread, so workers settle within one lease of each other instead of stealing back and forth.
  const steal = Math.min(need, input.maxLeasesToStealAtOneTime, Math.floor((busiest.length - mine) / 2))
  if (steal <= 0) return { take: [], steal: false }
  return { take: rotate(busiest, input.workerId).slice(0, steal), steal: true }
}

/** What a shard sync writes to the lease table. */
export interface SyncPlan {
  readonly create: ReadonlyArray<NewLease>
  readonly setChildren: ReadonlyArray<{ readonly shardId: string; readonly childShardIds: ReadonlyArray<string> }>
  /** Rows to delete: ended shards whose children all started, and shards gone from the stream. */
  readonly remove: ReadonlyArray<string>
}

/** Kinesis numbers shards in creation order (`shardId-000000000012`): compares by that number. */
const shardOrder = (shardId: string): number => {
  const match = /(\d+)$/.exec(shardId)
  return match === null ? -1 : Number(match[1])
}

/**
 * Turns a ListShards answer into lease table changes, as the KCL's shard syncer does.
 * - A scope's first sync creates rows starting at `initial` (under LATEST, closed shards get no row:
 *   nothing in them is new); later syncs create rows for new shards at TRIM_HORIZON, since
 *   everything in a shard born after the start is new.
 * - A closed shard gets no row once any descendant has one: it was read and cleaned up before.
 * - Rows learn their children from the listing's parent ids (a service that names ChildShards
 *   writes them at the shard's end, earlier).
 * - Ended rows are deleted once every child has started (holds a checkpoint), when `cleanup`.
 * - A row whose shard is not listed, though older than the newest listed shard, left the stream
 *   (retention): it is deleted, so it cannot hold its children back.
 */
export const planShardSync = (
  shards: ReadonlyArray<ShardInfo>,
  leases: ReadonlyArray<Lease>,
  initial: InitialPosition,
  cleanup: boolean
): SyncPlan => {
  const rows = new Map(leases.map((l) => [l.shardId, l]))
  const listed = new Map(shards.map((s) => [s.shardId, s]))
  const children = new Map<string, Array<string>>()
  for (const shard of shards) {
    for (const parent of parentsOf(shard)) {
      const list = children.get(parent) ?? []
      list.push(shard.shardId)
      children.set(parent, list)
    }
  }
  // Children named only by ChildShards (a listing may lag behind) count too.
  for (const lease of leases) {
    for (const parent of lease.parentShardIds) {
      const list = children.get(parent) ?? []
      if (!list.includes(lease.shardId)) list.push(lease.shardId)
      children.set(parent, list)
    }
  }
  /** Whether any child, grandchild, ... has a row: then the shard was read and cleaned up before. */
  const hasDescendantRow = (shardId: string): boolean => {
    const stack = [...(children.get(shardId) ?? [])]
    const visited = new Set<string>()
    while (stack.length > 0) {
      const c = stack.pop()!
      if (visited.has(c)) continue
      visited.add(c)
      if (rows.has(c)) return true
      stack.push(...(children.get(c) ?? []))
    }
    return false
  }
  const firstSync = leases.length === 0
  const create: Array<NewLease> = []
  for (const shard of shards) {
    if (rows.has(shard.shardId)) continue
    const kids = children.get(shard.shardId) ?? []
    if (shard.closed && hasDescendantRow(shard.shardId)) continue
    if (firstSync && initial === "LATEST" && shard.closed) continue
    create.push({
      shardId: shard.shardId,
      startAt: firstSync ? initial : "TRIM_HORIZON",
      parentShardIds: parentsOf(shard),
      childShardIds: kids
    })
  }
  const setChildren: Array<{ shardId: string; childShardIds: ReadonlyArray<string> }> = []
  for (const lease of leases) {
    const kids = children.get(lease.shardId)
    if (kids !== undefined && kids.some((k) => !lease.childShardIds.includes(k))) {
      setChildren.push({ shardId: lease.shardId, childShardIds: [...new Set([...lease.childShardIds, ...kids])] })
    }
  }
  const newestListed = Math.max(-1, ...shards.map((s) => shardOrder(s.shardId)))
  const remove: Array<string> = []
  for (const lease of leases) {
    const gone = !listed.has(lease.shardId) && shardOrder(lease.shardId) < newestListed
    const kids = [...new Set([...lease.childShardIds, ...(children.get(lease.shardId) ?? [])])]
    const done =
      cleanup && isEnded(lease) && kids.length > 0 && kids.every((k) => rows.get(k)?.checkpoint !== undefined)
    if (gone || done) remove.push(lease.shardId)
  }
  return { create, setChildren, remove }
}

/** Whether a lease's shard may be read now: every parent is ended or has no row (cleaned up, or gone). */
export const parentsDone = (lease: Lease, rows: ReadonlyMap<string, Lease>): boolean =>
  lease.parentShardIds.every((p) => {
    const parent = rows.get(p)
    return parent === undefined || isEnded(parent)
  })
