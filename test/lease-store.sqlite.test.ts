import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { LeaseStore, type LeaseStoreApi, LeaseStoreError } from "../src/lease/index.js"
import { freshScope, leaseStoreContract } from "./support/leaseContract.js"

const folder = mkdtempSync(join(tmpdir(), "shardline-sqlite-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

let files = 0
/** A database path no other test uses, in a folder that does not exist yet (the store creates it). */
const freshPath = () => join(folder, `run-${++files}`, "leases.db")

const shard = "shardId-000000000000"

/** Runs `use` against a store opened on `path`, closing the file afterwards. */
const withStore = <A, E>(path: string, use: (leases: LeaseStoreApi) => Effect.Effect<A, E>, busyTimeout?: number) =>
  Effect.provide(
    Effect.flatMap(LeaseStore, use),
    LeaseStore.layerSqlite({ path, ...(busyTimeout === undefined ? {} : { busyTimeout }) })
  )

leaseStoreContract("sqlite", LeaseStore.layerSqlite({ path: freshPath() }))

describe("SQLite lease store", () => {
  it.effect("leases survive closing and reopening the file", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      const written = yield* withStore(path, (leases) =>
        Effect.gen(function* () {
          yield* leases.create(scope, { shardId: shard, startAt: { atTimestamp: new Date(1_700_000_000_000) }, parentShardIds: ["p0"] })
          const taken = yield* leases.take(scope, shard, { owner: undefined, counter: 0 }, "w1")
          return yield* leases.checkpoint(scope, { shardId: shard, owner: "w1", counter: taken.counter }, Checkpoint.sequence("12345678901234567890", 7), ["c1", "c2"])
        }))
      const reread = yield* withStore(path, (leases) => leases.list(scope))
      expect(reread).toEqual([written])
      expect(written).toMatchObject({ owner: "w1", counter: 1, childShardIds: ["c1", "c2"] })
    }))

  it.effect("rejects a table name that is not a plain identifier, before touching the disk", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const error = yield* Effect.flip(Effect.provide(LeaseStore, LeaseStore.layerSqlite({ path, tableName: "leases; DROP TABLE x" })))
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect(error.message).toContain("tableName")
      expect(existsSync(path)).toBe(false)
    }))

  it.effect("a malformed row is a LeaseStoreError, for reads and for conditional writes", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      yield* withStore(path, (leases) => leases.create(scope, { shardId: shard, startAt: "LATEST", parentShardIds: [] }))
      const raw = new Database(path)
      raw.prepare("UPDATE shardline_leases SET parents = 'not json'").run()
      raw.close()
      const errors = yield* withStore(path, (leases) =>
        Effect.all([
          Effect.flip(leases.get(scope, shard)),
          Effect.flip(leases.list(scope)),
          Effect.flip(leases.take(scope, shard, { owner: undefined, counter: 0 }, "w1"))
        ]))
      for (const error of errors) {
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain("bad parents")
      }
    }))

  it.effect("a write that waits longer than busyTimeout for another process's lock fails as LeaseStoreError", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      yield* withStore(path, (leases) => leases.create(scope, { shardId: shard, startAt: "LATEST", parentShardIds: [] }))
      // A second connection stands in for another process holding the write lock.
      const holder = new Database(path)
      holder.exec("BEGIN IMMEDIATE")
      const error = yield* withStore(
        path,
        (leases) => Effect.flip(leases.take(scope, shard, { owner: undefined, counter: 0 }, "w1")),
        50
      ).pipe(Effect.ensuring(Effect.sync(() => holder.exec("ROLLBACK").close())))
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect(error).toMatchObject({ operation: "take", store: `sqlite:${path}` })
      expect(error.message).toContain("SQLITE_BUSY")
    }))
})

// ---- Several processes on one file.

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const racerScript = fileURLToPath(new URL("./support/sqliteRacer.ts", import.meta.url))

interface RacerMessage {
  readonly event: "open" | "read" | "take"
  readonly worker: string
  readonly round?: number
  readonly counter?: number | null
  readonly outcome?: "won" | "lost" | "error"
  readonly error?: string
}

/** A racer process: send it commands, await its answers in order. */
interface Racer {
  readonly child: ChildProcess
  readonly send: (command: object) => void
  readonly next: () => Promise<RacerMessage>
  readonly exited: Promise<number | null>
}

const running: Array<ChildProcess> = []

afterEach(() => {
  // A failed test leaves its processes mid-protocol; they would wait on stdin forever.
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
})

const spawnRacer = (path: string, scope: object, worker: string): Racer => {
  const child = spawn(process.execPath, ["--import", "tsx", racerScript, path, JSON.stringify(scope), shard, worker], {
    cwd: repoRoot,
    stdio: ["pipe", "pipe", "pipe"]
  })
  running.push(child)
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (text: string) => void (stderr += text))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => {
    const timeout = setTimeout(() => child.kill("SIGKILL"), 10_000)
    try {
      const line = await lines.next()
      if (line.done === true) throw new Error(`racer ${worker} ended early (exit ${await exited}): ${stderr}`)
      return JSON.parse(line.value) as RacerMessage
    } finally {
      clearTimeout(timeout)
    }
  }
  return { child, send: (command) => void child.stdin.write(`${JSON.stringify(command)}\n`), next, exited }
}

describe("SQLite lease store shared by several processes", () => {
  it("of four processes taking with the same view at the same instant, exactly one wins each round", { timeout: 30_000 }, async () => {
    const path = freshPath()
    const scope = freshScope("race")
    const rounds = 15
    await Effect.runPromise(withStore(path, (leases) => leases.create(scope, { shardId: shard, startAt: "TRIM_HORIZON", parentShardIds: [] })))
    const racers = ["p1", "p2", "p3", "p4"].map((worker) => spawnRacer(path, scope, worker))
    const all = (command: object) => {
      for (const r of racers) r.send(command)
      return Promise.all(racers.map((r) => r.next()))
    }
    await Promise.all(racers.map((r) => r.next()))

    const winners: Array<string> = []
    for (let round = 0; round < rounds; round++) {
      const views = await all({ cmd: "read", round })
      expect(new Set(views.map((v) => v.counter))).toEqual(new Set([winners.length]))
      // A moment ahead, so every process has the command before the instant comes.
      const results = await all({ cmd: "take", round, at: Date.now() + 25 })
      expect(results.filter((r) => r.outcome === "error"), `the failed takes of round ${round}`).toEqual([])
      const won = results.filter((r) => r.outcome === "won")
      expect(won.map((r) => r.worker), `the winners of round ${round}`).toHaveLength(1)
      winners.push(won[0]!.worker)
    }
    for (const r of racers) r.send({ cmd: "exit" })
    expect(await Promise.all(racers.map((r) => r.exited))).toEqual([0, 0, 0, 0])

    const final = await Effect.runPromise(withStore(path, (leases) => leases.get(scope, shard)))
    expect(final?.counter).toBe(winners.length)
    expect(final?.owner).toBe(winners.at(-1))
  })
})
