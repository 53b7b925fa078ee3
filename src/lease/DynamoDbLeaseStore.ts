import type {
  AttributeValue,
  DynamoDBClient,
  DynamoDBClientConfig,
  TableDescription
} from "@aws-sdk/client-dynamodb"
import type { KinesisClientConfig } from "@aws-sdk/client-kinesis"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Data, Effect, Schedule, type Scope } from "effect"
import type { Checkpoint } from "../checkpoint/index.js"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import {
  encodeCheckpoint,
  fromRow,
  type HeldLease,
  type Lease,
  type LeaseLost,
  leaseLost,
  type LeaseRow,
  type LeaseScope,
  LeaseStoreError,
  type LeaseWrite,
  newLease,
  scopeKey,
  toRow
} from "./Lease.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

// Only types are imported statically: the SDK is an optional peer dependency, loaded on first use.
type Sdk = typeof import("@aws-sdk/client-dynamodb")
type Item = Record<string, AttributeValue>

/**
 * Which DynamoDB table holds the leases and how to reach it. Left out, region and credentials are
 * resolved the way the AWS SDK resolves them (environment, shared config files, instance roles).
 *
 * @example
 * ```ts
 * // On AWS:
 * LeaseStore.layerDynamoDB({ tableName: "shardline-leases", region: "eu-west-1" })
 * // Against dynalite or DynamoDB Local:
 * LeaseStore.layerDynamoDB({
 *   tableName: "shardline-leases",
 *   endpoint: "http://127.0.0.1:4567",
 *   region: "us-east-1",
 *   credentials: { accessKeyId: "test", secretAccessKey: "test" }
 * })
 * ```
 */
export interface DynamoDbLeaseStoreOptions {
  /**
   * The lease table: 3 to 255 of `a-z A-Z 0-9 _ . -`. Created if missing (key `scope` + `shardId`,
   * on-demand billing); an existing table must have that key.
   */
  readonly tableName: string
  readonly region?: string
  /** Endpoint override, e.g. dynalite's `http://127.0.0.1:4567`; then HTTP/1.1 is used by default. */
  readonly endpoint?: string
  // The public option types come from the Kinesis client (a dependency), not from the optional
  // DynamoDB package, so the declarations type-check where it is not installed. Same shapes.
  readonly credentials?: KinesisClientConfig["credentials"]
  /** The HTTP handler. Defaults to `NodeHttpHandler` with an `endpoint`, else the SDK's own. */
  readonly requestHandler?: KinesisClientConfig["requestHandler"]
  /**
   * A `DynamoDBClient` of your own, used instead of building one (`region`, `endpoint`,
   * `credentials` and `requestHandler` are then ignored). shardline does not destroy it.
   */
  readonly client?: DynamoDbClientLike
}

/** What shardline needs of a `DynamoDBClient` (typed here so the package stays optional). */
export interface DynamoDbClientLike {
  readonly send: (command: never, options?: { readonly abortSignal?: AbortSignal }) => Promise<unknown>
}

// ---- attributes and items

/** The item's attribute names, written once: expressions and items must agree on them. */
const attr = {
  scope: "scope",
  shardId: "shardId",
  owner: "leaseOwner",
  counter: "leaseCounter",
  checkpoint: "checkpoint",
  subSequence: "checkpointSubSequenceNumber",
  startAt: "startAt",
  parents: "parentShardIds",
  children: "childShardIds",
  switches: "ownerSwitchesSinceCheckpoint"
} as const

const S = (value: string): AttributeValue => ({ S: value })
const N = (value: number): AttributeValue => ({ N: String(value) })
// Lists, not string sets: a DynamoDB set cannot be empty, and the shard order is kept.
const L = (values: ReadonlyArray<string>): AttributeValue => ({ L: values.map(S) })

const keyOf = (scope: LeaseScope, shardId: string): Item => ({ [attr.scope]: S(scopeKey(scope)), [attr.shardId]: S(shardId) })

/** A row as an item; absent owner and checkpoint are absent attributes, so conditions can test them. */
const toItem = (scope: LeaseScope, row: LeaseRow): Item => ({
  ...keyOf(scope, row.shardId),
  ...(row.owner === null ? {} : { [attr.owner]: S(row.owner) }),
  [attr.counter]: N(row.counter),
  ...(row.checkpoint === null ? {} : { [attr.checkpoint]: S(row.checkpoint) }),
  [attr.subSequence]: N(row.checkpointSubSequenceNumber),
  [attr.startAt]: S(row.startAt),
  [attr.parents]: L(row.parentShardIds),
  [attr.children]: L(row.childShardIds),
  [attr.switches]: N(row.ownerSwitchesSinceCheckpoint)
})

/** Typed reads of an item's attributes that note each problem instead of throwing. */
const itemReader = (item: Item) => {
  const problems: Array<string> = []
  const bad = <A>(name: string, what: string, fallback: A): A => {
    problems.push(`${name} ${item[name] === undefined ? "is missing" : `is not ${what}`}`)
    return fallback
  }
  return {
    problems,
    string: (name: string): string => item[name]?.S ?? bad(name, "a string (S)", ""),
    optionalString: (name: string): string | null =>
      item[name] === undefined ? null : item[name]?.S ?? bad(name, "a string (S)", null),
    count: (name: string): number => {
      const text = item[name]?.N
      const value = Number(text)
      return text !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : bad(name, "a whole number (N)", 0)
    },
    strings: (name: string): ReadonlyArray<string> => {
      const values = item[name]?.L?.map((v) => v.S)
      return values?.every((v): v is string => typeof v === "string") === true ? values : bad(name, "a list of strings (L)", [])
    }
  }
}

/** An item back to a row, or what is wrong with it. */
const fromItem = (item: Item): LeaseRow | string => {
  const read = itemReader(item)
  const row: LeaseRow = {
    shardId: read.string(attr.shardId),
    owner: read.optionalString(attr.owner),
    counter: read.count(attr.counter),
    checkpoint: read.optionalString(attr.checkpoint),
    checkpointSubSequenceNumber: read.count(attr.subSequence),
    startAt: read.string(attr.startAt),
    parentShardIds: read.strings(attr.parents),
    childShardIds: read.strings(attr.children),
    ownerSwitchesSinceCheckpoint: read.count(attr.switches)
  }
  return read.problems.length === 0 ? row : `lease ${row.shardId || "?"}: ${read.problems.join(", ")}`
}

// ---- expressions

/**
 * One request's expression placeholders. Every attribute name goes through one (`scope` is a
 * DynamoDB reserved word, and more words may become reserved), and DynamoDB rejects placeholders
 * an expression does not use, so they are collected as the expressions are written.
 */
class Placeholders {
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
 */
interface Change {
  readonly set?: Readonly<Record<string, AttributeValue>>
  readonly add?: Readonly<Record<string, number>>
  readonly remove?: ReadonlyArray<string>
}

const updateExpression = (p: Placeholders, change: Change): string =>
  [
    clause("SET", Object.entries(change.set ?? {}).map(([name, value]) => `${p.name(name)} = ${p.value(value)}`)),
    clause("ADD", Object.entries(change.add ?? {}).map(([name, n]) => `${p.name(name)} ${p.value(N(n))}`)),
    clause("REMOVE", (change.remove ?? []).map((name) => p.name(name)))
  ].filter((c) => c !== "").join(" ")

const clause = (keyword: string, actions: ReadonlyArray<string>): string =>
  actions.length === 0 ? "" : `${keyword} ${actions.join(", ")}`

type Expected = { readonly owner: string | undefined; readonly counter: number }

/** The row exists and is still at `expected` (a missing counter compares false, so no row fails too). */
const stillAt = (p: Placeholders, expected: Expected): string => {
  const owner = expected.owner === undefined
    ? `attribute_not_exists(${p.name(attr.owner)})`
    : `${p.name(attr.owner)} = ${p.value(S(expected.owner))}`
  return `${p.name(attr.counter)} = ${p.value(N(expected.counter))} AND ${owner}`
}

/**
 * The ownership writes as updates, each what `LeaseTransition` does to a row that is still at
 * `expected` (the condition guarantees it, so `expected.counter + 1` is the current counter + 1).
 */
const changes = {
  take: (expected: Expected, newOwner: string): Change => ({
    set: { [attr.owner]: S(newOwner), [attr.counter]: N(expected.counter + 1) },
    add: expected.owner === newOwner ? {} : { [attr.switches]: 1 }
  }),
  renew: (held: HeldLease): Change => ({ set: { [attr.counter]: N(held.counter + 1) } }),
  checkpoint: (checkpoint: Checkpoint, childShardIds: ReadonlyArray<string> | undefined): Change => {
    const encoded = encodeCheckpoint(checkpoint)
    return {
      set: {
        ...(encoded.checkpoint === null ? {} : { [attr.checkpoint]: S(encoded.checkpoint) }),
        [attr.subSequence]: N(encoded.checkpointSubSequenceNumber),
        [attr.switches]: N(0),
        ...(childShardIds === undefined ? {} : { [attr.children]: L(childShardIds) })
      },
      remove: encoded.checkpoint === null ? [attr.checkpoint] : []
    }
  },
  release: (held: HeldLease): Change => ({ set: { [attr.counter]: N(held.counter + 1) }, remove: [attr.owner] })
} as const

// ---- errors and retries

/** A conditional request's condition did not hold; `item` is the row as found, when DynamoDB sent it. */
class ConditionFailed extends Data.TaggedError("ConditionFailed")<{ readonly item: Item | undefined }> {}

const nameOf = (cause: unknown): string =>
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
const isRetryable = (cause: unknown): boolean => {
  const status = statusOf(cause)
  if (typeof status === "number") return status >= 500 || throttling.has(nameOf(cause))
  return throttling.has(nameOf(cause)) || transientNetwork.has(String((cause as { code?: unknown } | null)?.code))
}

/**
 * Five more tries, 50 ms doubling, each wait capped at 1 s and jittered so that workers throttled
 * together do not come back together: about 1.5 s in all before the error is reported.
 */
const retries = Schedule.exponential("50 millis").pipe(
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

type Send<O> = (client: DynamoDBClient, abortSignal: AbortSignal) => Promise<O>

interface Requests {
  readonly store: string
  /** A request whose condition may fail. Interrupting the fiber aborts the HTTP request. */
  readonly conditional: <O>(operation: string, send: Send<O>) => Effect.Effect<O, LeaseStoreError | ConditionFailed>
  /** A request without a condition. */
  readonly plain: <O>(operation: string, send: Send<O>) => Effect.Effect<O, LeaseStoreError>
}

const storeError = (store: string, operation: string, cause: unknown) =>
  // The SDK's messages name the table, key or condition, never the credentials.
  new LeaseStoreError({ operation, store, reason: `${nameOf(cause)}: ${messageOf(cause)}`, cause })

const requests = (client: DynamoDBClient, store: string): Requests => {
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
const ensureTable = (sdk: Sdk, r: Requests, tableName: string): Effect.Effect<void, LeaseStoreError> =>
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

const openClient = (sdk: Sdk, options: DynamoDbLeaseStoreOptions, store: string): Effect.Effect<DynamoDBClient, LeaseStoreError, Scope.Scope> =>
  options.client !== undefined
    ? Effect.succeed(options.client as unknown as DynamoDBClient)
    : Effect.acquireRelease(
        Effect.try({ try: () => new sdk.DynamoDBClient(clientConfig(options)), catch: (cause) => storeError(store, "open", cause) }),
        (client) => Effect.sync(() => client.destroy())
      )

const tableNamePattern = /^[a-zA-Z0-9_.-]{3,255}$/

const validateTableName = (tableName: unknown, store: string): Effect.Effect<string, LeaseStoreError> =>
  typeof tableName === "string" && tableNamePattern.test(tableName)
    ? Effect.succeed(tableName)
    : Effect.fail(new LeaseStoreError({
        operation: "open",
        store,
        reason: `option tableName: ${JSON.stringify(tableName)} is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ . -)`
      }))

const byShard = (a: Lease, b: Lease) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0)

// ---- the store

/**
 * A lease table in DynamoDB, created if missing (key `scope` + `shardId`, on-demand billing) and
 * awaited until ACTIVE. Every ownership write is one `UpdateItem` conditional on the owner and the
 * lease counter that touches only the attributes it changes; reads are strongly consistent.
 * Throttling, 5xx and dropped connections are retried briefly (jittered backoff) before a
 * {@link LeaseStoreError}. Needs the optional package `@aws-sdk/client-dynamodb`; the client it
 * builds is destroyed when the scope closes.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const leases = yield* makeDynamoDbLeaseStore({ tableName: "shardline-leases", region: "eu-west-1" })
 *   const scope = { applicationName: "billing", streamName: "orders" }
 *   yield* leases.create(scope, { shardId: "shardId-000000000000", startAt: "TRIM_HORIZON", parentShardIds: [] })
 *   const lease = yield* leases.take(scope, "shardId-000000000000", { owner: undefined, counter: 0 }, "worker-1")
 * }).pipe(Effect.scoped)
 * ```
 */
export const makeDynamoDbLeaseStore = (
  options: DynamoDbLeaseStoreOptions
): Effect.Effect<LeaseStoreApi, LeaseStoreError | MissingDependency, Scope.Scope> =>
  Effect.gen(function* () {
    const store = `dynamodb:${options.tableName}`
    // Checked before loading anything: a typo should not be reported as a missing package.
    const tableName = yield* validateTableName(options.tableName, store)
    const sdk = yield* importOptional<Sdk>("@aws-sdk/client-dynamodb", "LeaseStore.layerDynamoDB", { dev: false })
    const r = requests(yield* openClient(sdk, options, store), store)
    yield* ensureTable(sdk, r, tableName)
    return leaseTable(sdk, r, tableName)
  })

const leaseTable = (sdk: Sdk, r: Requests, tableName: string): LeaseStoreApi => {
  const decode = (operation: string, item: Item): Effect.Effect<Lease, LeaseStoreError> => {
    const row = fromItem(item)
    const lease = typeof row === "string" ? row : fromRow(row)
    return typeof lease === "string"
      ? Effect.fail(new LeaseStoreError({ operation, store: r.store, reason: `malformed item: ${lease}` }))
      : Effect.succeed(lease)
  }

  const getLease = (operation: string, scope: LeaseScope, shardId: string) =>
    r.plain(operation, (c, abortSignal) =>
      c.send(new sdk.GetItemCommand({ TableName: tableName, Key: keyOf(scope, shardId), ConsistentRead: true }), { abortSignal })).pipe(
      Effect.flatMap((out) => (out.Item === undefined ? Effect.succeed(undefined) : decode(operation, out.Item)))
    )

  /** The row that made a condition fail: sent along by DynamoDB, else read (dynalite does not send it). */
  const foundAfter = (operation: LeaseWrite, scope: LeaseScope, shardId: string, failed: ConditionFailed) =>
    failed.item !== undefined ? decode(operation, failed.item) : getLease(operation, scope, shardId)

  const ownershipWrite = (
    operation: LeaseWrite,
    scope: LeaseScope,
    shardId: string,
    expected: Expected,
    writer: string,
    change: Change
  ): Effect.Effect<Lease, LeaseLost | LeaseStoreError> => {
    const p = new Placeholders()
    const UpdateExpression = updateExpression(p, change)
    const ConditionExpression = stillAt(p, expected)
    return r.conditional(operation, (c, abortSignal) =>
      c.send(
        new sdk.UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(scope, shardId),
          UpdateExpression,
          ConditionExpression,
          ...p.fields(),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD"
        }),
        { abortSignal }
      )).pipe(
      Effect.flatMap((out) => decode(operation, out.Attributes ?? {})),
      Effect.catchTag("ConditionFailed", (failed) =>
        Effect.flatMap(foundAfter(operation, scope, shardId, failed), (current) =>
          Effect.fail(leaseLost(operation, scope, shardId, writer, expected.counter, current))))
    )
  }

  const queryPage = (scope: LeaseScope, start: Item | undefined) => {
    const p = new Placeholders()
    const KeyConditionExpression = `${p.name(attr.scope)} = ${p.value(S(scopeKey(scope)))}`
    return r.plain("list", (c, abortSignal) =>
      c.send(
        new sdk.QueryCommand({
          TableName: tableName,
          KeyConditionExpression,
          ...p.fields(),
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start })
        }),
        { abortSignal }
      ))
  }

  return {
    name: r.store,
    list: (scope) =>
      Effect.gen(function* () {
        const leases: Array<Lease> = []
        let start: Item | undefined
        do {
          const page = yield* queryPage(scope, start)
          for (const item of page.Items ?? []) leases.push(yield* decode("list", item))
          start = page.LastEvaluatedKey
        } while (start !== undefined)
        // DynamoDB orders by UTF-8 bytes; the contract is JavaScript string order, as the other stores.
        return leases.sort(byShard)
      }),
    get: (scope, shardId) => getLease("get", scope, shardId),
    create: (scope, lease) => {
      const p = new Placeholders()
      const ConditionExpression = `attribute_not_exists(${p.name(attr.shardId)})`
      return r.conditional("create", (c, abortSignal) =>
        c.send(
          new sdk.PutItemCommand({ TableName: tableName, Item: toItem(scope, toRow(newLease(lease))), ConditionExpression, ...p.fields() }),
          { abortSignal }
        )).pipe(Effect.as(true), Effect.catchTag("ConditionFailed", () => Effect.succeed(false)))
    },
    take: (scope, shardId, expected, newOwner) =>
      ownershipWrite("take", scope, shardId, expected, newOwner, changes.take(expected, newOwner)),
    renew: (scope, held) => ownershipWrite("renew", scope, held.shardId, held, held.owner, changes.renew(held)),
    checkpoint: (scope, held, checkpoint, childShardIds) =>
      ownershipWrite("checkpoint", scope, held.shardId, held, held.owner, changes.checkpoint(checkpoint, childShardIds)),
    release: (scope, held) => ownershipWrite("release", scope, held.shardId, held, held.owner, changes.release(held)),
    setChildren: (scope, shardId, childShardIds) => {
      const p = new Placeholders()
      const UpdateExpression = updateExpression(p, { set: { [attr.children]: L(childShardIds) } })
      // Only an existing row: an update would otherwise create a row with nothing but children.
      const ConditionExpression = `attribute_exists(${p.name(attr.shardId)})`
      return r.conditional("setChildren", (c, abortSignal) =>
        c.send(
          new sdk.UpdateItemCommand({ TableName: tableName, Key: keyOf(scope, shardId), UpdateExpression, ConditionExpression, ...p.fields() }),
          { abortSignal }
        )).pipe(Effect.asVoid, Effect.catchTag("ConditionFailed", () => Effect.void))
    },
    delete: (scope, shardId) =>
      Effect.asVoid(r.plain("delete", (c, abortSignal) =>
        c.send(new sdk.DeleteItemCommand({ TableName: tableName, Key: keyOf(scope, shardId) }), { abortSignal })))
  }
}
