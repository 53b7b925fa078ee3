import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { LeaseStore } from "../src/lease/index.js"
import { makeInspectableMemoryLeaseStore } from "../src/lease/MemoryLeaseStore.js"
import { freshScope, leaseStoreContract, StateChunks } from "./support/leaseContract.js"

const chunkBytes = 16

/** A memory store with small chunks, and its chunk map behind the contract's probe. */
const inspectable = Layer.effectContext(
  Effect.map(makeInspectableMemoryLeaseStore({ stateChunkBytes: chunkBytes }), ({ chunks, store }) =>
    Context.make(LeaseStore, store).pipe(Context.add(StateChunks, {
      list: (scope, shardId) => Effect.sync(() => chunks.list(scope, shardId)),
      plant: (scope, shardId, version, index) => Effect.sync(() => chunks.put(scope, shardId, version, index, new Uint8Array([1]))),
      drop: (scope, shardId, version, index) => Effect.sync(() => chunks.remove(scope, shardId, version, index))
    })))
)

leaseStoreContract("memory", inspectable, { inlineBytes: chunkBytes, chunkBytes })

it.effect("LeaseStore.layerMemory keeps states of a few MiB (in 1 MiB chunks by default)", () =>
  Effect.gen(function* () {
    const leases = yield* LeaseStore
    const scope = freshScope()
    const shardId = "shardId-000000000000"
    yield* leases.create(scope, { shardId, startAt: "LATEST", parentShardIds: [] })
    const taken = yield* leases.take(scope, shardId, { owner: undefined, counter: 0 }, "w1")
    const data = Uint8Array.from({ length: 3 * 1024 * 1024 + 5 }, (_, i) => i % 256)
    const written = yield* leases.checkpoint(scope, { shardId, owner: "w1", counter: taken.counter }, Checkpoint.sequence("1"), undefined, data)
    expect(written.state).toMatchObject({ bytes: data.length, chunks: 4 })
    // Compared as Buffers: toEqual walks 3 MiB element by element for seconds.
    const loaded = yield* leases.loadState(scope, written)
    expect(Buffer.from(loaded!).equals(data)).toBe(true)
  }).pipe(Effect.provide(LeaseStore.layerMemory)))

it.effect("a chunk size that is not a whole number of bytes >= 1 is a defect", () =>
  Effect.gen(function* () {
    for (const stateChunkBytes of [0, 1.5, -3]) {
      const exit = yield* Effect.exit(makeInspectableMemoryLeaseStore({ stateChunkBytes }))
      expect(exit._tag).toBe("Failure")
    }
  }))
