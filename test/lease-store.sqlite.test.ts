import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { type LeaseScope, LeaseStore, type LeaseStoreApi, LeaseStoreError } from "../src/lease/index.js"
import { scopeKey } from "../src/lease/Lease.js"
import { type ChunkKey, stateBytes } from "./lease-state-contract.js"
import { freshScope, leaseStoreContract, StateChunks } from "./support/leaseContract.js"

const folder = mkdtempSync(join(tmpdir(), "shardline-sqlite-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

let files = 0
/** A database path no other test uses, in a folder that does not exist yet (the store creates it). */
const freshPath = () => join(folder, `run-${++files}`, "leases.db")

const shard = "shardId-000000000000"

/** Runs `use` against a store opened on `path`, closing the file afterwards. */
const withStore = <A, E>(
  path: string,
  use: (leases: LeaseStoreApi) => Effect.Effect<A, E>,
  busyTimeout?: number,
  stateChunkBytes?: number
) =>
  Effect.provide(
    Effect.flatMap(LeaseStore, use),
    LeaseStore.layerSqlite({
      path,
      ...(busyTimeout === undefined ? {} : { busyTimeout }),
      ...(stateChunkBytes === undefined ? {} : { stateChunkBytes })
    })
  )

/** A short-lived second connection, as another process would have. */
const direct = <A>(path: string, f: (db: Database.Database) => A) =>
  Effect.sync(() => {
    const db = new Database(path)
    try {
      return f(db)
    } finally {
      db.close()
    }
  })

/** The state chunk rows of the file, read and changed directly. */
const chunkRows = (path: string) => ({
  list: (scope: LeaseScope, shardId: string) =>
    direct(path, (db) =>
      db.prepare(`SELECT version, idx AS "index" FROM shardline_leases_state WHERE scope = ? AND shard_id = ?`).all(scopeKey(scope), shardId) as Array<ChunkKey>),
  plant: (scope: LeaseScope, shardId: string, version: string, index: number) =>
    direct(path, (db) =>
      void db.prepare("INSERT INTO shardline_leases_state (scope, shard_id, version, idx, data) VALUES (?, ?, ?, ?, ?)")
        .run(scopeKey(scope), shardId, version, index, Buffer.from([1]))),
  drop: (scope: LeaseScope, shardId: string, version: string, index: number) =>
    direct(path, (db) =>
      void db.prepare("DELETE FROM shardline_leases_state WHERE scope = ? AND shard_id = ? AND version = ? AND idx = ?")
        .run(scopeKey(scope), shardId, version, index))
})

const contractPath = freshPath()
leaseStoreContract(
  "sqlite",
  Layer.merge(LeaseStore.layerSqlite({ path: contractPath, stateChunkBytes: 16 }), Layer.succeed(StateChunks, chunkRows(contractPath))),
  { inlineBytes: 16, chunkBytes: 16 }
)

/** The table as the version before operator state created it. */
const previousVersionTable = `
  CREATE TABLE shardline_leases (
    scope TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    owner TEXT,
    counter INTEGER NOT NULL,
    checkpoint TEXT,
    checkpoint_sub INTEGER NOT NULL,
    start_at TEXT NOT NULL,
    parents TEXT NOT NULL,
    children TEXT NOT NULL,
    owner_switches INTEGER NOT NULL,
    PRIMARY KEY (scope, shard_id)
  ) STRICT`

describe("SQLite lease store: operator state", () => {
  it.effect("a table of the previous version opens: the state columns are added, its rows kept", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      mkdirSync(dirname(path), { recursive: true })
      yield* direct(path, (db) => {
        db.exec(previousVersionTable)
        db.prepare("INSERT INTO shardline_leases VALUES (?, ?, 'w1', 3, '42', 1, 'LATEST', '[]', '[]', 0)").run(scopeKey(scope), shard)
      })
      const data = stateBytes(100, 1)
      const written = yield* withStore(path, (leases) =>
        Effect.gen(function* () {
          const [row] = yield* leases.list(scope)
          expect(row).toMatchObject({ owner: "w1", counter: 3, checkpoint: Checkpoint.sequence("42", 1) })
          expect(row?.state).toBeUndefined()
          return yield* leases.checkpoint(scope, { shardId: shard, owner: "w1", counter: 3 }, Checkpoint.sequence("43"), undefined, data)
        }), undefined, 40)
      expect(written.state).toMatchObject({ bytes: 100, chunks: 3 })
      const columns = yield* direct(path, (db) => (db.pragma("table_info(shardline_leases)") as Array<{ name: string }>).map((c) => c.name))
      expect(columns).toEqual(expect.arrayContaining(["state_version", "state_bytes", "state_chunks", "state_inline"]))
      // Opened again (already migrated), with another chunk size: the pointer says where the state is.
      expect(yield* withStore(path, (leases) => Effect.flatMap(leases.get(scope, shard), (row) => leases.loadState(scope, row!)))).toEqual(data)
    }))

  it.effect("a checkpoint whose transaction cannot start writes neither chunks nor row", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      const taken = yield* withStore(path, (leases) =>
        Effect.zipRight(
          leases.create(scope, { shardId: shard, startAt: "LATEST", parentShardIds: [] }),
          leases.take(scope, shard, { owner: undefined, counter: 0 }, "w1")
        ))
      const holder = new Database(path)
      holder.exec("BEGIN IMMEDIATE")
      const error = yield* withStore(
        path,
        (leases) => Effect.flip(leases.checkpoint(scope, { shardId: shard, owner: "w1", counter: taken.counter }, Checkpoint.sequence("1"), undefined, stateBytes(100, 1))),
        50,
        16
      ).pipe(Effect.ensuring(Effect.sync(() => holder.exec("ROLLBACK").close())))
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect(yield* chunkRows(path).list(scope, shard)).toEqual([])
      expect((yield* withStore(path, (leases) => leases.get(scope, shard)))?.checkpoint).toBeUndefined()
    }))

  it.effect("a malformed state pointer is a LeaseStoreError, as other malformed rows", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const scope = freshScope()
      yield* withStore(path, (leases) => leases.create(scope, { shardId: shard, startAt: "LATEST", parentShardIds: [] }))
      for (const set of ["state_version = 'v1', state_bytes = 0", "state_bytes = 5", "state_version = 'a#b', state_bytes = 5", "state_version = 'v', state_bytes = 2, state_chunks = 3"]) {
        yield* direct(path, (db) => db.exec(`UPDATE shardline_leases SET state_version = NULL, state_bytes = 0, state_chunks = 0; UPDATE shardline_leases SET ${set}`))
        const error = yield* withStore(path, (leases) => Effect.flip(leases.get(scope, shard)))
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain("bad state pointer")
      }
    }))

  it.effect("rejects a chunk size that is not a whole number of bytes >= 1", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(withStore(freshPath(), (leases) => leases.list(freshScope()), undefined, 0))
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect(error.message).toContain("stateChunkBytes")
    }))
})

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
