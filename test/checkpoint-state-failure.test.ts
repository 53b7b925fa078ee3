import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Effect } from "effect"
import { Checkpoint, CheckpointError, makeFileStore } from "../src/checkpoint/index.js"

// The file store's last step is renaming the JSON file into place: failing it here is the one way
// to fail a save after its state files were written.
const renames = vi.hoisted(() => ({ fail: false }))
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>()
  return {
    ...actual,
    rename: (from: string, to: string) =>
      renames.fail ? Promise.reject(Object.assign(new Error("rename failed (test)"), { code: "EIO" })) : actual.rename(from, to)
  }
})

const scratch = mkdtempSync(join(tmpdir(), "shardline-checkpoint-state-failure-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const clicks = { applicationName: "app", streamName: "clicks" }
const shard0 = "shardId-000000000000"
const shard1 = "shardId-000000000001"
const bytes = (text: string) => new TextEncoder().encode(text)

describe("file CheckpointStore states, when the JSON rename fails", () => {
  it.effect("the save fails, its new state files are removed at once, and the old state and checkpoint stay", () =>
    Effect.gen(function* () {
      const path = join(mkdtempSync(join(scratch, "store-")), "checkpoints.json")
      const stateDir = `${path}.state`
      const store = yield* makeFileStore({ path })
      yield* store.save(clicks, new Map([[shard0, Checkpoint.sequence("1")]]), new Map([[shard0, bytes("old")]]))
      const before = readdirSync(stateDir)
      expect(before).toHaveLength(1)

      renames.fail = true
      const error = yield* Effect.flip(
        store.save(clicks, new Map([[shard0, Checkpoint.sequence("2")]]), new Map([[shard0, bytes("new")], [shard1, bytes("b")]]))
      ).pipe(Effect.ensuring(Effect.sync(() => (renames.fail = false))))
      expect(error).toBeInstanceOf(CheckpointError)
      expect(error.operation).toBe("save")
      expect(readdirSync(stateDir)).toEqual(before)
      expect(readdirSync(join(path, "..")).sort()).toEqual(["checkpoints.json", "checkpoints.json.state"])
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("old"))
      expect(yield* store.loadState(clicks, shard1)).toBeUndefined()
      expect(yield* store.load(clicks)).toEqual(new Map([[shard0, Checkpoint.sequence("1")]]))

      // The next save works as if the failed one never happened.
      yield* store.save(clicks, new Map(), new Map([[shard0, bytes("newer")]]))
      expect(yield* store.loadState(clicks, shard0)).toEqual(bytes("newer"))
      expect(readdirSync(stateDir)).toHaveLength(1)
    }))
})
