/**
 * What the checkpoint store tests share: scratch folders for file stores, the stores under test,
 * and a few names for scopes, shards and sequence numbers.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "@effect/vitest"
import { Effect } from "effect"
import { type CheckpointScope, CheckpointStore, type CheckpointStoreApi } from "../../src/checkpoint/index.js"

/**
 * A scratch folder for this test file, removed after its tests; `freshDir()` makes an empty
 * folder in it.
 */
export const scratchFolder = (prefix: string) => {
  const scratch = mkdtempSync(join(tmpdir(), prefix))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))
  return { freshDir: () => mkdtempSync(join(scratch, "store-")) }
}

/** Where a file store in `dir` keeps its checkpoints. */
export const fileIn = (dir: string) => join(dir, "checkpoints.json")

/** How a contract gets a new, empty store; each store is reached through its layer. */
export interface StoreUnderTest {
  readonly name: string
  readonly make: () => Effect.Effect<CheckpointStoreApi>
}

/** The memory store, and a file store in a fresh folder from `freshDir` each time. */
export const storesUnderTest = (freshDir: () => string): ReadonlyArray<StoreUnderTest> => [
  { name: "memory", make: () => Effect.provide(CheckpointStore, CheckpointStore.layerMemory) },
  {
    name: "file",
    make: () => Effect.provide(CheckpointStore, CheckpointStore.layerFile({ path: fileIn(freshDir()) }))
  }
]

export const clicks: CheckpointScope = { applicationName: "app", streamName: "clicks" }
export const shard0 = "shardId-000000000000"
export const shard1 = "shardId-000000000001"
export const shard2 = "shardId-000000000002"
/** A sequence number of Kinesis's length, ordered as `n`. */
export const seq = (n: number) => (49n * 10n ** 54n + BigInt(n)).toString()
