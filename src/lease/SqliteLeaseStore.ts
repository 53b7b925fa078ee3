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
  toRow,
  type Transition
} from "./Lease.js"
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
}

type Driver = typeof BetterSqlite3
type Database = BetterSqlite3.Database

const defaultTableName = "shardline_leases"
const defaultBusyTimeout = 5000
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
}

/** The named parameters of a full row write. */
interface SqlParams extends SqlRow {
  readonly scope: string
}

const columns = "shard_id, owner, counter, checkpoint, checkpoint_sub, start_at, parents, children, owner_switches"

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
    PRIMARY KEY (scope, shard_id)
  ) STRICT`

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
    owner_switches: row.ownerSwitchesSinceCheckpoint
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
    ownerSwitchesSinceCheckpoint: row.owner_switches
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
  return undefined
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
 * halfway. The database closes when the scope closes. Needs the optional package `better-sqlite3`.
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
      Effect.map((statements) => api(store, statements, error, attempt))
    )
  })

/** Pragmas, the table and every statement, prepared once. */
const setUp = (db: Database, table: string, busyTimeout: number) => {
  // The busy timeout first: the pragmas and CREATE below need locks other processes may hold.
  db.pragma(`busy_timeout = ${busyTimeout}`)
  // WAL lets readers (list, get) run while another process writes. Correctness does not depend
  // on it (the IMMEDIATE transactions do), so a file system that refuses WAL still works.
  db.pragma("journal_mode = WAL")
  // NORMAL, not FULL: in WAL mode NORMAL never corrupts the file and loses only the last commits,
  // and only on an OS crash or power loss. Such a crash kills every process sharing the file, so
  // no surviving worker can act on a counter that was rolled back; a lost checkpoint means records
  // are read again, which at-least-once delivery allows. FULL would fsync on every renewal.
  db.pragma("synchronous = NORMAL")
  db.exec(createTable(table))
  const t = `"${table}"`
  const selectOne = db.prepare<[string, string], SqlRow>(`SELECT ${columns} FROM ${t} WHERE scope = ? AND shard_id = ?`)
  const update = db.prepare<SqlParams>(
    `UPDATE ${t} SET owner = @owner, counter = @counter, checkpoint = @checkpoint, checkpoint_sub = @checkpoint_sub,
       start_at = @start_at, parents = @parents, children = @children, owner_switches = @owner_switches
     WHERE scope = @scope AND shard_id = @shard_id`
  )
  // Read, decide with the shared transition, write: the body of every ownership-conditional write.
  const conditional = (
    key: string,
    shardId: string,
    transition: (current: Lease | undefined) => Transition
  ): WriteOutcome => {
    const found = selectOne.get(key, shardId)
    const current = found === undefined ? undefined : decode(found)
    if (typeof current === "string") return { _tag: "Malformed", reason: current }
    const outcome = transition(current)
    if (outcome._tag === "Ok") update.run(encode(key, outcome.lease))
    return outcome
  }
  return {
    // BINARY order of UTF-8 bytes: the same as JavaScript's for the ASCII shard ids Kinesis issues.
    selectAll: db.prepare<[string], SqlRow>(`SELECT ${columns} FROM ${t} WHERE scope = ? ORDER BY shard_id`),
    selectOne,
    // Not INSERT OR IGNORE: that also skips rows breaking NOT NULL or STRICT types, which would
    // read as "already exists". Only the key conflict means that.
    insert: db.prepare<SqlParams>(
      `INSERT INTO ${t} (scope, ${columns})
       VALUES (@scope, @shard_id, @owner, @counter, @checkpoint, @checkpoint_sub, @start_at, @parents, @children, @owner_switches)
       ON CONFLICT (scope, shard_id) DO NOTHING`
    ),
    setChildren: db.prepare<[string, string, string]>(`UPDATE ${t} SET children = ? WHERE scope = ? AND shard_id = ?`),
    remove: db.prepare<[string, string]>(`DELETE FROM ${t} WHERE scope = ? AND shard_id = ?`),
    // Called as .immediate(...): BEGIN IMMEDIATE, so the read already holds the write lock.
    conditional: db.transaction(conditional)
  }
}

type Statements = ReturnType<typeof setUp>

const api = (
  name: string,
  sql: Statements,
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
    transition: (current: Lease | undefined) => Transition
  ): Effect.Effect<Lease, LeaseLost | LeaseStoreError> =>
    attempt(operation, () => sql.conditional.immediate(scopeKey(scope), shardId, transition)).pipe(
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
  return {
    name,
    list: (scope) =>
      attempt("list", () => sql.selectAll.all(scopeKey(scope))).pipe(
        Effect.flatMap((rows) => Effect.forEach(rows, (row) => decoded("list", row)))
      ),
    get: (scope, shardId) =>
      attempt("get", () => sql.selectOne.get(scopeKey(scope), shardId)).pipe(
        Effect.flatMap((row) => (row === undefined ? Effect.succeed(undefined) : decoded("get", row)))
      ),
    create: (scope, lease) =>
      attempt("create", () => sql.insert.run(encode(scopeKey(scope), newLease(lease))).changes === 1),
    take: (scope, shardId, expected, newOwner) =>
      write("take", scope, shardId, (current) => LeaseTransition.take(scope, shardId, current, expected, newOwner)),
    renew: (scope, held) => write("renew", scope, held.shardId, (current) => LeaseTransition.renew(scope, current, held)),
    checkpoint: (scope, held, checkpoint, childShardIds) =>
      write("checkpoint", scope, held.shardId, (current) =>
        LeaseTransition.checkpoint(scope, current, held, checkpoint, childShardIds)),
    release: (scope, held) =>
      write("release", scope, held.shardId, (current) => LeaseTransition.release(scope, current, held)),
    setChildren: (scope, shardId, childShardIds) =>
      attempt("setChildren", () => void sql.setChildren.run(JSON.stringify([...childShardIds]), scopeKey(scope), shardId)),
    delete: (scope, shardId) => attempt("delete", () => void sql.remove.run(scopeKey(scope), shardId))
  }
}
