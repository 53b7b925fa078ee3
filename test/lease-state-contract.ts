/**
 * The operator state part of the lease store contract: every store keeps a shard's state with its
 * checkpoint, in one conditional write, and leaves no chunks behind. Run by `leaseStoreContract`.
 */
import { expect, type Vitest } from "@effect/vitest"
import { Context, Effect, FastCheck as fc } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { type HeldLease, LeaseLost, type LeaseScope, LeaseStore, LeaseStoreError, type StateRef } from "../src/lease/index.js"

/** Where a store under test puts states: inline up to `inlineBytes`, else chunks of `chunkBytes`. */
export interface StateSizes {
  readonly inlineBytes: number
  readonly chunkBytes: number
}

/** A chunk as stored: its version and index. */
export interface ChunkKey {
  readonly version: string
  readonly index: number
}

/** A store's state chunks seen from outside (a test-only hook or direct queries), to check what is left behind. */
export class StateChunks extends Context.Tag("test/StateChunks")<StateChunks, {
  /** Every chunk stored for the shard, any version. */
  readonly list: (scope: LeaseScope, shardId: string) => Effect.Effect<ReadonlyArray<ChunkKey>, unknown>
  /** Stores a chunk as a writer that crashed before its checkpoint would leave it. */
  readonly plant: (scope: LeaseScope, shardId: string, version: string, index: number) => Effect.Effect<void, unknown>
  /** Deletes one chunk. */
  readonly drop: (scope: LeaseScope, shardId: string, version: string, index: number) => Effect.Effect<void, unknown>
}>() {}

/** How many chunks a state of `size` bytes takes in the store (0: inline); undefined for no state. */
export const expectedChunks = (sizes: StateSizes, size: number): number | undefined =>
  size === 0 ? undefined : size <= sizes.inlineBytes ? 0 : Math.ceil(size / sizes.chunkBytes)

/** `size` bytes that differ with `seed`, so one state is never mistaken for another. */
export const stateBytes = (size: number, seed: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed * 7 + 1) % 251)

const byKey = (a: ChunkKey, b: ChunkKey) => (a.version === b.version ? a.index - b.index : a.version < b.version ? -1 : 1)

/** The chunks a row pointing at `ref` should leave in the store: its own, nothing else. */
export const chunksOf = (ref: StateRef | undefined): ReadonlyArray<ChunkKey> =>
  Array.from({ length: ref?.chunks ?? 0 }, (_, index) => ({ version: ref!.version, index }))

/** Checks that the store holds exactly the chunks of `ref` for the shard. */
export const expectOnlyChunksOf = (scope: LeaseScope, shardId: string, ref: StateRef | undefined) =>
  Effect.gen(function* () {
    const found = yield* Effect.flatMap(StateChunks, (c) => c.list(scope, shardId))
    expect([...found].sort(byKey)).toEqual(chunksOf(ref))
  })

const shard = (i: number) => `shardId-${String(i).padStart(12, "0")}`

/** A scope with one shard held by w1. */
const held = (freshScope: () => LeaseScope) =>
  Effect.gen(function* () {
    const leases = yield* LeaseStore
    const scope = freshScope()
    yield* leases.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
    const lease = yield* leases.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
    return { leases, scope, held: { shardId: shard(0), owner: "w1", counter: lease.counter } satisfies HeldLease }
  })

const lostOf = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    expect(e).toBeInstanceOf(LeaseLost)
    return e as LeaseLost
  }))

/** The state tests, inside the contract's layer. */
export const leaseStateContract = (
  it: Vitest.MethodsNonLive<LeaseStore | StateChunks, true>,
  sizes: StateSizes,
  freshScope: () => LeaseScope
) => {
  const { chunkBytes, inlineBytes } = sizes
  const seq = (i: number) => Checkpoint.sequence(String(1000 + i))

  /** Checkpoints `data` and checks the row, both reads of the state and the chunks left. */
  const commit = (scope: LeaseScope, at: HeldLease, i: number, data: Uint8Array) =>
    Effect.gen(function* () {
      const leases = yield* LeaseStore
      const written = yield* leases.checkpoint(scope, at, seq(i), undefined, data)
      const chunks = expectedChunks(sizes, data.length)
      if (chunks === undefined) expect(written.state).toBeUndefined()
      else {
        expect(written.state).toEqual({ version: expect.stringMatching(new RegExp(`^${at.counter}-[0-9a-f]+$`)), bytes: data.length, chunks })
      }
      expect(written.checkpoint).toEqual(seq(i))
      const row = (yield* leases.get(scope, at.shardId))!
      expect(row).toEqual(written)
      const expected = data.length === 0 ? undefined : data
      expect(yield* leases.loadState(scope, written)).toEqual(expected)
      expect(yield* leases.loadState(scope, row)).toEqual(expected)
      yield* expectOnlyChunksOf(scope, at.shardId, written.state)
      return written
    })

  it.effect.prop(
    "checkpointed state round-trips through loadState; only the current version's chunks stay",
    { sizes: fc.array(fc.integer({ min: 0, max: 3 * chunkBytes + 3 }), { minLength: 1, maxLength: 4 }) },
    ({ sizes: steps }) =>
      Effect.gen(function* () {
        const { held: at, scope } = yield* held(freshScope)
        const versions = new Set<string>()
        for (const [i, size] of steps.entries()) {
          const written = yield* commit(scope, at, i, stateBytes(size, i))
          if (written.state !== undefined) versions.add(written.state.version)
        }
        expect(versions.size).toBe(steps.filter((s) => s > 0).length)
      }),
    { fastCheck: { numRuns: 12 } }
  )

  it.effect("states at the inline and chunk boundaries round-trip", () =>
    Effect.gen(function* () {
      const { held: at, scope } = yield* held(freshScope)
      const boundaries = [1, inlineBytes, inlineBytes + 1, chunkBytes, chunkBytes + 1, 2 * chunkBytes, 3 * chunkBytes + 1, 0, 5]
      for (const [i, size] of boundaries.entries()) yield* commit(scope, at, i, stateBytes(size, i))
    }))

  it.effect("a checkpoint without state, and take, renew and release, leave the state as it was", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      const data = stateBytes(2 * chunkBytes + 1, 1)
      const first = yield* commit(scope, at, 1, data)
      const plain = yield* leases.checkpoint(scope, at, seq(2), [shard(1)])
      expect(plain.state).toEqual(first.state)
      expect(plain.childShardIds).toEqual([shard(1)])
      const renewed = yield* leases.renew(scope, at)
      const released = yield* leases.release(scope, { ...at, counter: renewed.counter })
      const taken = yield* leases.take(scope, at.shardId, { owner: undefined, counter: released.counter }, "w2")
      for (const row of [renewed, released, taken]) expect(row.state).toEqual(first.state)
      expect(yield* leases.loadState(scope, taken)).toEqual(data)
      yield* expectOnlyChunksOf(scope, at.shardId, first.state)
    }))

  it.effect("an empty state clears the state, inline or chunked", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      for (const [i, size] of [3 * chunkBytes, 1].entries()) {
        yield* commit(scope, at, 2 * i, stateBytes(size, i))
        const cleared = yield* commit(scope, at, 2 * i + 1, new Uint8Array(0))
        expect(cleared.state).toBeUndefined()
        expect(yield* leases.loadState(scope, cleared)).toBeUndefined()
      }
    }))

  it.effect("a checkpoint that lost the lease writes no state: the committed one stays readable, no chunks are left", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      const committed = stateBytes(2 * chunkBytes, 1)
      const first = yield* commit(scope, at, 1, committed)
      for (const size of [3 * chunkBytes, 1, 0]) {
        const lost = yield* lostOf(leases.checkpoint(scope, { ...at, counter: at.counter + 1 }, seq(9), undefined, stateBytes(size, 9)))
        expect(lost.operation).toBe("checkpoint")
        const row = (yield* leases.get(scope, at.shardId))!
        expect(row.state).toEqual(first.state)
        expect(row.checkpoint).toEqual(seq(1))
        expect(yield* leases.loadState(scope, row)).toEqual(committed)
        yield* expectOnlyChunksOf(scope, at.shardId, first.state)
      }
    }))

  it.effect("the next owner resumes from the last committed state; the old owner's late state is refused", () =>
    Effect.gen(function* () {
      const { held: w1, leases, scope } = yield* held(freshScope)
      yield* commit(scope, w1, 1, stateBytes(3 * chunkBytes, 1))
      const last = stateBytes(chunkBytes + 2, 2)
      const second = yield* commit(scope, w1, 2, last)
      const taken = yield* leases.take(scope, w1.shardId, { owner: "w1", counter: w1.counter }, "w2")
      expect(taken.state).toEqual(second.state)
      expect(yield* leases.loadState(scope, taken)).toEqual(last)
      yield* lostOf(leases.checkpoint(scope, w1, seq(3), undefined, stateBytes(2 * chunkBytes, 3)))
      yield* expectOnlyChunksOf(scope, w1.shardId, second.state)
      const w2 = { shardId: w1.shardId, owner: "w2", counter: taken.counter }
      yield* commit(scope, w2, 4, stateBytes(1, 4))
    }))

  it.effect("delete removes every version of the shard's state, orphans of crashed writers too", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      const chunks = yield* StateChunks
      yield* commit(scope, at, 1, stateBytes(2 * chunkBytes + 1, 1))
      yield* chunks.plant(scope, at.shardId, "9-0badc0de", 0)
      // Another shard's state is not touched.
      yield* leases.create(scope, { shardId: shard(1), startAt: "TRIM_HORIZON", parentShardIds: [] })
      const other = yield* leases.take(scope, shard(1), { owner: undefined, counter: 0 }, "w1")
      const kept = yield* commit(scope, { shardId: shard(1), owner: "w1", counter: other.counter }, 2, stateBytes(2 * chunkBytes, 2))
      yield* leases.delete(scope, at.shardId)
      expect(yield* chunks.list(scope, at.shardId)).toEqual([])
      expect(yield* leases.get(scope, at.shardId)).toBeUndefined()
      yield* expectOnlyChunksOf(scope, shard(1), kept.state)
      yield* leases.create(scope, { shardId: at.shardId, startAt: "TRIM_HORIZON", parentShardIds: [] })
      expect((yield* leases.get(scope, at.shardId))?.state).toBeUndefined()
    }))

  it.effect("a missing chunk or replaced inline state is a LeaseStoreError naming the version", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      const chunked = yield* commit(scope, at, 1, stateBytes(3 * chunkBytes, 1))
      yield* Effect.flatMap(StateChunks, (c) => c.drop(scope, at.shardId, chunked.state!.version, 1))
      const missing = yield* Effect.flip(leases.loadState(scope, chunked))
      expect(missing).toBeInstanceOf(LeaseStoreError)
      expect(missing.message).toContain(chunked.state!.version)
      expect(missing.message).toContain("chunk 1")

      const inline = yield* commit(scope, at, 2, stateBytes(1, 2))
      yield* commit(scope, at, 3, stateBytes(1, 3))
      const replaced = yield* Effect.flip(leases.loadState(scope, inline))
      expect(replaced).toBeInstanceOf(LeaseStoreError)
      expect(replaced.message).toContain(inline.state!.version)
    }))

  it.effect("a stored state is the caller's bytes at the time of the checkpoint, not a view of them", () =>
    Effect.gen(function* () {
      const { held: at, leases, scope } = yield* held(freshScope)
      for (const [i, size] of [1, 2 * chunkBytes].entries()) {
        const data = stateBytes(size, i)
        const written = yield* leases.checkpoint(scope, at, seq(i), undefined, data)
        const copy = data.slice()
        data.fill(0)
        const loaded = (yield* leases.loadState(scope, written))!
        expect(loaded).toEqual(copy)
        loaded.fill(0)
        expect(yield* leases.loadState(scope, written)).toEqual(copy)
      }
    }))
}
