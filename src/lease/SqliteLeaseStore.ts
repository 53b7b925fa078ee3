import { mkdir } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import type BetterSqlite3 from "better-sqlite3"
import { Effect, type Scope } from "effect"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import {
  fromRow,
  isCount,
  type Lease,
  type LeaseLost,
  type LeaseScope,
  LeaseStoreError,
  LeaseTransition,
  newLease,
  scopeKey,
  scopesOfKeys,
  type StateRef,
  toRow,
  type Transition
} from "./Lease.js"
import { checkInline, checkStateBytes, joinChunks, newStateVersion, planState, type StateLayout, type StateWrite } from "./LeaseState.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

/** Where the SQLite lease table lives. */
export interface SqliteLeaseStoreOptions {
  /** The database file; created if missing, with its folder. Several processes on one machine may share it. */
  readonly path: string
  /** Default `shardline_leases`. A plain SQL identifier: letters, digits and `_`, not starting with a digit. */
  readonly tableName?: string
  /**
   * How long a write waits for another process's write to finish before failing with a
   * {@link LeaseStoreError}, in milliseconds. Default 5000. The wait blocks the process (the
   * driver is synchronous); lease transactions last well under a millisecond, so it is short.
   */
  readonly busyTimeout?: number
  /**
   * Operator states up to this many bytes stay inline in the lease row; larger ones go into
   * chunks of this size in the table `<tableName>_state`. Default 1 MiB.
   */
  readonly stateChunkBytes?: number
}

type Driver = typeof BetterSqlite3
type Database = BetterSqlite3.Database

const defaultTableName = "shardline_leases"
const defaultBusyTimeout = 5000
const defaultStateChunkBytes = 1024 * 1024
const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A row as SQLite returns it: snake_case columns, the shard lists as JSON text. */
interface SqlRow {
  readonly shard_id: string
  readonly owner: string | null
  readonly counter: number
  readonly checkpoint: string | null
  readonly checkpoint_sub: number
  readonly start_at: string
  readonly parents: string
  readonly children: string
  readonly owner_switches: number
  readonly state_version: string | null
  readonly state_bytes: number
  readonly state_chunks: number
}

/** The named parameters of a full row write. */
interface SqlParams extends SqlRow {
  readonly scope: string
}

const columns =
  "shard_id, owner, counter, checkpoint, checkpoint_sub, start_at, parents, children, owner_switches, state_version, state_bytes, state_chunks"

/** The state columns, added to tables created before operator state existed (ALTER TABLE needs defaults for NOT NULL). */
const stateColumns: ReadonlyArray<readonly [name: string, definition: string]> = [
  ["state_version", "TEXT"],
  ["state_bytes", "INTEGER NOT NULL DEFAULT 0"],
  ["state_chunks", "INTEGER NOT NULL DEFAULT 0"],
  // The state itself when it is small (state_chunks = 0); else NULL and the chunks are in <table>_state.
  ["state_inline", "BLOB"]
]

// STRICT makes SQLite reject a value of the wrong type instead of silently storing it (plain
// tables store "abc" in an INTEGER column), so a buggy or foreign writer fails loudly at write time.
const createTable = (table: string) => `
  CREATE TABLE IF NOT EXISTS "${table}" (
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
    ${stateColumns.map(([name, definition]) => `${name} ${definition},`).join("\n    ")}
    PRIMARY KEY (scope, shard_id)
  ) STRICT`

// A shard's state chunks, by version: a checkpoint writes a new version and drops the others in
// the transaction that points the row at it.
const createStateTable = (table: string) => `
  CREATE TABLE IF NOT EXISTS "${table}_state" (
    scope TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    version TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (scope, shard_id, version, idx)
  ) STRICT`

/** The driver binds Buffers as BLOBs, not other Uint8Arrays; a view, not a copy. */
const blob = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength)

const encode = (scope: string, lease: Lease): SqlParams => {
  const row = toRow(lease)
  return {
    scope,
    shard_id: row.shardId,
    owner: row.owner,
    counter: row.counter,
    checkpoint: row.checkpoint,
    checkpoint_sub: row.checkpointSubSequenceNumber,
    start_at: row.startAt,
    parents: JSON.stringify(row.parentShardIds),
    children: JSON.stringify(row.childShardIds),
    owner_switches: row.ownerSwitchesSinceCheckpoint,
    state_version: row.stateVersion,
    state_bytes: row.stateBytes,
    state_chunks: row.stateChunks
  }
}

/** A JSON array of strings, or undefined when the text is anything else. */
const shardList = (text: unknown): ReadonlyArray<string> | undefined => {
  if (typeof text !== "string") return undefined
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as Array<string>) : undefined
  } catch {
    return undefined
  }
}

/**
 * A stored row back to a lease, or what is malformed. `fromRow` checks the lease fields (counts
 * included); this checks what only the SQL encoding can get wrong (the JSON text of the lists).
 */
const decode = (row: SqlRow): Lease | string => {
  const parents = shardList(row.parents)
  if (parents === undefined) return `lease ${row.shard_id}: bad parents ${JSON.stringify(row.parents)}`
  const children = shardList(row.children)
  if (children === undefined) return `lease ${row.shard_id}: bad children ${JSON.stringify(row.children)}`
  return fromRow({
    shardId: row.shard_id,
    owner: row.owner,
    counter: row.counter,
    checkpoint: row.checkpoint,
    checkpointSubSequenceNumber: row.checkpoint_sub,
    startAt: String(row.start_at),
    parentShardIds: parents,
    childShardIds: children,
    ownerSwitchesSinceCheckpoint: row.owner_switches,
    stateVersion: row.state_version,
    stateBytes: row.state_bytes,
    stateChunks: row.state_chunks
  })
}

const describe = (cause: unknown, busyTimeout: number): string => {
  const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined
  const text = cause instanceof Error ? cause.message : String(cause)
  if (typeof code === "string" && code.startsWith("SQLITE_BUSY")) {
    return `${code}: ${text} (another process held the write lock for more than busyTimeout, ${busyTimeout} ms)`
  }
  return typeof code === "string" ? `${code}: ${text}` : text
}

/** The options that can be wrong before anything is opened. */
const validate = (options: SqliteLeaseStoreOptions): string | undefined => {
  const table = options.tableName ?? defaultTableName
  if (!identifier.test(table)) {
    return `option tableName ${JSON.stringify(table)} is not a plain SQL identifier (letters, digits, _; not starting with a digit)`
  }
  const busy = options.busyTimeout ?? defaultBusyTimeout
  if (!isCount(busy)) return `option busyTimeout ${busy} is not a whole number of milliseconds >= 0`
  return checkStateBytes("stateChunkBytes", options.stateChunkBytes ?? defaultStateChunkBytes)
}

/** A conditional write's outcome: the transition's, or the stored row could not be decoded (nothing written). */
type WriteOutcome = Transition | { readonly _tag: "Malformed"; readonly reason: string }

/**
 * Leases in one SQLite file, shared safely by every process on one machine.
 *
 * Every ownership-conditional write is one `BEGIN IMMEDIATE` transaction that reads the row,
 * applies the matching {@link LeaseTransition} and writes the result: IMMEDIATE takes the
 * database's write lock before the read, so no other process can change the row between the
 * read and the write, and a second writer waits (up to `busyTimeout`) instead of failing
 * halfway. A checkpoint's operator state is written in the same transaction: inline in the row
 * when small, else as chunks in `<tableName>_state` under a fresh version the row then points to
 * (the previous version is deleted in that transaction too). The database closes when the scope
 * closes. Needs the optional package `better-sqlite3`.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const leases = yield* makeSqliteLeaseStore({ path: "/var/lib/app/leases.db" })
 *   yield* leases.create(scope, { shardId: "shardId-000000000000", startAt: "TRIM_HORIZON", parentShardIds: [] })
 * }).pipe(Effect.scoped)
 * ```
 */
export const makeSqliteLeaseStore = (
  options: SqliteLeaseStoreOptions
): Effect.Effect<LeaseStoreApi, LeaseStoreError | MissingDependency, Scope.Scope> =>
  Effect.gen(function* () {
    const path = resolve(options.path)
    const store = `sqlite:${path}`
    const table = options.tableName ?? defaultTableName
    const busyTimeout = options.busyTimeout ?? defaultBusyTimeout
    const chunkBytes = options.stateChunkBytes ?? defaultStateChunkBytes
    const error = (operation: string, reason: string, cause?: unknown) =>
      new LeaseStoreError({ operation, store, reason, cause })
    const attempt = <A>(operation: string, f: () => A) =>
      Effect.try({ try: f, catch: (cause) => error(operation, describe(cause, busyTimeout), cause) })

    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(error("open", invalid))

    const Sqlite = yield* importOptional<Driver>("better-sqlite3", "LeaseStore.layerSqlite", { dev: false })
    yield* Effect.tryPromise({
      try: () => mkdir(dirname(path), { recursive: true }),
      catch: (cause) => error("open", `cannot create the folder of the database: ${describe(cause, busyTimeout)}`, cause)
    })
    const db = yield* Effect.acquireRelease(
      attempt("open", () => new Sqlite(path, { timeout: busyTimeout })),
      (db) => attempt("close", () => db.close()).pipe(Effect.ignoreLogged)
    )
    return yield* attempt("open", () => setUp(db, table, busyTimeout)).pipe(
      Effect.map((statements) => api(store, statements, { inlineBytes: chunkBytes, chunkBytes }, error, attempt))
    )
  })

/** Pragmas, the tables and every statement, prepared once. */
const setUp = (db: Database, table: string, busyTimeout: number) => {
  // The busy timeout first: the pragmas and CREATEs below need locks other processes may hold.
  db.pragma(`busy_timeout = ${busyTimeout}`)
  // WAL lets readers (list, get) run while another process writes. Correctness does not depend
  // on it (the IMMEDIATE transactions do), so a file system that refuses WAL still works.
  db.pragma("journal_mode = WAL")
  // NORMAL, not FULL: in WAL mode NORMAL never corrupts the file and loses only the last commits,
  // and only on an OS crash or power loss. Such a crash kills every process sharing the file, so
  // no surviving worker can act on a counter that was rolled back; a lost checkpoint means records
  // are read again, which at-least-once delivery allows. FULL would fsync on every renewal.
  db.pragma("synchronous = NORMAL")
  const columnsOf = (name: string) =>
    new Set((db.pragma(`table_info("${name}")`) as Array<{ readonly name: string }>).map((c) => c.name))
  const complete = () => {
    const present = columnsOf(table)
    return stateColumns.every(([name]) => present.has(name)) && columnsOf(`${table}_state`).size > 0
  }
  // Tables missing or of the previous version (no state columns): created or migrated in one
  // IMMEDIATE transaction, so processes opening them at once do it once. The usual open finds
  // them complete and takes no write lock.
  if (!complete()) {
    db.transaction(() => {
      db.exec(createTable(table))
      const present = columnsOf(table)
      for (const [name, definition] of stateColumns) {
        if (!present.has(name)) db.exec(`ALTER TABLE "${table}" ADD COLUMN ${name} ${definition}`)
      }
      db.exec(createStateTable(table))
    }).immediate()
  }
  const t = `"${table}"`
  const chunks = `"${table}_state"`
  const selectOne = db.prepare<[string, string], SqlRow>(`SELECT ${columns} FROM ${t} WHERE scope = ? AND shard_id = ?`)
  const update = db.prepare<SqlParams>(
    `UPDATE ${t} SET owner = @owner, counter = @counter, checkpoint = @checkpoint, checkpoint_sub = @checkpoint_sub,
       start_at = @start_at, parents = @parents, children = @children, owner_switches = @owner_switches,
       state_version = @state_version, state_bytes = @state_bytes, state_chunks = @state_chunks
     WHERE scope = @scope AND shard_id = @shard_id`
  )
  const setInline = db.prepare<[Buffer | null, string, string]>(`UPDATE ${t} SET state_inline = ? WHERE scope = ? AND shard_id = ?`)
  const insertChunk = db.prepare<[string, string, string, number, Buffer]>(
    `INSERT INTO ${chunks} (scope, shard_id, version, idx, data) VALUES (?, ?, ?, ?, ?)`
  )
  // Every version but the one the row now points to (NULL: all of them).
  const pruneChunks = db.prepare<[string, string, string | null]>(
    `DELETE FROM ${chunks} WHERE scope = ? AND shard_id = ? AND version IS NOT ?`
  )
  const remove = db.prepare<[string, string]>(`DELETE FROM ${t} WHERE scope = ? AND shard_id = ?`)
  const removeChunks = db.prepare<[string, string]>(`DELETE FROM ${chunks} WHERE scope = ? AND shard_id = ?`)
  // Read, decide with the shared transition, write: the body of every ownership-conditional write.
  // With `state` (a state-writing checkpoint) the chunks, the inline bytes and the pruning of the
  // replaced version commit with the row or not at all.
  const conditional = (
    key: string,
    shardId: string,
    transition: (current: Lease | undefined) => Transition,
    state?: StateWrite
  ): WriteOutcome => {
    const found = selectOne.get(key, shardId)
    const current = found === undefined ? undefined : decode(found)
    if (typeof current === "string") return { _tag: "Malformed", reason: current }
    const outcome = transition(current)
    if (outcome._tag !== "Ok") return outcome
    update.run(encode(key, outcome.lease))
    if (state !== undefined) {
      state?.chunks.forEach((data, i) => insertChunk.run(key, shardId, state.ref.version, i, blob(data)))
      setInline.run(state?.inline === undefined ? null : blob(state.inline), key, shardId)
      pruneChunks.run(key, shardId, state !== null && state.ref.chunks > 0 ? state.ref.version : null)
    }
    return outcome
  }
  return {
    // BINARY order of UTF-8 bytes: the same as JavaScript's for the ASCII shard ids Kinesis issues.
    selectAll: db.prepare<[string], SqlRow>(`SELECT ${columns} FROM ${t} WHERE scope = ? ORDER BY shard_id`),
    selectOne,
    selectScopes: db.prepare<[], { readonly scope: string }>(`SELECT DISTINCT scope FROM ${t}`),
    // Not INSERT OR IGNORE: that also skips rows breaking NOT NULL or STRICT types, which would
    // read as "already exists". Only the key conflict means that.
    insert: db.prepare<SqlParams>(
      `INSERT INTO ${t} (scope, ${columns})
       VALUES (@scope, @shard_id, @owner, @counter, @checkpoint, @checkpoint_sub, @start_at, @parents, @children, @owner_switches,
         @state_version, @state_bytes, @state_chunks)
       ON CONFLICT (scope, shard_id) DO NOTHING`
    ),
    setChildren: db.prepare<[string, string, string]>(`UPDATE ${t} SET children = ? WHERE scope = ? AND shard_id = ?`),
    selectInline: db.prepare<[string, string], { readonly state_version: string | null; readonly state_inline: Buffer | null }>(
      `SELECT state_version, state_inline FROM ${t} WHERE scope = ? AND shard_id = ?`
    ),
    selectChunks: db.prepare<[string, string, string], { readonly idx: number; readonly data: Buffer }>(
      `SELECT idx, data FROM ${chunks} WHERE scope = ? AND shard_id = ? AND version = ?`
    ),
    remove: db.transaction((key: string, shardId: string) => {
      remove.run(key, shardId)
      removeChunks.run(key, shardId)
    }),
    // Called as .immediate(...): BEGIN IMMEDIATE, so the read already holds the write lock.
    conditional: db.transaction(conditional)
  }
}

type Statements = ReturnType<typeof setUp>

const api = (
  name: string,
  sql: Statements,
  layout: StateLayout,
  error: (operation: string, reason: string) => LeaseStoreError,
  attempt: <A>(operation: string, f: () => A) => Effect.Effect<A, LeaseStoreError>
): LeaseStoreApi => {
  const decoded = (operation: string, row: SqlRow) => {
    const lease = decode(row)
    return typeof lease === "string" ? Effect.fail(error(operation, lease)) : Effect.succeed(lease)
  }
  const write = (
    operation: "take" | "renew" | "checkpoint" | "release",
    scope: LeaseScope,
    shardId: string,
    transition: (current: Lease | undefined) => Transition,
    state?: StateWrite
  ): Effect.Effect<Lease, LeaseLost | LeaseStoreError> =>
    attempt(operation, () => sql.conditional.immediate(scopeKey(scope), shardId, transition, state)).pipe(
      Effect.flatMap((outcome): Effect.Effect<Lease, LeaseLost | LeaseStoreError> => {
        switch (outcome._tag) {
          case "Ok":
            return Effect.succeed(outcome.lease)
          case "Lost":
            return Effect.fail(outcome.error)
          case "Malformed":
            return Effect.fail(error(operation, outcome.reason))
        }
      })
    )
  const checked = (found: Uint8Array | string) =>
    typeof found === "string" ? Effect.fail(error("loadState", found)) : Effect.succeed(found)
  return {
    name,
    list: (scope) =>
      attempt("list", () => sql.selectAll.all(scopeKey(scope))).pipe(
        Effect.flatMap((rows) => Effect.forEach(rows, (row) => decoded("list", row)))
      ),
    listScopes: () => attempt("listScopes", () => scopesOfKeys(sql.selectScopes.all().map((row) => row.scope))),
    get: (scope, shardId) =>
      attempt("get", () => sql.selectOne.get(scopeKey(scope), shardId)).pipe(
        Effect.flatMap((row) => (row === undefined ? Effect.succeed(undefined) : decoded("get", row)))
      ),
    create: (scope, lease) =>
      attempt("create", () => sql.insert.run(encode(scopeKey(scope), newLease(lease))).changes === 1),
    take: (scope, shardId, expected, newOwner) =>
      write("take", scope, shardId, (current) => LeaseTransition.take(scope, shardId, current, expected, newOwner)),
    renew: (scope, held) => write("renew", scope, held.shardId, (current) => LeaseTransition.renew(scope, current, held)),
    checkpoint: (scope, held, checkpoint, childShardIds, state) => {
      const transition = (ref: StateRef | null | undefined) => (current: Lease | undefined) =>
        LeaseTransition.checkpoint(scope, current, held, checkpoint, childShardIds, ref)
      if (state === undefined) return write("checkpoint", scope, held.shardId, transition(undefined))
      return Effect.flatMap(newStateVersion(held), (version) => {
        const planned = planState(layout, state, version)
        return write("checkpoint", scope, held.shardId, transition(planned === null ? null : planned.ref), planned)
      })
    },
    release: (scope, held) =>
      write("release", scope, held.shardId, (current) => LeaseTransition.release(scope, current, held)),
    loadState: (scope, lease) => {
      const ref = lease.state
      if (ref === undefined) return Effect.succeed(undefined)
      if (ref.chunks === 0) {
        return attempt("loadState", () => sql.selectInline.get(scopeKey(scope), lease.shardId)).pipe(
          Effect.flatMap((row) =>
            checked(checkInline(lease.shardId, ref, {
              version: row?.state_version ?? undefined,
              data: row?.state_inline === null || row?.state_inline === undefined ? undefined : new Uint8Array(row.state_inline)
            })))
        )
      }
      return attempt("loadState", () => sql.selectChunks.all(scopeKey(scope), lease.shardId, ref.version)).pipe(
        Effect.flatMap((rows) => checked(joinChunks(lease.shardId, ref, rows.map((r) => ({ index: r.idx, data: r.data })))))
      )
    },
    setChildren: (scope, shardId, childShardIds) =>
      attempt("setChildren", () => void sql.setChildren.run(JSON.stringify([...childShardIds]), scopeKey(scope), shardId)),
    delete: (scope, shardId) => attempt("delete", () => sql.remove.immediate(scopeKey(scope), shardId))
  }
}
