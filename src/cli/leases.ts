import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { Command, Options } from "@effect/cli"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, Option } from "effect"
import { importOptional } from "../internal/optionalDependency.js"
import { type Lease, LeaseStore, LeaseStoreError } from "../lease/index.js"
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

/** The leases as an aligned table, a header line first. */
export const leaseTable = (leases: ReadonlyArray<Lease>): ReadonlyArray<string> => {
  const rows = leases.map((l) => [
    l.shardId,
    l.owner ?? "-",
    String(l.counter),
    checkpointText(l),
    l.parentShardIds.length === 0 ? "-" : l.parentShardIds.join(","),
    leaseState(l)
  ])
  const all = [[...columns], ...rows]
  const widths = columns.map((_, i) => Math.max(...all.map((r) => r[i]!.length)))
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
}

export interface LeasesArgs {
  readonly table: Option.Option<string>
  readonly store: "dynamodb" | "sqlite"
  readonly sqlitePath: Option.Option<string>
  readonly application: string
  readonly stream: string
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

/** Lists the leases of one application and stream in a lease table. */
export const leases = (args: LeasesArgs) =>
  Effect.gen(function* () {
    const output = yield* CliOutput
    const layer = yield* storeLayer(args)
    const rows = yield* Effect.flatMap(LeaseStore, (store) => store.list({ applicationName: args.application, streamName: args.stream })).pipe(
      Effect.provide(layer)
    )
    if (args.json) {
      for (const lease of rows) output.out.write(`${JSON.stringify(leaseJson(lease))}\n`)
      return
    }
    if (rows.length === 0) {
      output.err.write(`no leases for application ${args.application} and stream ${args.stream} in the ${args.store} lease table${Option.isSome(args.table) ? ` ${args.table.value}` : ""}\n`)
      return
    }
    for (const line of leaseTable(rows)) output.out.write(`${line}\n`)
  })

export const leasesCommand = Command.make("leases", {
  table: Options.text("table").pipe(
    Options.withDescription("The lease table: the DynamoDB table (required), or with --store sqlite the SQL table (default shardline_leases)"),
    Options.optional
  ),
  store: Options.choice("store", ["dynamodb", "sqlite"]).pipe(Options.withDescription("Where the leases are kept"), Options.withDefault("dynamodb" as const)),
  sqlitePath: Options.text("sqlite-path").pipe(Options.withDescription("The SQLite database file (with --store sqlite)"), Options.optional),
  application: Options.text("application").pipe(
    Options.withDescription("The application name whose leases to list (the pipeline's applicationName)"),
    Options.withDefault("shardline")
  ),
  stream: Options.text("stream").pipe(Options.withDescription("The stream whose leases to list")),
  json: Options.boolean("json").pipe(Options.withDescription("One JSON object per lease and line")),
  endpoint: Options.text("endpoint").pipe(Options.withDescription("DynamoDB endpoint override, e.g. http://127.0.0.1:8000"), Options.optional),
  region: Options.text("region").pipe(Options.withDescription("AWS region (default $AWS_REGION)"), Options.optional)
}, leases).pipe(
  Command.withDescription("List the leases of an application and stream: shard, owner, counter, checkpoint, parents, state (owned, available, ended)")
)
