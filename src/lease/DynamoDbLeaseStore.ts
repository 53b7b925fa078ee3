import type { AttributeValue, DynamoDBClientConfig, TableDescription } from "@aws-sdk/client-dynamodb"
import type { KinesisClientConfig } from "@aws-sdk/client-kinesis"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, Schedule, type Scope } from "effect"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import type { Checkpoint } from "../checkpoint/index.js"
import {
  encodeCheckpoint,
  fromRow,
  type HeldLease,
  type Lease,
  LeaseLost,
  type LeaseRow,
  type LeaseScope,
  LeaseStoreError,
  type LeaseWrite,
  type NewLease,
  newLease,
  scopeKey,
  toRow
} from "./Lease.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

type DynamoModule = typeof import("@aws-sdk/client-dynamodb")
type Item = Record<string, AttributeValue>

/**
 * Which DynamoDB table holds the leases and how to reach it. Left out, region and credentials
 * are resolved the way the AWS SDK resolves them.
 *
 * @example
 * ```ts
 * LeaseStore.layerDynamoDB({ tableName: "shardline-leases", region: "eu-west-1" })
 * ```
 */
export interface DynamoDbLeaseStoreOptions {
  /** Created if missing (on-demand billing, key `scope` + `shardId`). */
  readonly tableName: string
  readonly region?: string
  /** Endpoint override, e.g. dynalite's `http://127.0.0.1:4567`; then an HTTP/1.1 handler is used. */
  readonly endpoint?: string
  // The option types come from the Kinesis client (a dependency), not the optional DynamoDB one, so
  // the declarations type-check where @aws-sdk/client-dynamodb is not installed. Same shapes.
  readonly credentials?: KinesisClientConfig["credentials"]
  readonly requestHandler?: KinesisClientConfig["requestHandler"]
  /** A `DynamoDBClient` of your own, used as is (and not destroyed by shardline). */
  readonly client?: DynamoDbClientLike
}

/** What shardline needs of a `DynamoDBClient`. */
export interface DynamoDbClientLike {
  readonly send: (command: never, options?: { readonly abortSignal?: AbortSignal }) => Promise<unknown>
}

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/
const RETRYABLE = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "TransactionConflictException"
])

const nameOf = (e: unknown): string =>
  typeof e === "object" && e !== null && typeof (e as { name?: unknown }).name === "string" ? (e as { name: string }).name : "Error"

const isRetryable = (e: unknown): boolean => {
  if (RETRYABLE.has(nameOf(e))) return true
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
  if (typeof status === "number") return status >= 500
  // No HTTP answer at all: a network fault (connection refused, reset, time-out).
  return typeof (e as { code?: unknown } | null)?.code === "string"
}

/** With an endpoint override (dynalite, LocalStack), HTTP/1.1; otherwise the SDK's own default. */
const handlerOf = (options: DynamoDbLeaseStoreOptions): Pick<DynamoDBClientConfig, "requestHandler"> =>
  options.requestHandler !== undefined
    ? { requestHandler: options.requestHandler as NonNullable<DynamoDBClientConfig["requestHandler"]> }
    : options.endpoint !== undefined
      ? { requestHandler: new NodeHttpHandler() }
      : {}

const retry = Schedule.intersect(Schedule.jittered(Schedule.exponential("50 millis")), Schedule.recurs(5))

// ---- items

const str = (item: Item, name: string): string | undefined => item[name]?.S
const num = (item: Item, name: string): number => Number(item[name]?.N ?? "0")
const list = (item: Item, name: string): ReadonlyArray<string> => (item[name]?.L ?? []).map((v) => v.S ?? "")
const strings = (values: ReadonlyArray<string>): AttributeValue => ({ L: values.map((S) => ({ S })) })

const toItem = (scope: LeaseScope, row: LeaseRow): Item => ({
  scope: { S: scopeKey(scope) },
  shardId: { S: row.shardId },
  leaseCounter: { N: String(row.counter) },
  startAt: { S: row.startAt },
  parentShardIds: strings(row.parentShardIds),
  childShardIds: strings(row.childShardIds),
  ownerSwitchesSinceCheckpoint: { N: String(row.ownerSwitchesSinceCheckpoint) },
  checkpointSubSequenceNumber: { N: String(row.checkpointSubSequenceNumber) },
  ...(row.owner === null ? {} : { leaseOwner: { S: row.owner } }),
  ...(row.checkpoint === null ? {} : { checkpoint: { S: row.checkpoint } })
})

const fromItem = (item: Item): LeaseRow => ({
  shardId: str(item, "shardId") ?? "",
  owner: str(item, "leaseOwner") ?? null,
  counter: num(item, "leaseCounter"),
  checkpoint: str(item, "checkpoint") ?? null,
  checkpointSubSequenceNumber: num(item, "checkpointSubSequenceNumber"),
  startAt: str(item, "startAt") ?? "",
  parentShardIds: list(item, "parentShardIds"),
  childShardIds: list(item, "childShardIds"),
  ownerSwitchesSinceCheckpoint: num(item, "ownerSwitchesSinceCheckpoint")
})

/** One ownership write as a DynamoDB update: what it sets, on the condition that the row is still as expected. */
interface Update {
  readonly operation: LeaseWrite
  readonly shardId: string
  readonly expected: { readonly owner: string | undefined; readonly counter: number }
  readonly set: ReadonlyArray<string>
  readonly remove?: ReadonlyArray<string>
  readonly values: Item
  /** Who writes, for LeaseLost. */
  readonly writer: string
}

/**
 * A lease table in DynamoDB. Every ownership write is one `UpdateItem` conditional on the owner and
 * the lease counter, touching only the attributes it changes; reads are strongly consistent.
 * Throttling and 5xx are retried briefly (jittered backoff) before a {@link LeaseStoreError}.
 */
export const makeDynamoDbLeaseStore = (
  options: DynamoDbLeaseStoreOptions
): Effect.Effect<LeaseStoreApi, LeaseStoreError | MissingDependency, Scope.Scope> =>
  Effect.gen(function* () {
    const tableName = options.tableName
    const store = `dynamodb:${tableName}`
    if (typeof tableName !== "string" || !TABLE_NAME.test(tableName)) {
      return yield* new LeaseStoreError({
        operation: "open",
        store,
        reason: `option tableName: ${JSON.stringify(tableName)} is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ . -)`
      })
    }
    const sdk = yield* importOptional<DynamoModule>("@aws-sdk/client-dynamodb", "LeaseStore.layerDynamoDB", { dev: false })
    const client =
      options.client ??
      (yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new sdk.DynamoDBClient({
              ...(options.region === undefined ? {} : { region: options.region }),
              ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
              ...(options.credentials === undefined ? {} : { credentials: options.credentials as NonNullable<DynamoDBClientConfig["credentials"]> }),
              ...handlerOf(options),
              // Retries are ours (a Schedule), so the SDK makes one attempt.
              maxAttempts: 1
            })
        ),
        (c) => Effect.sync(() => c.destroy())
      ))

    const fail = (operation: string, cause: unknown) =>
      new LeaseStoreError({ operation, store, reason: `${nameOf(cause)}: ${(cause as Error)?.message ?? String(cause)}`, cause })

    /** Sends a command; `conditionFailed` answers when the condition did not hold. */
    const send = <O>(operation: string, command: object): Effect.Effect<O, LeaseStoreError | "ConditionFailed"> =>
      Effect.tryPromise({
        try: (signal) => (client as DynamoDbClientLike).send(command as never, { abortSignal: signal }) as Promise<O>,
        catch: (cause) => cause
      }).pipe(
        Effect.retry({ schedule: retry, while: isRetryable }),
        Effect.mapError((cause) => (nameOf(cause) === "ConditionalCheckFailedException" ? ("ConditionFailed" as const) : fail(operation, cause)))
      )
    const sendOrFail = <O>(operation: string, command: object) =>
      Effect.catchIf(send<O>(operation, command), (e): e is "ConditionFailed" => e === "ConditionFailed", () =>
        Effect.fail(fail(operation, new Error("unexpected condition failure")))
      )

    const decode = (operation: string, item: Item): Effect.Effect<Lease, LeaseStoreError> => {
      const lease = fromRow(fromItem(item))
      return typeof lease === "string" ? Effect.fail(new LeaseStoreError({ operation, store, reason: lease })) : Effect.succeed(lease)
    }

    // ---- the table
    const describe = Effect.map(
      Effect.either(sendOrFail<{ Table?: TableDescription }>("describeTable", new sdk.DescribeTableCommand({ TableName: tableName }))),
      (r) => (r._tag === "Right" ? r.right.Table : nameOf(r.left.cause) === "ResourceNotFoundException" ? undefined : r.left)
    )
    const existing = yield* describe
    if (existing instanceof LeaseStoreError) return yield* existing
    if (existing === undefined) {
      const created = yield* Effect.either(
        sendOrFail("createTable", new sdk.CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: "scope", AttributeType: "S" }, { AttributeName: "shardId", AttributeType: "S" }],
          KeySchema: [{ AttributeName: "scope", KeyType: "HASH" }, { AttributeName: "shardId", KeyType: "RANGE" }],
          BillingMode: "PAY_PER_REQUEST"
        }))
      )
      // Another worker created it meanwhile: fine.
      if (created._tag === "Left" && nameOf(created.left.cause) !== "ResourceInUseException") return yield* created.left
    }
    const describeActive = describe.pipe(
      Effect.flatMap((t) => (t instanceof LeaseStoreError ? Effect.fail(t) : Effect.succeed(t)))
    )
    let active = yield* describeActive
    // A new table takes a while to become ACTIVE (seconds on AWS, at once on dynalite).
    for (let i = 0; active?.TableStatus !== "ACTIVE" && i < 600; i++) {
      yield* Effect.sleep("200 millis")
      active = yield* describeActive
    }
    const keys = (active?.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).sort().join(",")
    if (keys !== "scope:HASH,shardId:RANGE") {
      return yield* new LeaseStoreError({
        operation: "open",
        store,
        reason: `table ${tableName} exists with key schema [${keys}], not (scope HASH, shardId RANGE): use another tableName`
      })
    }

    const key = (scope: LeaseScope, shardId: string): Item => ({ scope: { S: scopeKey(scope) }, shardId: { S: shardId } })
    const getItem = (operation: string, scope: LeaseScope, shardId: string) =>
      Effect.flatMap(
        sendOrFail<{ Item?: Item }>(operation, new sdk.GetItemCommand({ TableName: tableName, Key: key(scope, shardId), ConsistentRead: true })),
        (out) => (out.Item === undefined ? Effect.succeed(undefined) : decode(operation, out.Item))
      )

    const write = (scope: LeaseScope, u: Update): Effect.Effect<Lease, LeaseLost | LeaseStoreError> => {
      const ownerCondition = u.expected.owner === undefined ? "attribute_not_exists(leaseOwner)" : "leaseOwner = :expectedOwner"
      const values: Item = {
        ...u.values,
        ":expectedCounter": { N: String(u.expected.counter) },
        ...(u.expected.owner === undefined ? {} : { ":expectedOwner": { S: u.expected.owner } })
      }
      const expression = `SET ${u.set.join(", ")}${u.remove !== undefined && u.remove.length > 0 ? ` REMOVE ${u.remove.join(", ")}` : ""}`
      return send<{ Attributes?: Item }>(u.operation, new sdk.UpdateItemCommand({
        TableName: tableName,
        Key: key(scope, u.shardId),
        UpdateExpression: expression,
        ConditionExpression: `attribute_exists(shardId) AND leaseCounter = :expectedCounter AND ${ownerCondition}`,
        ExpressionAttributeValues: values,
        ReturnValues: "ALL_NEW"
      })).pipe(
        Effect.flatMap((out) => decode(u.operation, out.Attributes ?? {})),
        Effect.catchIf((e): e is "ConditionFailed" => e === "ConditionFailed", () =>
          Effect.flatMap(getItem(u.operation, scope, u.shardId), (current) =>
            Effect.fail(new LeaseLost({
              operation: u.operation,
              streamName: scope.streamName,
              applicationName: scope.applicationName,
              shardId: u.shardId,
              owner: u.writer,
              expectedCounter: u.expected.counter,
              current: current === undefined ? undefined : { owner: current.owner, counter: current.counter }
            }))
          )
        )
      )
    }
    const one: Item = { ":one": { N: "1" } }
    const bump = "leaseCounter = leaseCounter + :one"

    const api: LeaseStoreApi = {
      name: store,
      list: (scope) =>
        Effect.gen(function* () {
          const out: Array<Lease> = []
          let start: Item | undefined
          do {
            const page: { Items?: Array<Item>; LastEvaluatedKey?: Item } = yield* sendOrFail<{ Items?: Array<Item>; LastEvaluatedKey?: Item }>("list", new sdk.QueryCommand({
              TableName: tableName,
              KeyConditionExpression: "#scope = :scope",
              ExpressionAttributeNames: { "#scope": "scope" },
              ExpressionAttributeValues: { ":scope": { S: scopeKey(scope) } },
              ConsistentRead: true,
              ...(start === undefined ? {} : { ExclusiveStartKey: start })
            }))
            for (const item of page.Items ?? []) out.push(yield* decode("list", item))
            start = page.LastEvaluatedKey
          } while (start !== undefined)
          return out.sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0))
        }),
      get: (scope, shardId) => getItem("get", scope, shardId),
      create: (scope, lease: NewLease) =>
        send("create", new sdk.PutItemCommand({
          TableName: tableName,
          Item: toItem(scope, toRow(newLease(lease))),
          ConditionExpression: "attribute_not_exists(shardId)"
        })).pipe(
          Effect.as(true),
          Effect.catchIf((e): e is "ConditionFailed" => e === "ConditionFailed", () => Effect.succeed(false))
        ),
      take: (scope, shardId, expected, newOwner) =>
        write(scope, {
          operation: "take",
          shardId,
          expected,
          writer: newOwner,
          set: ["leaseOwner = :owner", bump, "ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :switch"],
          values: { ...one, ":owner": { S: newOwner }, ":switch": { N: expected.owner === newOwner ? "0" : "1" } }
        }),
      renew: (scope, held: HeldLease) =>
        write(scope, { operation: "renew", shardId: held.shardId, expected: held, writer: held.owner, set: [bump], values: one }),
      checkpoint: (scope, held: HeldLease, checkpoint: Checkpoint, childShardIds) => {
        const encoded = encodeCheckpoint(checkpoint)
        return write(scope, {
          operation: "checkpoint",
          shardId: held.shardId,
          expected: held,
          writer: held.owner,
          set: [
            "checkpoint = :checkpoint",
            "checkpointSubSequenceNumber = :sub",
            "ownerSwitchesSinceCheckpoint = :zero",
            ...(childShardIds === undefined ? [] : ["childShardIds = :children"])
          ],
          values: {
            ":checkpoint": { S: encoded.checkpoint ?? "" },
            ":sub": { N: String(encoded.checkpointSubSequenceNumber) },
            ":zero": { N: "0" },
            ...(childShardIds === undefined ? {} : { ":children": strings(childShardIds) })
          }
        })
      },
      release: (scope, held: HeldLease) =>
        write(scope, { operation: "release", shardId: held.shardId, expected: held, writer: held.owner, set: [bump], remove: ["leaseOwner"], values: one }),
      setChildren: (scope, shardId, childShardIds) =>
        send("setChildren", new sdk.UpdateItemCommand({
          TableName: tableName,
          Key: key(scope, shardId),
          UpdateExpression: "SET childShardIds = :children",
          ConditionExpression: "attribute_exists(shardId)",
          ExpressionAttributeValues: { ":children": strings(childShardIds) }
        })).pipe(Effect.asVoid, Effect.catchIf((e): e is "ConditionFailed" => e === "ConditionFailed", () => Effect.void)),
      delete: (scope, shardId) =>
        Effect.asVoid(sendOrFail("delete", new sdk.DeleteItemCommand({ TableName: tableName, Key: key(scope, shardId) })))
    }
    return api
  })
