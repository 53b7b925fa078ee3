import type { AttributeValue, DynamoDBClient, DynamoDBClientConfig, TableDescription } from "@aws-sdk/client-dynamodb"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Data, Effect, Schedule, type Scope } from "effect"
import type { DynamoDbLeaseStoreOptions } from "./DynamoDbLeaseStore.js"
import { type LeaseScope, LeaseStoreError, scopesOfKeys } from "./Lease.js"

// The DynamoDB lease table's plumbing: attribute names, expression placeholders, errors and
// retries, requests, the client, and creating the table. Shared by the lease rows and their
// state chunks.

// Only types are imported statically: the SDK is an optional peer dependency, loaded on first use.
export type Sdk = typeof import("@aws-sdk/client-dynamodb")
export type Item = Record<string, AttributeValue>

// ---- attributes

/** The item's attribute names, written once: expressions and items must agree on them. */
export const attr = {
  scope: "scope",
  shardId: "shardId",
  owner: "leaseOwner",
  counter: "leaseCounter",
  checkpoint: "checkpoint",
  subSequence: "checkpointSubSequenceNumber",
  startAt: "startAt",
  parents: "parentShardIds",
  children: "childShardIds",
  switches: "ownerSwitchesSinceCheckpoint",
  // The operator state pointer (absent: no state) and the state itself when small.
  stateVersion: "stateVersion",
  stateBytes: "stateBytes",
  stateChunks: "stateChunks",
  stateInline: "stateInline",
  /** A state chunk item's bytes. */
  chunkData: "data"
} as const

export const S = (value: string): AttributeValue => ({ S: value })
export const N = (value: number): AttributeValue => ({ N: String(value) })
// Lists, not string sets: a DynamoDB set cannot be empty, and the shard order is kept.
export const L = (values: ReadonlyArray<string>): AttributeValue => ({ L: values.map(S) })

// ---- expressions

/**
 * One request's expression placeholders. Every attribute name goes through one (`scope` is a
 * DynamoDB reserved word, and more words may become reserved), and DynamoDB rejects placeholders
 * an expression does not use, so they are collected as the expressions are written.
 */
export class Placeholders {
  private readonly names: Record<string, string> = {}
  private readonly values: Item = {}
  name(attribute: string): string {
    this.names[`#${attribute}`] = attribute
    return `#${attribute}`
  }
  value(value: AttributeValue): string {
    const placeholder = `:v${Object.keys(this.values).length}`
    this.values[placeholder] = value
    return placeholder
  }
  /** The request fields; no ExpressionAttributeValues when empty, which DynamoDB rejects. */
  fields(): { ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues?: Item } {
    return Object.keys(this.values).length === 0
      ? { ExpressionAttributeNames: this.names }
      : { ExpressionAttributeNames: this.names, ExpressionAttributeValues: this.values }
  }
}

/**
 * What an ownership write changes, and only that: attributes it does not name stay as a concurrent
 * writer left them (e.g. children recorded by `setChildren` while a checkpoint is written).

// ---- errors and retries

/** A conditional request's condition did not hold; `item` is the row as found, when DynamoDB sent it. */
export class ConditionFailed extends Data.TaggedError("ConditionFailed")<{ readonly item: Item | undefined }> {}

export const nameOf = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && typeof (cause as { name?: unknown }).name === "string"
    ? (cause as { name: string }).name
    : "Error"

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const statusOf = (cause: unknown): number | undefined =>
  (cause as { $metadata?: { httpStatusCode?: unknown } } | null | undefined)?.$metadata?.httpStatusCode as number | undefined

const throttling = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "Throttling",
  "RequestLimitExceeded",
  // Another request (a transaction) is writing the same item: it will be done in a moment.
  "TransactionConflictException"
])

// Socket errors (no HTTP answer): the endpoint restarting or a connection dropped on the way.
const transientNetwork = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"])

/** Worth another try: throttling, a 5xx, or a dropped connection. Never a 4xx such as a failed condition. */
export const isRetryable = (cause: unknown): boolean => {
  const status = statusOf(cause)
  if (typeof status === "number") return status >= 500 || throttling.has(nameOf(cause))
  return throttling.has(nameOf(cause)) || transientNetwork.has(String((cause as { code?: unknown } | null)?.code))
}

/**
 * Five more tries, 50 ms doubling, each wait capped at 1 s and jittered so that workers throttled
 * together do not come back together: about 1.5 s in all before the error is reported.
 */
export const retries = Schedule.exponential("50 millis").pipe(
  Schedule.either(Schedule.spaced("1 second")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(5))
)

/**
 * Polls DescribeTable until the table is ready: 20 ms doubling up to 1 s apart (dynalite is ready at
 * once, AWS in seconds), for at most 2 minutes.
 */
const readyPolls = Schedule.exponential("20 millis").pipe(
  Schedule.either(Schedule.spaced("1 second")),
  Schedule.upTo("2 minutes")
)

// ---- requests

export type Send<O> = (client: DynamoDBClient, abortSignal: AbortSignal) => Promise<O>

export interface Requests {
  readonly store: string
  /** A request whose condition may fail. Interrupting the fiber aborts the HTTP request. */
  readonly conditional: <O>(operation: string, send: Send<O>) => Effect.Effect<O, LeaseStoreError | ConditionFailed>
  /** A request without a condition. */
  readonly plain: <O>(operation: string, send: Send<O>) => Effect.Effect<O, LeaseStoreError>
}

export const storeError = (store: string, operation: string, cause: unknown) =>
  // The SDK's messages name the table, key or condition, never the credentials.
  new LeaseStoreError({ operation, store, reason: `${nameOf(cause)}: ${messageOf(cause)}`, cause })

export const requests = (client: DynamoDBClient, store: string): Requests => {
  const conditional = <O>(operation: string, send: Send<O>) =>
    Effect.tryPromise({ try: (signal) => send(client, signal), catch: (cause) => cause }).pipe(
      Effect.retry({ schedule: retries, while: isRetryable }),
      Effect.mapError((cause) =>
        nameOf(cause) === "ConditionalCheckFailedException"
          ? new ConditionFailed({ item: (cause as { Item?: Item }).Item })
          : storeError(store, operation, cause)
      )
    )
  const plain = <O>(operation: string, send: Send<O>) =>
    Effect.catchTag(conditional(operation, send), "ConditionFailed", (failed) =>
      Effect.fail(storeError(store, operation, new Error(`unexpected ConditionalCheckFailedException ${JSON.stringify(failed.item)}`))))
  return { store, conditional, plain }
}

// ---- scans

/**
 * Every scope with leases in the table: a Scan projecting the partition key, page by page. It
 * reads the whole table (chunk items included; their partitions are not scopes and are skipped),
 * which is fine for a listing by hand, not for anything run per take round.
 */
export const scanScopes = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<ReadonlyArray<LeaseScope>, LeaseStoreError> =>
  Effect.gen(function* () {
    const keys = new Set<string>()
    let start: Item | undefined
    do {
      const p = new Placeholders()
      const ProjectionExpression = p.name(attr.scope)
      const page = yield* r.plain("listScopes", (c, abortSignal) =>
        c.send(
          new sdk.ScanCommand({
            TableName: tableName,
            ProjectionExpression,
            ...p.fields(),
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start })
          }),
          { abortSignal }
        ))
      for (const item of page.Items ?? []) {
        const key = item[attr.scope]?.S
        if (key !== undefined) keys.add(key)
      }
      start = page.LastEvaluatedKey
    } while (start !== undefined)
    return scopesOfKeys(keys)
  })

// ---- the table

const isReady = (table: TableDescription): boolean => table.TableStatus === "ACTIVE" || table.TableStatus === "UPDATING"

/** Not ready yet: still being created, or just created and not yet visible (DescribeTable is eventually consistent). */
class NotReady extends Data.TaggedError("NotReady")<{ readonly status: string; readonly worthWaiting: boolean }> {}

const describeTable = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<TableDescription | undefined, LeaseStoreError> =>
  r.plain("describeTable", (c, abortSignal) => c.send(new sdk.DescribeTableCommand({ TableName: tableName }), { abortSignal })).pipe(
    Effect.map((out) => out.Table),
    Effect.catchIf((e) => nameOf(e.cause) === "ResourceNotFoundException", () => Effect.succeed(undefined))
  )

/** Creates the table; undefined when another worker created it first (then it is only described). */
const createTable = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<TableDescription | undefined, LeaseStoreError> =>
  r.plain("createTable", (c, abortSignal) =>
    c.send(
      new sdk.CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: attr.scope, AttributeType: "S" },
          { AttributeName: attr.shardId, AttributeType: "S" }
        ],
        KeySchema: [
          { AttributeName: attr.scope, KeyType: "HASH" },
          { AttributeName: attr.shardId, KeyType: "RANGE" }
        ],
        BillingMode: "PAY_PER_REQUEST"
      }),
      { abortSignal }
    )).pipe(
    Effect.map((out) => out.TableDescription),
    Effect.catchIf((e) => nameOf(e.cause) === "ResourceInUseException", () => Effect.succeed(undefined))
  )

const awaitReady = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<TableDescription, LeaseStoreError> =>
  describeTable(sdk, r, tableName).pipe(
    Effect.flatMap((table) =>
      table !== undefined && isReady(table)
        ? Effect.succeed(table)
        : Effect.fail(new NotReady({
            status: table?.TableStatus ?? "not found",
            worthWaiting: table === undefined || table.TableStatus === "CREATING"
          }))
    ),
    Effect.retry({ schedule: readyPolls, while: (e) => e._tag === "NotReady" && e.worthWaiting }),
    Effect.catchTag("NotReady", (e) =>
      Effect.fail(new LeaseStoreError({
        operation: "open",
        store: r.store,
        reason: `table ${tableName} is ${e.status}${e.worthWaiting ? " after 2 minutes" : ""}, not ACTIVE`
      })))
  )

const keySchemaOf = (table: TableDescription): string => {
  const types = new Map((table.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]))
  return [...(table.KeySchema ?? [])]
    .sort((a, b) => (a.KeyType === b.KeyType ? 0 : a.KeyType === "HASH" ? -1 : 1))
    .map((k) => `${k.AttributeName} ${types.get(k.AttributeName) ?? "?"} ${k.KeyType}`)
    .join(", ")
}

const leaseKeySchema = `${attr.scope} S HASH, ${attr.shardId} S RANGE`

/** The table, created if missing and ready for use, with the lease key schema. */
export const ensureTable = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<void, LeaseStoreError> =>
  Effect.gen(function* () {
    const found = (yield* describeTable(sdk, r, tableName)) ?? (yield* createTable(sdk, r, tableName))
    const table = found !== undefined && isReady(found) ? found : yield* awaitReady(sdk, r, tableName)
    const keySchema = keySchemaOf(table)
    if (keySchema !== leaseKeySchema) {
      return yield* new LeaseStoreError({
        operation: "open",
        store: r.store,
        reason: `table ${tableName} exists with key schema (${keySchema}), but a lease table needs (${leaseKeySchema}): ` +
          "set the option tableName to a new table or to a shardline lease table"
      })
    }
  })

// ---- the client

const clientConfig = (options: DynamoDbLeaseStoreOptions): DynamoDBClientConfig => {
  // One attempt per call: retries are ours (a Schedule on Effect's Clock, visible to tests).
  const config: DynamoDBClientConfig = { maxAttempts: 1 }
  if (options.region !== undefined) config.region = options.region
  if (options.credentials !== undefined) config.credentials = options.credentials as NonNullable<DynamoDBClientConfig["credentials"]>
  if (options.endpoint !== undefined) config.endpoint = options.endpoint
  // Local emulators speak HTTP/1.1 only; against AWS the SDK's default handler is kept.
  const handler = options.requestHandler ?? (options.endpoint !== undefined ? new NodeHttpHandler() : undefined)
  if (handler !== undefined) config.requestHandler = handler as NonNullable<DynamoDBClientConfig["requestHandler"]>
  return config
}

export const openClient = (sdk: Sdk, options: DynamoDbLeaseStoreOptions, store: string): Effect.Effect<DynamoDBClient, LeaseStoreError, Scope.Scope> =>
  options.client !== undefined
    ? Effect.succeed(options.client as unknown as DynamoDBClient)
    : Effect.acquireRelease(
        Effect.try({ try: () => new sdk.DynamoDBClient(clientConfig(options)), catch: (cause) => storeError(store, "open", cause) }),
        (client) => Effect.sync(() => client.destroy())
      )

const tableNamePattern = /^[a-zA-Z0-9_.-]{3,255}$/

export const validateTableName = (tableName: unknown, store: string): Effect.Effect<string, LeaseStoreError> =>
  typeof tableName === "string" && tableNamePattern.test(tableName)
    ? Effect.succeed(tableName)
    : Effect.fail(new LeaseStoreError({
        operation: "open",
        store,
        reason: `option tableName: ${JSON.stringify(tableName)} is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ . -)`
      }))
