import { Readable } from "node:stream"
import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand
} from "@aws-sdk/client-dynamodb"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { LeaseStore, LeaseStoreError } from "../src/index.js"
import { makeDynamoDbLeaseStore } from "../src/lease/DynamoDbLeaseStore.js"
import { scopeKey } from "../src/lease/Lease.js"
import { Dynalite, dynamoLeaseStoreLayer, dynamoOptions, localCredentials, localRegion } from "./support/dynalite.js"
import { freshScope, leaseStoreContract } from "./support/leaseContract.js"

leaseStoreContract("DynamoDB (dynalite)", dynamoLeaseStoreLayer())

const shard = (i: number) => `shardId-${String(i).padStart(12, "0")}`

let tables = 0
/** A table name no other test uses, on the shared dynalite. */
const freshTable = (label: string) => `${label}-${++tables}`

const rawClient = (endpoint: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials, requestHandler: new NodeHttpHandler() })),
    (c) => Effect.sync(() => c.destroy())
  )

type Response = Awaited<ReturnType<NodeHttpHandler["handle"]>>["response"]

/**
 * Records the operation of every request, and answers the first `throttled` with a DynamoDB error
 * (ThrottlingException unless told) instead of sending them.
 */
class ScriptedHandler extends NodeHttpHandler {
  readonly operations: Array<string> = []
  constructor(private throttled = 0, private readonly errorType = "ThrottlingException") {
    super()
  }
  override handle(...args: Parameters<NodeHttpHandler["handle"]>): ReturnType<NodeHttpHandler["handle"]> {
    const [request] = args
    this.operations.push(String(request.headers["x-amz-target"]).replace(/^DynamoDB_\d+\./, ""))
    if (this.throttled <= 0) return super.handle(...args)
    this.throttled--
    const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${this.errorType}`, message: "scripted" })
    const response: Response = { statusCode: 400, headers: { "content-type": "application/x-amz-json-1.0" }, body: Readable.from([Buffer.from(body)]) }
    return Promise.resolve({ response })
  }
}

layer(Dynalite.layer(), { excludeTestServices: true, timeout: "60 seconds" })("DynamoDB lease table", (it) => {
  it.effect("is created if missing, on demand, keyed by scope and shardId; later stores reuse it", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("created")
      const first = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName))
      expect(first.name).toBe(`dynamodb:${tableName}`)
      const scope = freshScope()
      yield* first.create(scope, { shardId: shard(0), startAt: "LATEST", parentShardIds: [] })

      const client = yield* rawClient(endpoint)
      const table = (yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: tableName })))).Table
      expect(table?.TableStatus).toBe("ACTIVE")
      expect(table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST")
      expect(table?.KeySchema).toEqual([{ AttributeName: "scope", KeyType: "HASH" }, { AttributeName: "shardId", KeyType: "RANGE" }])
      expect(table?.AttributeDefinitions).toEqual(
        expect.arrayContaining([{ AttributeName: "scope", AttributeType: "S" }, { AttributeName: "shardId", AttributeType: "S" }])
      )

      const second = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName))
      expect((yield* second.list(scope)).map((l) => l.shardId)).toEqual([shard(0)])
    }).pipe(Effect.scoped))

  it.effect("workers opening a missing table at once all succeed (one creates it, the others wait)", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("raced")
      const stores = yield* Effect.forEach(
        Array.from({ length: 6 }),
        () => makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName)),
        { concurrency: "unbounded" }
      )
      const scope = freshScope()
      const created = yield* Effect.forEach(stores, (s) => s.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] }), { concurrency: "unbounded" })
      expect(created.filter((c) => c).length).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("a table with another key schema is a LeaseStoreError that names it and the option to change", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const client = yield* rawClient(endpoint)
      const hashOnly = freshTable("someone-elses")
      const numericRange = freshTable("numeric-range")
      yield* Effect.promise(() => client.send(new CreateTableCommand({
        TableName: hashOnly,
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST"
      })))
      yield* Effect.promise(() => client.send(new CreateTableCommand({
        TableName: numericRange,
        AttributeDefinitions: [{ AttributeName: "scope", AttributeType: "S" }, { AttributeName: "shardId", AttributeType: "N" }],
        KeySchema: [{ AttributeName: "scope", KeyType: "HASH" }, { AttributeName: "shardId", KeyType: "RANGE" }],
        BillingMode: "PAY_PER_REQUEST"
      })))
      for (const tableName of [hashOnly, numericRange]) {
        const error = yield* Effect.flip(makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName)))
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain("key schema")
        expect(error.message).toContain(tableName)
        expect(error.message).toContain("tableName")
      }
    }).pipe(Effect.scoped))

  it.effect("a name DynamoDB would refuse is a LeaseStoreError naming the option, before any request", () =>
    Effect.gen(function* () {
      // No endpoint would answer: the name is checked first.
      for (const tableName of ["no spaces!", "ab", "x".repeat(256), "", "tåble"]) {
        const error = yield* Effect.flip(makeDynamoDbLeaseStore({ tableName, endpoint: "http://127.0.0.1:9" }))
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain("option tableName")
      }
    }).pipe(Effect.scoped))

  it.effect("an unreachable endpoint is a LeaseStoreError after a few retries, not a hang, and shows no secret", () =>
    Effect.gen(function* () {
      const handler = new ScriptedHandler()
      const secret = "s3cr3t-do-not-print"
      const error = yield* Effect.flip(makeDynamoDbLeaseStore({
        tableName: "leases",
        endpoint: "http://127.0.0.1:9",
        region: localRegion,
        credentials: { accessKeyId: "id", secretAccessKey: secret },
        requestHandler: handler
      }))
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect((error as LeaseStoreError).operation).toBe("describeTable")
      expect(error.message).toContain("ECONNREFUSED")
      expect(error.message).not.toContain(secret)
      expect(handler.operations).toEqual(Array(6).fill("DescribeTable"))
    }).pipe(Effect.scoped))

  it.effect("throttling is retried with backoff; a client error is not", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("throttled")
      const recovers = new ScriptedHandler(3)
      const store = yield* makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, tableName), requestHandler: recovers })
      expect(recovers.operations.slice(0, 4)).toEqual(Array(4).fill("DescribeTable"))
      expect(yield* store.list(freshScope())).toEqual([])

      const persists = new ScriptedHandler(100, "ProvisionedThroughputExceededException")
      const throttled = yield* Effect.flip(makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, tableName), requestHandler: persists }))
      expect(throttled.message).toContain("ProvisionedThroughputExceededException")
      expect(persists.operations.length).toBe(6)

      const invalid = new ScriptedHandler(100, "ValidationException")
      const refused = yield* Effect.flip(makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, tableName), requestHandler: invalid }))
      expect(refused.message).toContain("ValidationException")
      expect(invalid.operations.length).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("items hold the documented attributes; no owner and no checkpoint are absent attributes", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("attributes")
      const store = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName))
      const client = yield* rawClient(endpoint)
      const scope = freshScope()
      const item = Effect.promise(() =>
        client.send(new GetItemCommand({ TableName: tableName, Key: { scope: { S: scopeKey(scope) }, shardId: { S: shard(2) } }, ConsistentRead: true }))
      ).pipe(Effect.map((out) => out.Item))

      yield* store.create(scope, { shardId: shard(2), startAt: { atTimestamp: new Date(1_700_000_000_000) }, parentShardIds: [shard(0), shard(1)] })
      expect(yield* item).toEqual({
        scope: { S: scopeKey(scope) },
        shardId: { S: shard(2) },
        leaseCounter: { N: "0" },
        checkpointSubSequenceNumber: { N: "0" },
        startAt: { S: "AT_TIMESTAMP:1700000000000" },
        parentShardIds: { L: [{ S: shard(0) }, { S: shard(1) }] },
        childShardIds: { L: [] },
        ownerSwitchesSinceCheckpoint: { N: "0" }
      } satisfies Record<string, AttributeValue>)

      yield* store.take(scope, shard(2), { owner: undefined, counter: 0 }, "w1")
      yield* store.checkpoint(scope, { shardId: shard(2), owner: "w1", counter: 1 }, Checkpoint.sequence("12345", 7), [shard(3)])
      const held = yield* item
      expect(held).toMatchObject({
        leaseOwner: { S: "w1" },
        leaseCounter: { N: "1" },
        checkpoint: { S: "12345" },
        checkpointSubSequenceNumber: { N: "7" },
        childShardIds: { L: [{ S: shard(3) }] },
        ownerSwitchesSinceCheckpoint: { N: "0" }
      })
      yield* store.release(scope, { shardId: shard(2), owner: "w1", counter: 1 })
      const released = yield* item
      expect(released?.leaseOwner).toBeUndefined()
      expect(released?.leaseCounter).toEqual({ N: "2" })
    }).pipe(Effect.scoped))

  it.effect("a malformed item is a LeaseStoreError naming what is wrong", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("malformed")
      const store = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName))
      const client = yield* rawClient(endpoint)
      const scope = freshScope()
      yield* Effect.promise(() => client.send(new PutItemCommand({
        TableName: tableName,
        Item: { scope: { S: scopeKey(scope) }, shardId: { S: shard(0) }, leaseCounter: { S: "one" }, startAt: { S: "LATEST" } }
      })))
      for (const read of [Effect.asVoid(store.get(scope, shard(0))), Effect.asVoid(store.list(scope))]) {
        const error = yield* Effect.flip(read)
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain("leaseCounter is not a whole number")
        expect(error.message).toContain("parentShardIds is missing")
      }
      const write = yield* Effect.flip(store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1"))
      expect(write._tag).toBe("LeaseStoreError")
    }).pipe(Effect.scoped))

  it.effect("list follows LastEvaluatedKey past DynamoDB's 1 MB page", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const handler = new ScriptedHandler()
      const store = yield* makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, freshTable("paged")), requestHandler: handler })
      const scope = freshScope()
      // About 300 KB a row (DynamoDB's item limit is 400 KB), so 6 rows take two pages.
      const bulky = Array.from({ length: 300 }, (_, i) => `${i}`.padEnd(1000, "x"))
      for (let i = 5; i >= 0; i--) yield* store.create(scope, { shardId: shard(i), startAt: "TRIM_HORIZON", parentShardIds: bulky })
      const leases = yield* store.list(scope)
      expect(leases.map((l) => l.shardId)).toEqual([0, 1, 2, 3, 4, 5].map(shard))
      expect(handler.operations.filter((o) => o === "Query").length).toBeGreaterThan(1)
    }).pipe(Effect.scoped))

  it.effect("a checkpoint and setChildren racing on one row both land: each writes only its own attributes", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const store = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, freshTable("disjoint")))
      const scope = freshScope()
      yield* store.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
      yield* store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
      for (let round = 1; round <= 20; round++) {
        const children = [shard(100 + round)]
        const [checkpointed] = yield* Effect.all(
          [
            Effect.either(store.checkpoint(scope, { shardId: shard(0), owner: "w1", counter: 1 }, Checkpoint.sequence(String(round)))),
            store.setChildren(scope, shard(0), children)
          ],
          { concurrency: "unbounded" }
        )
        expect(Either.isRight(checkpointed)).toBe(true)
        const after = yield* store.get(scope, shard(0))
        expect(after?.checkpoint).toEqual(Checkpoint.sequence(String(round)))
        expect(after?.childShardIds).toEqual(children)
      }
    }).pipe(Effect.scoped))

  it.effect("a client of one's own is used as is and left open when the store's scope closes", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const client = yield* rawClient(endpoint)
      const tableName = freshTable("own-client")
      // The endpoint and credentials here are ignored: the given client is used.
      yield* makeDynamoDbLeaseStore({ tableName, client, endpoint: "http://127.0.0.1:9" }).pipe(Effect.scoped)
      const table = yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: tableName })))
      expect(table.Table?.TableStatus).toBe("ACTIVE")
    }).pipe(Effect.scoped))

  it.effect("LeaseStore.layerDynamoDB provides the service", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("layer")
      const name = yield* Effect.map(LeaseStore, (s) => s.name).pipe(Effect.provide(LeaseStore.layerDynamoDB(dynamoOptions(endpoint, tableName))))
      expect(name).toBe(`dynamodb:${tableName}`)
    }))
})
