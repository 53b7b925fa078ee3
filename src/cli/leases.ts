import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { Command, Options } from "@effect/cli"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, Option } from "effect"
import { importOptional } from "../internal/optionalDependency.js"
import { type Lease, type LeaseScope, LeaseStore, type LeaseStoreApi, LeaseStoreError } from "../lease/index.js"
import { kinesisOptions } from "./common.js"
import { CliOutput } from "./progress.js"

/** A lease's state in one word: `ended` (read to SHARD_END), `owned` (a worker holds it) or `available`. */
export const leaseState = (lease: Lease): "ended" | "owned" | "available" =>
  lease.checkpoint?._tag === "ShardEnd" ? "ended" : lease.owner !== undefined ? "owned" : "available"

const checkpointText = (lease: Lease): string => {
  const c = lease.checkpoint
  if (c === undefined) return "-"
  if (c._tag === "ShardEnd") return "SHARD_END"
  return c.subSequenceNumber > 0 ? `${c.sequenceNumber}/${c.subSequenceNumber}` : c.sequenceNumber
}

/** One lease as the JSON line `--json` prints. */
export const leaseJson = (lease: Lease) => ({
  shardId: lease.shardId,
  owner: lease.owner ?? null,
  counter: lease.counter,
  checkpoint: checkpointText(lease) === "-" ? null : checkpointText(lease),
  parents: lease.parentShardIds,
  children: lease.childShardIds,
  state: leaseState(lease),
  ownerSwitchesSinceCheckpoint: lease.ownerSwitchesSinceCheckpoint
})

const columns = ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE"] as const

const cells = (l: Lease): ReadonlyArray<string> => [
  l.shardId,
  l.owner ?? "-",
  String(l.counter),
  checkpointText(l),
  l.parentShardIds.length === 0 ? "-" : l.parentShardIds.join(","),
  leaseState(l)
]

/** Rows of cells as aligned lines, the columns as wide as their widest cell in `all`. */
const aligned = (rows: ReadonlyArray<ReadonlyArray<string>>, all: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = columns.map((_, i) => Math.max(...all.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
}

/** The leases as an aligned table, a header line first. */
export const leaseTable = (leases: ReadonlyArray<Lease>): ReadonlyArray<string> => {
  const all = [[...columns], ...leases.map(cells)]
  return aligned(all, all)
}

/** One scope's leases, as listed. */
export interface LeaseGroup {
  readonly scope: LeaseScope
  readonly leases: ReadonlyArray<Lease>
}

/** The line above a group's table. */
export const scopeHeader = (scope: LeaseScope): string => `application ${scope.applicationName}, stream ${scope.streamName}`

/**
 * Several scopes' leases: per scope a header line naming it, then its table; the columns aligned
 * across all tables and a blank line between them.
 */
export const leaseGroupTables = (groups: ReadonlyArray<LeaseGroup>): ReadonlyArray<string> => {
  const all = [[...columns], ...groups.flatMap((g) => g.leases.map(cells))]
  return groups.flatMap((g, i) => [...(i === 0 ? [] : [""]), scopeHeader(g.scope), ...aligned([[...columns], ...g.leases.map(cells)], all)])
}

export interface LeasesArgs {
  readonly table: Option.Option<string>
  readonly store: "dynamodb" | "sqlite"
  readonly sqlitePath: Option.Option<string>
  /** Filters: only this application's, only this stream's leases. Both given, one scope is read and no table scanned. */
  readonly application: Option.Option<string>
  readonly stream: Option.Option<string>
  readonly json: boolean
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
}

type DynamoSdk = typeof import("@aws-sdk/client-dynamodb")

/**
 * The store layers create a missing table; a listing must not. DescribeTable first, so a typo in
 * --table is an error rather than a new, empty table.
 */
const dynamoTableExists = (table: string, args: LeasesArgs) =>
  Effect.gen(function* () {
    const sdk = yield* importOptional<DynamoSdk>("@aws-sdk/client-dynamodb", "shardline leases", { dev: false })
    const options = kinesisOptions(args)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new sdk.DynamoDBClient({
        maxAttempts: 2,
        ...(options.region === undefined ? {} : { region: options.region }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, requestHandler: new NodeHttpHandler() }),
        ...(options.credentials === undefined ? {} : { credentials: options.credentials as never })
      })),
      (c) => Effect.sync(() => c.destroy())
    )
    const found = yield* Effect.tryPromise({
      try: (abortSignal) => client.send(new sdk.DescribeTableCommand({ TableName: table }), { abortSignal }).then(() => true),
      catch: (cause) => cause
    }).pipe(Effect.catchAll((cause) =>
      (cause as { name?: unknown } | null)?.name === "ResourceNotFoundException"
        ? Effect.succeed(false)
        : Effect.fail(new LeaseStoreError({ operation: "describe table", store: `dynamodb:${table}`, reason: cause instanceof Error ? cause.message : String(cause), cause }))))
    if (!found) {
      return yield* new LeaseStoreError({
        operation: "list",
        store: `dynamodb:${table}`,
        reason: `there is no table ${table}${options.region === undefined ? "" : ` in region ${options.region}`}${options.endpoint === undefined ? "" : ` at ${options.endpoint}`}`
      })
    }
  }).pipe(Effect.scoped)

const storeLayer = (args: LeasesArgs) =>
  Effect.gen(function* () {
    if (args.store === "sqlite") {
      const path = Option.getOrUndefined(args.sqlitePath)
      if (path === undefined || !existsSync(resolve(path))) {
        return yield* new LeaseStoreError({
          operation: "list",
          store: `sqlite:${path ?? "?"}`,
          reason: path === undefined ? "--store sqlite needs --sqlite-path FILE" : `there is no file ${resolve(path)}`
        })
      }
      return LeaseStore.layerSqlite({ path, ...(Option.isSome(args.table) ? { tableName: args.table.value } : {}) })
    }
    if (Option.isNone(args.table)) {
      return yield* new LeaseStoreError({ operation: "list", store: "dynamodb", reason: "--table TABLE is required with the DynamoDB store" })
    }
    const tableName = args.table.value
    yield* dynamoTableExists(tableName, args)
    return LeaseStore.layerDynamoDB({ tableName, ...kinesisOptions(args) })
  })

/** The scopes to list: the one both filters name, else the table's scopes that pass the filters. */
const scopesToList = (store: LeaseStoreApi, args: LeasesArgs): Effect.Effect<ReadonlyArray<LeaseScope>, LeaseStoreError> =>
  Option.isSome(args.application) && Option.isSome(args.stream)
    ? Effect.succeed([{ applicationName: args.application.value, streamName: args.stream.value }])
    : Effect.map(store.listScopes(), (scopes) =>
        scopes.filter((s) =>
          Option.getOrElse(Option.map(args.application, (a) => a === s.applicationName), () => true) &&
          Option.getOrElse(Option.map(args.stream, (name) => name === s.streamName), () => true)))

/** What was asked for, for the message when nothing matches. */
const wanted = (args: LeasesArgs): string => {
  const filters = [
    ...Option.toArray(Option.map(args.application, (a) => `application ${a}`)),
    ...Option.toArray(Option.map(args.stream, (s) => `stream ${s}`))
  ]
  return filters.length === 0 ? "" : ` for ${filters.join(" and ")}`
}

/**
 * Lists the leases of a lease table: every application's and stream's, grouped by scope, or only
 * those `--application` and `--stream` select.
 */
export const leases = (args: LeasesArgs) =>
  Effect.gen(function* () {
    const output = yield* CliOutput
    const layer = yield* storeLayer(args)
    const groups = yield* Effect.gen(function* () {
      const store = yield* LeaseStore
      const scopes = yield* scopesToList(store, args)
      return yield* Effect.forEach(scopes, (scope) => Effect.map(store.list(scope), (leases): LeaseGroup => ({ scope, leases })))
    }).pipe(Effect.provide(layer))
    // A scope listed by listScopes may have lost its last row since.
    const listed = groups.filter((g) => g.leases.length > 0)
    if (args.json) {
      for (const { scope, leases } of listed) {
        for (const lease of leases) {
          output.out.write(`${JSON.stringify({ application: scope.applicationName, stream: scope.streamName, ...leaseJson(lease) })}\n`)
        }
      }
      return
    }
    if (listed.length === 0) {
      output.err.write(`no leases${wanted(args)} in the ${args.store} lease table${Option.isSome(args.table) ? ` ${args.table.value}` : ""}\n`)
      return
    }
    // A stream named and one scope found: the plain table, as before scopes were listed.
    const lines = Option.isSome(args.stream) && listed.length === 1 ? leaseTable(listed[0]!.leases) : leaseGroupTables(listed)
    for (const line of lines) output.out.write(`${line}\n`)
  })

export const leasesCommand = Command.make("leases", {
  table: Options.text("table").pipe(
    Options.withDescription("The lease table: the DynamoDB table (required), or with --store sqlite the SQL table (default shardline_leases)"),
    Options.optional
  ),
  store: Options.choice("store", ["dynamodb", "sqlite"]).pipe(Options.withDescription("Where the leases are kept"), Options.withDefault("dynamodb" as const)),
  sqlitePath: Options.text("sqlite-path").pipe(Options.withDescription("The SQLite database file (with --store sqlite)"), Options.optional),
  application: Options.text("application").pipe(
    Options.withDescription("Only this application's leases (a pipeline's applicationName; pipelines default to shardline); without it, every application's"),
    Options.optional
  ),
  stream: Options.text("stream").pipe(Options.withDescription("Only this stream's leases; without it, every stream's"), Options.optional),
  json: Options.boolean("json").pipe(Options.withDescription("One JSON object per lease and line, with its application and stream")),
  endpoint: Options.text("endpoint").pipe(Options.withDescription("DynamoDB endpoint override, e.g. http://127.0.0.1:8000"), Options.optional),
  region: Options.text("region").pipe(Options.withDescription("AWS region (default $AWS_REGION)"), Options.optional)
}, leases).pipe(
  Command.withDescription(
    "List the leases of a lease table: shard, owner, counter, checkpoint, parents, state (owned, available, ended), " +
      "grouped under a header line per application and stream (none when --stream is given and one application has that stream)"
  )
)
