import { Effect, Ref } from "effect"
import {
  type Lease,
  type LeaseScope,
  LeaseStoreError,
  LeaseTransition,
  newLease,
  scopeKey,
  scopesOfKeys,
  type StateRef,
  type Transition
} from "./Lease.js"
import { checkInline, checkStateBytes, joinChunks, type StateLayout, type StateWrite, writeState } from "./LeaseState.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

/** How the memory lease store keeps operator state. */
export interface MemoryLeaseStoreOptions {
  /**
   * States up to this many bytes stay inline in the row; larger ones are cut into chunks of this
   * size, as the durable stores do. Default 1 MiB; tests use a few bytes to exercise chunks.
   */
  readonly stateChunkBytes?: number
}

/** The state chunks of a memory store, seen and changed from outside: for tests only. */
export interface MemoryStateChunks {
  /** The chunks stored for a shard, every version. */
  readonly list: (scope: LeaseScope, shardId: string) => ReadonlyArray<{ readonly version: string; readonly index: number }>
  /** Stores a chunk as a crashed writer would leave it. */
  readonly put: (scope: LeaseScope, shardId: string, version: string, index: number, data: Uint8Array) => void
  readonly remove: (scope: LeaseScope, shardId: string, version: string, index: number) => void
}

const defaultStateChunkBytes = 1024 * 1024

/** A row with its inline state, written together. */
interface Row {
  readonly lease: Lease
  readonly inline: Uint8Array | undefined
}

type Table = ReadonlyMap<string, ReadonlyMap<string, Row>>

const byShard = (a: Lease, b: Lease) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0)

/** A lease table in memory, applying {@link LeaseTransition} atomically. */
export const makeMemoryLeaseStore = (options?: MemoryLeaseStoreOptions): Effect.Effect<LeaseStoreApi> =>
  Effect.map(makeInspectableMemoryLeaseStore(options), ({ store }) => store)

/** {@link makeMemoryLeaseStore} with a view of its state chunks, for tests. */
export const makeInspectableMemoryLeaseStore = (
  options?: MemoryLeaseStoreOptions
): Effect.Effect<{ readonly store: LeaseStoreApi; readonly chunks: MemoryStateChunks }> =>
  Effect.gen(function* () {
    const chunkBytes = options?.stateChunkBytes ?? defaultStateChunkBytes
    const invalid = checkStateBytes("stateChunkBytes", chunkBytes)
    if (invalid !== undefined) return yield* Effect.dieMessage(invalid)
    const layout: StateLayout = { inlineBytes: chunkBytes, chunkBytes }
    const table = yield* Ref.make<Table>(new Map())
    // Chunks are written outside the rows' atomic updates, as in the durable stores: shard -> version -> index -> bytes.
    const stateChunks = new Map<string, Map<string, Map<number, Uint8Array>>>()
    const shardKey = (scope: LeaseScope, shardId: string) => JSON.stringify([scopeKey(scope), shardId])
    const versionsOf = (scope: LeaseScope, shardId: string) => {
      const key = shardKey(scope, shardId)
      const found = stateChunks.get(key)
      if (found !== undefined) return found
      const created = new Map<string, Map<number, Uint8Array>>()
      stateChunks.set(key, created)
      return created
    }
    const chunks: MemoryStateChunks = {
      list: (scope, shardId) =>
        [...(stateChunks.get(shardKey(scope, shardId)) ?? new Map<string, Map<number, Uint8Array>>())].flatMap(([version, parts]) =>
          [...parts.keys()].map((index) => ({ version, index }))),
      put: (scope, shardId, version, index, data) => {
        const versions = versionsOf(scope, shardId)
        versions.set(version, (versions.get(version) ?? new Map<number, Uint8Array>()).set(index, data.slice()))
      },
      remove: (scope, shardId, version, index) => void stateChunks.get(shardKey(scope, shardId))?.get(version)?.delete(index)
    }

    const error = (operation: string, reason: string) => new LeaseStoreError({ operation, store: "memory", reason })
    const rows = (scope: LeaseScope) => Effect.map(Ref.get(table), (all) => all.get(scopeKey(scope)) ?? new Map<string, Row>())
    const put = (scope: LeaseScope, f: (rows: Map<string, Row>) => void) =>
      Ref.update(table, (all) => {
        const scoped = new Map(all.get(scopeKey(scope)) ?? [])
        f(scoped)
        return new Map(all).set(scopeKey(scope), scoped)
      })
    /** A conditional write; `state` undefined keeps the inline bytes, else they become the write's. */
    const write = (scope: LeaseScope, shardId: string, transition: (current: Lease | undefined) => Transition, state?: StateWrite) =>
      Ref.modify(table, (all): [readonly [Transition, StateRef | undefined], Table] => {
        const scoped = all.get(scopeKey(scope))
        const current = scoped?.get(shardId)
        const result = transition(current?.lease)
        if (result._tag === "Lost") return [[result, undefined], all]
        const inline = state === undefined ? current?.inline : state?.inline?.slice()
        const next = new Map(all).set(scopeKey(scope), new Map(scoped ?? []).set(shardId, { lease: result.lease, inline }))
        return [[result, current?.lease.state], next]
      }).pipe(Effect.flatMap(([r, previous]) => (r._tag === "Ok" ? Effect.succeed({ lease: r.lease, previous }) : Effect.fail(r.error))))
    const leaseOf = <E>(effect: Effect.Effect<{ readonly lease: Lease }, E>) => Effect.map(effect, (w) => w.lease)

    const store: LeaseStoreApi = {
      name: "memory",
      list: (scope) => Effect.map(rows(scope), (r) => [...r.values()].map((row) => row.lease).sort(byShard)),
      // A scope whose rows were all deleted keeps an empty map: not a scope with leases.
      listScopes: () => Effect.map(Ref.get(table), (all) => scopesOfKeys([...all].filter(([, r]) => r.size > 0).map(([key]) => key))),
      get: (scope, shardId) => Effect.map(rows(scope), (r) => r.get(shardId)?.lease),
      create: (scope, lease) =>
        Ref.modify(table, (all): [boolean, Table] => {
          const scoped = all.get(scopeKey(scope))
          if (scoped?.has(lease.shardId) === true) return [false, all]
          const row: Row = { lease: newLease(lease), inline: undefined }
          return [true, new Map(all).set(scopeKey(scope), new Map(scoped ?? []).set(lease.shardId, row))]
        }),
      take: (scope, shardId, expected, newOwner) =>
        leaseOf(write(scope, shardId, (current) => LeaseTransition.take(scope, shardId, current, expected, newOwner))),
      renew: (scope, held) => leaseOf(write(scope, held.shardId, (current) => LeaseTransition.renew(scope, current, held))),
      checkpoint: (scope, held, checkpoint, childShardIds, state) => {
        const transition = (ref: StateRef | null | undefined) => (current: Lease | undefined) =>
          LeaseTransition.checkpoint(scope, current, held, checkpoint, childShardIds, ref)
        if (state === undefined) return leaseOf(write(scope, held.shardId, transition(undefined)))
        return writeState(held.shardId, held, layout, state, {
          writeChunks: (version, parts) =>
            Effect.sync(() => parts.forEach((data, index) => chunks.put(scope, held.shardId, version, index, data))),
          deleteChunks: (ref) => Effect.sync(() => void stateChunks.get(shardKey(scope, held.shardId))?.delete(ref.version)),
          flip: (w) => write(scope, held.shardId, transition(w === null ? null : w.ref), w),
          current: store.get(scope, held.shardId)
        })
      },
      release: (scope, held) => leaseOf(write(scope, held.shardId, (current) => LeaseTransition.release(scope, current, held))),
      loadState: (scope, lease) => {
        const ref = lease.state
        if (ref === undefined) return Effect.succeed(undefined)
        if (ref.chunks === 0) {
          return Effect.flatMap(rows(scope), (r) => {
            const row = r.get(lease.shardId)
            const found = checkInline(lease.shardId, ref, { version: row?.lease.state?.version, data: row?.inline })
            return typeof found === "string" ? Effect.fail(error("loadState", found)) : Effect.succeed(found.slice())
          })
        }
        return Effect.suspend(() => {
          const parts = stateChunks.get(shardKey(scope, lease.shardId))?.get(ref.version) ?? new Map<number, Uint8Array>()
          const joined = joinChunks(lease.shardId, ref, [...parts].map(([index, data]) => ({ index, data })))
          return typeof joined === "string" ? Effect.fail(error("loadState", joined)) : Effect.succeed(joined)
        })
      },
      setChildren: (scope, shardId, childShardIds) =>
        put(scope, (r) => {
          const current = r.get(shardId)
          if (current !== undefined) r.set(shardId, { ...current, lease: { ...current.lease, childShardIds: [...childShardIds] } })
        }),
      delete: (scope, shardId) =>
        Effect.zipRight(
          put(scope, (r) => void r.delete(shardId)),
          Effect.sync(() => void stateChunks.delete(shardKey(scope, shardId)))
        )
    }
    return { store, chunks }
  })
