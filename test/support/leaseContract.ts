/**
 * The lease store contract: every LeaseStore layer (memory, SQLite, DynamoDB) must pass the same
 * tests. Each test uses scopes of its own, so one store serves the whole file.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Either, type Layer } from "effect"
import * as fc from "fast-check"
import { Checkpoint } from "../../src/checkpoint/index.js"
import {
  type Lease,
  LeaseLost,
  type LeaseScope,
  LeaseStore,
  type LeaseStoreApi
} from "../../src/lease/index.js"
import { LeaseTransition, newLease, type StateRef } from "../../src/lease/Lease.js"
import {
  expectedChunks,
  expectOnlyChunksOf,
  leaseStateContract,
  StateChunks,
  stateBytes,
  type StateSizes
} from "../lease-state-contract.js"

export { StateChunks, type StateSizes } from "../lease-state-contract.js"

let scopes = 0
/** A scope no other test uses; names with `:`, `/` and `#` as stream ARNs and users' names have them. */
export const freshScope = (label = "app"): LeaseScope => ({
  applicationName: `${label}#${++scopes}:${Math.random().toString(36).slice(2, 8)}`,
  streamName: `arn:aws:kinesis:eu-west-1:123456789012:stream/orders-${scopes}`
})

const shard = (i: number) => `shardId-${String(i).padStart(12, "0")}`

const lostOf = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    expect(e).toBeInstanceOf(LeaseLost)
    return e as LeaseLost
  }))

/**
 * The contract, run against `store`; `StateChunks` shows the store's state chunks, which `sizes`
 * (small, so tests reach chunks) say where to expect.
 */
export const leaseStoreContract = <E>(name: string, store: Layer.Layer<LeaseStore | StateChunks, E>, sizes: StateSizes) =>
  layer(store, { excludeTestServices: true, timeout: "60 seconds" })(`LeaseStore contract: ${name}`, (it) => {
    it.effect("creates a row once, with every field as given", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const scope = freshScope()
        const at = new Date(1_700_000_000_123)
        expect(yield* leases.create(scope, { shardId: shard(2), startAt: { atTimestamp: at }, parentShardIds: [shard(0), shard(1)] })).toBe(true)
        expect(yield* leases.create(scope, { shardId: shard(2), startAt: "LATEST", parentShardIds: [] })).toBe(false)
        expect(yield* leases.create(scope, { shardId: shard(1), startAt: "LATEST", parentShardIds: [], checkpoint: Checkpoint.shardEnd, childShardIds: [shard(2)] })).toBe(true)
        const all = yield* leases.list(scope)
        expect(all.map((l) => l.shardId)).toEqual([shard(1), shard(2)])
        expect(all[1]).toEqual({
          shardId: shard(2),
          owner: undefined,
          counter: 0,
          checkpoint: undefined,
          startAt: { atTimestamp: at },
          parentShardIds: [shard(0), shard(1)],
          childShardIds: [],
          ownerSwitchesSinceCheckpoint: 0
        } satisfies Lease)
        expect(all[0]!.checkpoint).toEqual(Checkpoint.shardEnd)
        expect(all[0]!.childShardIds).toEqual([shard(2)])
        expect(yield* leases.get(scope, shard(2))).toEqual(all[1])
        expect(yield* leases.get(scope, shard(9))).toBeUndefined()
      }))

    it.effect("keeps scopes apart: the same shard id under two applications and two streams", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const a = freshScope()
        const b = { ...a, applicationName: `${a.applicationName}-other` }
        const c = { ...a, streamName: `${a.streamName}-other` }
        for (const s of [a, b, c]) yield* leases.create(s, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
        yield* leases.take(a, shard(0), { owner: undefined, counter: 0 }, "w1")
        expect((yield* leases.get(b, shard(0)))?.owner).toBeUndefined()
        expect((yield* leases.get(c, shard(0)))?.owner).toBeUndefined()
        yield* leases.delete(b, shard(0))
        expect(yield* leases.list(b)).toEqual([])
        expect((yield* leases.list(a)).length).toBe(1)
        expect((yield* leases.list(c)).length).toBe(1)
      }))

    it.effect("listScopes answers each scope with leases once, in order; not emptied scopes nor lone state chunks", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const chunks = yield* StateChunks
        const a = freshScope()
        const b = { ...a, applicationName: `${a.applicationName}-other` }
        const c = { ...a, streamName: `${a.streamName}-other` }
        // Names needing escapes in the stores' keys.
        const quoted = { applicationName: `${a.applicationName} "q" \\ é`, streamName: "orders#state" }
        const emptied = freshScope()
        const chunksOnly = freshScope()
        for (const s of [a, a, b, c, quoted, emptied]) yield* leases.create(s, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
        yield* leases.create(a, { shardId: shard(1), startAt: "TRIM_HORIZON", parentShardIds: [] })
        // A chunked state beside a's rows, and chunks without any row.
        const taken = yield* leases.take(a, shard(0), { owner: undefined, counter: 0 }, "w1")
        yield* leases.checkpoint(a, { shardId: shard(0), owner: "w1", counter: taken.counter }, Checkpoint.sequence("1"), undefined, stateBytes(3 * sizes.chunkBytes, 1))
        yield* chunks.plant(chunksOnly, shard(0), "v1", 0)
        yield* leases.delete(emptied, shard(0))

        const all = yield* leases.listScopes()
        const keys = all.map((s) => JSON.stringify([s.applicationName, s.streamName]))
        expect(new Set(keys).size).toBe(keys.length)
        expect(all).toEqual([...all].sort((x, y) =>
          x.applicationName < y.applicationName ? -1 : x.applicationName > y.applicationName ? 1 : x.streamName < y.streamName ? -1 : x.streamName > y.streamName ? 1 : 0))
        const mine = [a, b, c, quoted, emptied, chunksOnly]
        const same = (x: LeaseScope, y: LeaseScope) => x.applicationName === y.applicationName && x.streamName === y.streamName
        expect(all.filter((s) => mine.some((m) => same(m, s)))).toEqual([a, c, quoted, b])
      }))

    it.effect("take, renew, checkpoint and release are compare-and-set on owner and counter", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const scope = freshScope()
        const id = shard(0)
        yield* leases.create(scope, { shardId: id, startAt: "TRIM_HORIZON", parentShardIds: [] })
        const taken = yield* leases.take(scope, id, { owner: undefined, counter: 0 }, "w1")
        expect([taken.owner, taken.counter, taken.ownerSwitchesSinceCheckpoint]).toEqual(["w1", 1, 1])
        // A second taker with the same (now stale) view loses.
        const stale = yield* lostOf(leases.take(scope, id, { owner: undefined, counter: 0 }, "w2"))
        expect(stale.current).toEqual({ owner: "w1", counter: 1 })
        expect(stale.operation).toBe("take")

        const renewed = yield* leases.renew(scope, { shardId: id, owner: "w1", counter: 1 })
        expect(renewed.counter).toBe(2)
        yield* lostOf(leases.renew(scope, { shardId: id, owner: "w1", counter: 1 }))
        yield* lostOf(leases.renew(scope, { shardId: id, owner: "w2", counter: 2 }))

        const checkpointed = yield* leases.checkpoint(scope, { shardId: id, owner: "w1", counter: 2 }, Checkpoint.sequence("49590338271490256608559692538361571095921575989136588898", 3))
        expect(checkpointed.counter).toBe(2)
        expect(checkpointed.checkpoint).toEqual(Checkpoint.sequence("49590338271490256608559692538361571095921575989136588898", 3))
        expect(checkpointed.ownerSwitchesSinceCheckpoint).toBe(0)

        // w2 steals; w1 is now a zombie and can neither checkpoint nor renew nor release.
        const stolen = yield* leases.take(scope, id, { owner: "w1", counter: 2 }, "w2")
        expect([stolen.owner, stolen.counter, stolen.ownerSwitchesSinceCheckpoint]).toEqual(["w2", 3, 1])
        const zombie = yield* lostOf(leases.checkpoint(scope, { shardId: id, owner: "w1", counter: 2 }, Checkpoint.sequence("1")))
        expect(zombie.current).toEqual({ owner: "w2", counter: 3 })
        expect(zombie.message).toContain("w2")
        yield* lostOf(leases.release(scope, { shardId: id, owner: "w1", counter: 2 }))
        expect((yield* leases.get(scope, id))?.checkpoint).toEqual(checkpointed.checkpoint)

        const released = yield* leases.release(scope, { shardId: id, owner: "w2", counter: 3 })
        expect([released.owner, released.counter]).toEqual([undefined, 4])
        const again = yield* leases.take(scope, id, { owner: undefined, counter: 4 }, "w2")
        // Taking back a lease one held before the release is not a switch... of owner from nobody it is.
        expect([again.owner, again.counter, again.ownerSwitchesSinceCheckpoint]).toEqual(["w2", 5, 2])
        const renewedBySelf = yield* leases.take(scope, id, { owner: "w2", counter: 5 }, "w2")
        expect(renewedBySelf.ownerSwitchesSinceCheckpoint).toBe(2)
      }))

    it.effect("the shard end checkpoint records the children; setChildren and delete need no ownership", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const scope = freshScope()
        yield* leases.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
        yield* leases.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
        const ended = yield* leases.checkpoint(scope, { shardId: shard(0), owner: "w1", counter: 1 }, Checkpoint.shardEnd, [shard(1), shard(2)])
        expect(ended.checkpoint).toEqual(Checkpoint.shardEnd)
        expect(ended.childShardIds).toEqual([shard(1), shard(2)])
        yield* leases.setChildren(scope, shard(0), [shard(3)])
        expect((yield* leases.get(scope, shard(0)))?.childShardIds).toEqual([shard(3)])
        yield* leases.setChildren(scope, shard(7), [shard(3)])
        expect(yield* leases.get(scope, shard(7))).toBeUndefined()
        yield* leases.delete(scope, shard(0))
        yield* leases.delete(scope, shard(0))
        expect(yield* leases.list(scope)).toEqual([])
        const gone = yield* lostOf(leases.renew(scope, { shardId: shard(0), owner: "w1", counter: 1 }))
        expect(gone.current).toBeUndefined()
        yield* lostOf(leases.take(scope, shard(0), { owner: "w1", counter: 1 }, "w2"))
      }))

    it.effect("of many concurrent takers with the same view, exactly one wins", () =>
      Effect.gen(function* () {
        const leases = yield* LeaseStore
        const scope = freshScope()
        yield* leases.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
        for (let round = 0; round < 5; round++) {
          const current = (yield* leases.get(scope, shard(0)))!
          const results = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => `w${i}`),
            (w) => Effect.either(leases.take(scope, shard(0), { owner: current.owner, counter: current.counter }, w)),
            { concurrency: "unbounded" }
          )
          const winners = results.filter(Either.isRight)
          expect(winners.length).toBe(1)
          const after = (yield* leases.get(scope, shard(0)))!
          expect(after.counter).toBe(current.counter + 1)
          expect(after.owner).toBe(winners[0]!.right.owner)
        }
      }))

    it.effect("random operation sequences answer exactly as the reference transitions do, state included", () =>
      Effect.gen(function* () {
        const context = yield* Effect.context<LeaseStore | StateChunks>()
        const run = (ops: ReadonlyArray<Op>) => Effect.runPromise(Effect.provide(matchesModel(sizes, ops), context))
        yield* Effect.promise(() => fc.assert(fc.asyncProperty(operations(sizes), run), { numRuns: 15 }))
      }))

    leaseStateContract(it, sizes, freshScope)
  })

const owners = fc.constantFrom("w1", "w2", "w3")
const shards = fc.integer({ min: 0, max: 2 }).map(shard)
const counters = fc.integer({ min: 0, max: 4 })
type Op =
  | { op: "create"; shardId: string; ended: boolean }
  | { op: "take"; shardId: string; expectedOwner: string | undefined; counter: number; owner: string; fromCurrent: boolean }
  | { op: "renew" | "release"; shardId: string; owner: string; counter: number; fromCurrent: boolean }
  | {
    op: "checkpoint"
    shardId: string
    owner: string
    counter: number
    fromCurrent: boolean
    seq: number
    end: boolean
    /** The state's size: undefined for none given, 0 to clear. */
    state: number | undefined
  }
  | { op: "delete"; shardId: string }
  | { op: "setChildren"; shardId: string; children: number }

const operations = (sizes: StateSizes) => fc.array(
  fc.oneof(
    fc.record({ op: fc.constant("create" as const), shardId: shards, ended: fc.boolean() }),
    fc.record({ op: fc.constant("take" as const), shardId: shards, expectedOwner: fc.option(owners, { nil: undefined }), counter: counters, owner: owners, fromCurrent: fc.boolean() }),
    fc.record({ op: fc.constantFrom("renew" as const, "release" as const), shardId: shards, owner: owners, counter: counters, fromCurrent: fc.boolean() }),
    fc.record({
      op: fc.constant("checkpoint" as const),
      shardId: shards,
      owner: owners,
      counter: counters,
      fromCurrent: fc.boolean(),
      seq: fc.nat(),
      end: fc.boolean(),
      state: fc.option(fc.integer({ min: 0, max: 3 * sizes.chunkBytes + 2 }), { nil: undefined, freq: 2 })
    }),
    fc.record({ op: fc.constant("delete" as const), shardId: shards }),
    fc.record({ op: fc.constant("setChildren" as const), shardId: shards, children: fc.integer({ min: 0, max: 2 }) })
  ),
  { maxLength: 25 }
)

/**
 * Runs `ops` against the store and against a map driven by LeaseTransition; both must agree at
 * every step, on the rows, on the states they point to and on the chunks left in the store.
 */
const matchesModel = (sizes: StateSizes, ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    const leases: LeaseStoreApi = yield* LeaseStore
    const scope = freshScope("model")
    const model = new Map<string, Lease>()
    const states = new Map<string, Uint8Array>()
    const apply = (id: string, t: ReturnType<typeof LeaseTransition.renew>) => {
      if (t._tag === "Ok") model.set(id, t.lease)
      return t
    }
    for (const o of ops) {
      const current = model.get(o.shardId)
      switch (o.op) {
        case "create": {
          const init = { shardId: o.shardId, startAt: "TRIM_HORIZON" as const, parentShardIds: [], ...(o.ended ? { checkpoint: Checkpoint.shardEnd } : {}) }
          const created = yield* leases.create(scope, init)
          expect(created).toBe(current === undefined)
          if (current === undefined) model.set(o.shardId, newLease(init))
          break
        }
        case "delete":
          yield* leases.delete(scope, o.shardId)
          model.delete(o.shardId)
          states.delete(o.shardId)
          break
        case "setChildren": {
          const children = Array.from({ length: o.children }, (_, i) => shard(10 + i))
          yield* leases.setChildren(scope, o.shardId, children)
          if (current !== undefined) model.set(o.shardId, { ...current, childShardIds: children })
          break
        }
        default: {
          // Half the time use the row's real owner and counter, so writes also succeed.
          const real = o.fromCurrent && current !== undefined
          const counter = real ? current.counter : o.counter
          const held = { shardId: o.shardId, owner: real && o.op !== "take" ? current.owner ?? o.owner : o.owner, counter }
          let expected
          let actual
          if (o.op === "take") {
            const expectedOwner = real ? current.owner : o.expectedOwner
            expected = apply(o.shardId, LeaseTransition.take(scope, o.shardId, current, { owner: expectedOwner, counter }, o.owner))
            actual = yield* Effect.either(leases.take(scope, o.shardId, { owner: expectedOwner, counter }, o.owner))
          } else if (o.op === "checkpoint") {
            const cp = o.end ? Checkpoint.shardEnd : Checkpoint.sequence(String(o.seq), o.seq % 3)
            const data = o.state === undefined ? undefined : stateBytes(o.state, o.seq)
            actual = yield* Effect.either(leases.checkpoint(scope, held, cp, undefined, data))
            // The version is the store's to choose (fresh, random): taken from its answer.
            const chunks = o.state === undefined ? undefined : expectedChunks(sizes, o.state)
            const version = Either.isRight(actual) ? actual.right.state?.version ?? "none" : "none"
            const ref: StateRef | null | undefined = o.state === undefined
              ? undefined
              : chunks === undefined
                ? null
                : { version, bytes: o.state, chunks }
            expected = apply(o.shardId, LeaseTransition.checkpoint(scope, current, held, cp, undefined, ref))
            if (expected._tag === "Ok" && data !== undefined) {
              if (data.length === 0) states.delete(o.shardId)
              else states.set(o.shardId, data)
            }
          } else {
            expected = apply(o.shardId, LeaseTransition[o.op](scope, current, held))
            actual = yield* Effect.either(leases[o.op](scope, held))
          }
          if (expected._tag === "Ok") expect(Either.getOrThrow(actual)).toEqual(expected.lease)
          else {
            expect(Either.isLeft(actual)).toBe(true)
            const error = (actual as Either.Left<LeaseLost, Lease>).left
            expect(error).toBeInstanceOf(LeaseLost)
            expect(error.current).toEqual(expected.error.current)
          }
        }
      }
      const rows = yield* leases.list(scope)
      expect(rows).toEqual([...model.values()].sort((a, b) => (a.shardId < b.shardId ? -1 : 1)))
      for (const row of rows) expect(yield* leases.loadState(scope, row)).toEqual(states.get(row.shardId))
      for (const id of [0, 1, 2].map(shard)) yield* expectOnlyChunksOf(scope, id, model.get(id)?.state)
    }
  })
