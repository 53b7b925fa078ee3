import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { Checkpoint, CheckpointError, type CheckpointScope, CheckpointStore, makeFileStore } from "../src/checkpoint/index.js"
import { clicks, fileIn, scratchFolder, seq, shard0, shard1, shard2, storesUnderTest } from "./support/checkpointFiles.js"

const { freshDir } = scratchFolder("shardline-checkpoint-states-")
const stateDirOf = (path: string) => `${path}.state`

const orders: CheckpointScope = { applicationName: "app", streamName: "orders" }
const bytes = (text: string) => new TextEncoder().encode(text)
const none = new Map<string, Checkpoint>()
const states = (entries: ReadonlyArray<readonly [string, Uint8Array]>): ReadonlyMap<string, Uint8Array> => new Map(entries)
const checkpoints = (entries: ReadonlyArray<readonly [string, Checkpoint]>): ReadonlyMap<string, Checkpoint> => new Map(entries)

const stores = storesUnderTest(freshDir)

// it.prop from @effect/vitest runs effect's bundled fast-check 3, whose types reject fast-check 4 arbitraries.
const shardIds = [shard0, shard1, shard2, "__proto__"] as const
const scopes: ReadonlyArray<CheckpointScope> = [clicks, orders, { applicationName: "billing", streamName: "clicks" }]
const arbitraryState = fc.uint8Array({ minLength: 1, maxLength: 512 })
const arbitraryCheckpoint: fc.Arbitrary<Checkpoint> = fc.oneof(
  fc.record({ n: fc.nat(), sub: fc.nat() }).map(({ n, sub }) => Checkpoint.sequence(seq(n), sub)),
  fc.constant(Checkpoint.shardEnd)
)
const arbitrarySaves = fc.array(
  fc.record({
    scope: fc.nat({ max: scopes.length - 1 }),
    checkpoints: fc.array(fc.tuple(fc.constantFrom(...shardIds), arbitraryCheckpoint), { maxLength: 3 }),
    states: fc.array(
      fc.tuple(fc.constantFrom(...shardIds), fc.oneof(arbitraryState, fc.constant(new Uint8Array(0)))),
      { maxLength: 3 }
    )
  }),
  { maxLength: 8 }
)

describe.each(stores)("CheckpointStore states contract: $name", ({ make }) => {
  it.effect("a shard never given a state has none", () =>
    Effect.gen(function* () {
      const store = yield* make()
      expect(yield* store.loadState(clicks, shard0)).toBeUndefined()
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]))
      expect(yield* store.loadState(clicks, shard0)).toBeUndefined()
    }))

  it.effect("property: any bytes round-trip, per scope and shard", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbitraryState, arbitraryState, async (a, b) => {
          const store = await Effect.runPromise(make())
          await Effect.runPromise(store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]), states([[shard0, a]])))
          await Effect.runPromise(store.save(orders, none, states([[shard0, b]])))
          expect(await Effect.runPromise(store.loadState(clicks, shard0))).toEqual(a)
          expect(await Effect.runPromise(store.loadState(orders, shard0))).toEqual(b)
        }),
        { numRuns: 30 }
      )
    ))

  it.effect("a zero-length state deletes the shard's state and leaves its checkpoint", () =>
    Effect.gen(function* () {
      const store = yield* make()
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]), states([[shard0, bytes("window")]]))
      yield* store.save(clicks, none, states([[shard0, new Uint8Array(0)]]))
      expect(yield* store.loadState(clicks, shard0)).toBeUndefined()
      expect(yield* store.load(clicks)).toEqual(checkpoints([[shard0, Checkpoint.sequence(seq(1))]]))
      // Deleting what is not there is no error.
      yield* store.save(clicks, none, states([[shard1, new Uint8Array(0)]]))
      expect(yield* store.loadState(clicks, shard1)).toBeUndefined()
    }))

  it.effect("a shard left out of a save keeps its state; shards named get the new one", () =>
    Effect.gen(function* () {
      const store = yield* make()
      yield* store.save(clicks, none, states([[shard0, bytes("a0")], [shard1, bytes("b0")]]))
      yield* store.save(clicks, checkpoints([[shard1, Checkpoint.sequence(seq(2))]]), states([[shard1, bytes("b1")]]))
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(3))]]))
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("a0"))
      expect(yield* store.loadState(clicks, shard1)).toEqual(bytes("b1"))
    }))

  it.effect("a state saved without its shard's checkpoint leaves the checkpoint as it was", () =>
    Effect.gen(function* () {
      const store = yield* make()
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1), 4)]]))
      yield* store.save(clicks, none, states([[shard0, bytes("s0")], [shard2, bytes("s2")]]))
      expect(yield* store.load(clicks)).toEqual(checkpoints([[shard0, Checkpoint.sequence(seq(1), 4)]]))
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("s0"))
      // A shard with a state and no checkpoint at all has no checkpoint.
      expect(yield* store.loadState(clicks, shard2)).toEqual(bytes("s2"))
      expect((yield* store.load(clicks)).has(shard2)).toBe(false)
    }))

  it.effect("bytes are copied in and out: changing them later changes nothing stored", () =>
    Effect.gen(function* () {
      const store = yield* make()
      const input = bytes("abc")
      yield* store.save(clicks, none, states([[shard0, input]]))
      input[0] = 0
      const loaded = (yield* store.loadState(clicks, shard0))!
      loaded[1] = 0
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("abc"))
    }))

  it.effect("property: after any sequence of saves, load and loadState answer the last value saved per shard", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arbitrarySaves, async (saves) => {
          const store = await Effect.runPromise(make())
          const model = scopes.map(() => ({ checkpoints: new Map<string, Checkpoint>(), states: new Map<string, Uint8Array>() }))
          for (const save of saves) {
            const cs = new Map(save.checkpoints)
            const ss = new Map(save.states)
            await Effect.runPromise(store.save(scopes[save.scope]!, cs, ss))
            const m = model[save.scope]!
            for (const [shardId, c] of cs) m.checkpoints.set(shardId, c)
            for (const [shardId, s] of ss) {
              if (s.length === 0) m.states.delete(shardId)
              else m.states.set(shardId, s)
            }
          }
          for (const [i, scope] of scopes.entries()) {
            expect(await Effect.runPromise(store.load(scope))).toEqual(model[i]!.checkpoints)
            for (const shardId of shardIds) {
              expect(await Effect.runPromise(store.loadState(scope, shardId))).toEqual(model[i]!.states.get(shardId))
            }
          }
        }),
        { numRuns: 30 }
      )
    ))
})

describe("file CheckpointStore states", () => {
  /** The single state file of the folder, whose name is `<hash>.<version>.bin`. */
  const stateFiles = (path: string) => readdirSync(stateDirOf(path)).sort()
  const document = (path: string) => JSON.parse(readFileSync(path, "utf8"))

  it.effect("a new layer on the same path reads the states back (a restart)", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const first = yield* Effect.provide(CheckpointStore, CheckpointStore.layerFile({ path }))
      yield* first.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(5))]]), states([[shard0, bytes("w0")], [shard1, bytes("w1")]]))
      yield* first.save(clicks, none, states([[shard1, bytes("w1'")]]))
      const second = yield* Effect.provide(CheckpointStore, CheckpointStore.layerFile({ path }))
      expect(yield* second.loadState(clicks, shard0)).toEqual(bytes("w0"))
      expect(yield* second.loadState(clicks, shard1)).toEqual(bytes("w1'"))
      expect(yield* second.load(clicks)).toEqual(checkpoints([[shard0, Checkpoint.sequence(seq(5))]]))
    }))

  it.effect("property: random bytes survive a restart", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 * 1024 }), async (state) => {
          const path = fileIn(freshDir())
          await Effect.runPromise(Effect.flatMap(makeFileStore({ path }), (s) => s.save(clicks, none, states([[shard0, state]]))))
          const loaded = await Effect.runPromise(Effect.flatMap(makeFileStore({ path }), (s) => s.loadState(clicks, shard0)))
          expect(loaded).toEqual(state)
        }),
        { numRuns: 20 }
      )
    ))

  it.effect("states are raw bytes in their own files; the JSON file names a version and does not grow with them", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const store = yield* makeFileStore({ path })
      const big = new Uint8Array(100_000).map((_, i) => i % 251)
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]), states([[shard0, big]]))
      const [file] = stateFiles(path)
      expect(file).toMatch(/^[0-9a-f]{32}\.1\.bin$/)
      expect(new Uint8Array(readFileSync(join(stateDirOf(path), file!)))).toEqual(big)
      expect(readFileSync(path).byteLength).toBeLessThan(2_000)
      const doc = document(path)
      expect(doc).toMatchObject({ format: "shardline-checkpoints", version: 1 })
      expect(doc.states.app.clicks[shard0]).toMatchObject({ version: 1, bytes: big.byteLength })
      yield* store.save(clicks, none, states([[shard0, big]]))
      expect(document(path).states.app.clicks[shard0].version).toBe(2)
    }))

  it.effect("the checkpoints section keeps the previous format: a state-only shard does not appear in it", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const store = yield* makeFileStore({ path })
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1), 2)]]), states([[shard0, bytes("x")], [shard1, bytes("y")]]))
      expect(document(path).applications).toEqual({ app: { clicks: { [shard0]: { sequenceNumber: seq(1), subSequenceNumber: 2 } } } })
    }))

  it.effect("previous versions are removed after each save, and deleted states leave no file", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const store = yield* makeFileStore({ path })
      for (let i = 0; i < 12; i++) {
        const shardId = shardIds[i % 3]!
        yield* store.save(clicks, checkpoints([[shardId, Checkpoint.sequence(seq(i))]]), states([[shardId, bytes(`v${i}`)]]))
      }
      yield* store.save(orders, none, states([[shard0, bytes("o")]]))
      expect(stateFiles(path)).toHaveLength(4)
      expect(stateFiles(path).filter((f) => f.endsWith(".4.bin"))).toHaveLength(3)
      yield* store.save(clicks, none, states([[shard1, new Uint8Array(0)], [shard2, new Uint8Array(0)]]))
      expect(stateFiles(path)).toHaveLength(2)
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("v9"))
      expect(Object.keys(document(path).states.app.clicks)).toEqual([shard0])
      yield* store.save(clicks, none, states([[shard0, new Uint8Array(0)]]))
      yield* store.save(orders, none, states([[shard0, new Uint8Array(0)]]))
      expect(stateFiles(path)).toEqual([])
      expect(document(path).states).toEqual({})
      // No temp files beside the JSON file either.
      expect(readdirSync(join(path, "..")).sort()).toEqual(["checkpoints.json", "checkpoints.json.state"])
    }))

  it.effect("concurrent saves of different shards' states lose nothing", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const store = yield* makeFileStore({ path })
      const shards = Array.from({ length: 40 }, (_, i) => `shardId-${String(i).padStart(12, "0")}`)
      yield* Effect.all(
        shards.map((shardId, i) =>
          store.save(clicks, checkpoints([[shardId, Checkpoint.sequence(seq(i))]]), states([[shardId, bytes(`s${i}`)]]))
        ),
        { concurrency: "unbounded" }
      )
      for (const [i, shardId] of shards.entries()) expect(yield* store.loadState(clicks, shardId)).toEqual(bytes(`s${i}`))
      expect(stateFiles(path)).toHaveLength(shards.length)
    }))

  it.effect(
    "a crash between writing a state file and renaming the JSON file: loads see the old state; the next save of a new store removes the stray versions",
    () =>
      Effect.gen(function* () {
        const path = fileIn(freshDir())
        const before = yield* makeFileStore({ path })
        yield* before.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]), states([[shard0, bytes("old")]]))
        const [named] = stateFiles(path)
        const hash = named!.split(".")[0]!
        // What the crashed save left: the next version, written and not named; and a version a
        // crash after the rename (before pruning) left behind. A file that is no state file stays.
        writeFileSync(join(stateDirOf(path), `${hash}.2.bin`), bytes("new, never committed"))
        writeFileSync(join(stateDirOf(path), `${hash}.0.bin`), bytes("older"))
        writeFileSync(join(stateDirOf(path), "notes.txt"), "mine")

        const after = yield* makeFileStore({ path })
        expect(yield* after.loadState(clicks, shard0)).toEqual(bytes("old"))
        expect(yield* after.load(clicks)).toEqual(checkpoints([[shard0, Checkpoint.sequence(seq(1))]]))
        expect(stateFiles(path)).toHaveLength(4)
        // Any successful save, even one without states, sweeps.
        yield* after.save(orders, checkpoints([[shard1, Checkpoint.shardEnd]]))
        expect(stateFiles(path)).toEqual([named, "notes.txt"])
        // And the shard's next version is written where the stray was, and read back.
        yield* after.save(clicks, none, states([[shard0, bytes("newer")]]))
        expect(stateFiles(path)).toEqual([`${hash}.2.bin`, "notes.txt"])
        expect(yield* (yield* makeFileStore({ path })).loadState(clicks, shard0)).toEqual(bytes("newer"))
      })
  )

  const expectLoadStateFailure = (path: string, reason: RegExp) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* makeFileStore({ path })).loadState(clicks, shard0))
      expect(error).toBeInstanceOf(CheckpointError)
      expect(error.operation).toBe("load")
      expect(error.message).toContain(path)
      expect(error.reason).toMatch(reason)
    })

  const savedOnce = Effect.gen(function* () {
    const path = fileIn(freshDir())
    yield* (yield* makeFileStore({ path })).save(clicks, none, states([[shard0, bytes("0123456789")]]))
    return { path, file: join(stateDirOf(path), stateFiles(path)[0]!) }
  })

  it.effect("a missing state file fails loadState with CheckpointError saying so", () =>
    Effect.gen(function* () {
      const { path, file } = yield* savedOnce
      rmSync(file)
      yield* expectLoadStateFailure(path, new RegExp(`shard ${shard0}.*state file .*${file.split("/").pop()!.replace(".", "\\.")} is missing`))
    }))

  it.effect("a short state file fails loadState with CheckpointError saying so", () =>
    Effect.gen(function* () {
      const { path, file } = yield* savedOnce
      writeFileSync(file, bytes("01234"))
      yield* expectLoadStateFailure(path, /is short: 5 of 10 bytes/)
    }))

  it.effect("a state file with other bytes of the same length fails its checksum", () =>
    Effect.gen(function* () {
      const { path, file } = yield* savedOnce
      writeFileSync(file, bytes("0123456780"))
      yield* expectLoadStateFailure(path, /does not match its checksum/)
    }))

  it.effect("a malformed state pointer fails loadState; a malformed states section fails save without replacing the file", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const doc = (statesSection: unknown) =>
        JSON.stringify({ format: "shardline-checkpoints", version: 1, applications: {}, states: statesSection })
      writeFileSync(path, doc({ app: { clicks: { [shard0]: { version: "one" } } } }))
      yield* expectLoadStateFailure(path, /state pointer of shard .* is malformed/)
      writeFileSync(path, doc([]))
      const error = yield* Effect.flip((yield* makeFileStore({ path })).save(clicks, none, states([[shard0, bytes("x")]])))
      expect(error.operation).toBe("save")
      expect(readFileSync(path, "utf8")).toBe(doc([]))
    }))

  it.effect("a state file that cannot be written fails the save and saves nothing of it, checkpoints included", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const store = yield* makeFileStore({ path })
      yield* store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(1))]]))
      const saved = readFileSync(path, "utf8")
      writeFileSync(stateDirOf(path), "a file where the state folder goes")
      const error = yield* Effect.flip(
        store.save(clicks, checkpoints([[shard0, Checkpoint.sequence(seq(2))]]), states([[shard0, bytes("s")]]))
      )
      expect(error).toBeInstanceOf(CheckpointError)
      expect(error.operation).toBe("save")
      expect(readFileSync(path, "utf8")).toBe(saved)
      expect(yield* store.load(clicks)).toEqual(checkpoints([[shard0, Checkpoint.sequence(seq(1))]]))
    }))

  it.effect("a JSON file written before states existed loads, has no states, and takes them on the next save", () =>
    Effect.gen(function* () {
      const path = fileIn(freshDir())
      const previous = {
        format: "shardline-checkpoints",
        version: 1,
        applications: {
          app: { clicks: { [shard0]: { sequenceNumber: seq(3), subSequenceNumber: 1 }, [shard1]: { shardEnd: true } } },
          other: { orders: { [shard0]: { sequenceNumber: seq(4), subSequenceNumber: 0 } } }
        }
      }
      writeFileSync(path, JSON.stringify(previous, null, 2) + "\n")
      const store = yield* makeFileStore({ path })
      const expected = checkpoints([[shard0, Checkpoint.sequence(seq(3), 1)], [shard1, Checkpoint.shardEnd]])
      expect(yield* store.load(clicks)).toEqual(expected)
      expect(yield* store.loadState(clicks, shard0)).toBeUndefined()
      yield* store.save(clicks, none, states([[shard0, bytes("first state")]]))
      expect(yield* store.load(clicks)).toEqual(expected)
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("first state"))
      expect(document(path).applications).toEqual(previous.applications)
    }))
})
