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
import { Effect, Either, Layer } from "effect"
import { Checkpoint } from "../src/checkpoint/index.js"
import { type LeaseScope, LeaseStore, LeaseStoreError } from "../src/index.js"
import { makeDynamoDbLeaseStore } from "../src/lease/DynamoDbLeaseStore.js"
import { scopeKey } from "../src/lease/Lease.js"
import { stateBytes } from "./lease-state-contract.js"
import { chunkItems, itemSize, sameBytes } from "./lease-state-dynamodb.js"
import { Dynalite, dynamoOptions, localCredentials, localRegion, startDynalite } from "./support/dynalite.js"
import { freshScope, leaseStoreContract, StateChunks } from "./support/leaseContract.js"

const shard = (i: number) => `shardId-${String(i).padStart(12, "0")}`

let tables = 0
/** A table name no other test uses, on the shared dynalite. */
const freshTable = (label: string) => `${label}-${++tables}`

const rawClient = (endpoint: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials, requestHandler: new NodeHttpHandler() })),
    (c) => Effect.sync(() => c.destroy())
  )

/** A store on a fresh table, a raw client beside it to see the items, and a fresh scope. */
const tableWithClient = (label: string) =>
  Effect.gen(function* () {
    const { endpoint } = yield* Dynalite
    const tableName = freshTable(label)
    const store = yield* makeDynamoDbLeaseStore(dynamoOptions(endpoint, tableName))
    const client = yield* rawClient(endpoint)
    return { tableName, store, client, scope: freshScope() }
  })

/** The item of one lease row as the table holds it (a consistent read), if there is one. */
const rowItem = (client: DynamoDBClient, tableName: string, scope: LeaseScope, shardId: string) =>
  Effect.promise(() =>
    client.send(new GetItemCommand({ TableName: tableName, Key: { scope: { S: scopeKey(scope) }, shardId: { S: shardId } }, ConsistentRead: true }))
  ).pipe(Effect.map((out) => out.Item))

// Inline up to 24 bytes, chunks of 16: sizes 17 to 24 are inline here and chunked in the other stores.
leaseStoreContract(
  "DynamoDB (dynalite)",
  Layer.unwrapScoped(Effect.gen(function* () {
    const { endpoint } = yield* startDynalite
    const tableName = "shardline-leases"
    const client = yield* rawClient(endpoint)
    return Layer.merge(
      LeaseStore.layerDynamoDB({ ...dynamoOptions(endpoint, tableName), stateInlineBytes: 24, stateChunkBytes: 16 }),
      Layer.succeed(StateChunks, chunkItems(client, tableName))
    )
  })),
  { inlineBytes: 24, chunkBytes: 16 }
)

type Response = Awaited<ReturnType<NodeHttpHandler["handle"]>>["response"]

/**
 * Records the operation of every request, and answers the first `throttled` with a DynamoDB error
 * (ThrottlingException unless told) instead of sending them. Requests of the operation
 * `loseAnswersOf` are sent, but their answers replaced with a 500: the write lands, the writer
 * does not learn it.
 */
class ScriptedHandler extends NodeHttpHandler {
  readonly operations: Array<string> = []
  loseAnswersOf: string | undefined
  constructor(public throttled = 0, private readonly errorType = "ThrottlingException") {
    super()
  }
  override async handle(...args: Parameters<NodeHttpHandler["handle"]>): ReturnType<NodeHttpHandler["handle"]> {
    const [request] = args
    const operation = String(request.headers["x-amz-target"]).replace(/^DynamoDB_\d+\./, "")
    this.operations.push(operation)
    if (operation === this.loseAnswersOf) {
      await super.handle(...args)
      return { response: this.error(500, "InternalServerError") }
    }
    if (this.throttled <= 0) return super.handle(...args)
    this.throttled--
    return { response: this.error(400, this.errorType) }
  }
  private error(statusCode: number, type: string): Response {
    const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: "scripted" })
    return { statusCode, headers: { "content-type": "application/x-amz-json-1.0" }, body: Readable.from([Buffer.from(body)]) }
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
      const { tableName, store, client, scope } = yield* tableWithClient("attributes")
      const item = rowItem(client, tableName, scope, shard(2))

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
      const { tableName, store, client, scope } = yield* tableWithClient("malformed")
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

  it.effect("a state of about 1 MB goes to chunks with the default sizes and round-trips; the row item stays small", () =>
    Effect.gen(function* () {
      const { tableName, store, client, scope } = yield* tableWithClient("big-state")
      const row = Effect.map(rowItem(client, tableName, scope, shard(0)), (item) => item!)
      yield* store.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
      const taken = yield* store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
      const held = { shardId: shard(0), owner: "w1", counter: taken.counter }

      const big = stateBytes(1_000_000, 1)
      const chunked = yield* store.checkpoint(scope, held, Checkpoint.sequence("1"), undefined, big)
      expect(chunked.state).toMatchObject({ bytes: 1_000_000, chunks: 3 })
      expect(sameBytes(yield* store.loadState(scope, chunked), big)).toBe(true)
      const item = yield* row
      expect(item).toMatchObject({ stateVersion: { S: chunked.state!.version }, stateBytes: { N: "1000000" }, stateChunks: { N: "3" } })
      expect(item.stateInline).toBeUndefined()
      expect(itemSize(item)).toBeLessThan(1000)
      expect((yield* chunkItems(client, tableName).list(scope, shard(0))).length).toBe(3)

      // Below the inline threshold: in the row, which stays under DynamoDB's 400 KB.
      const inline = stateBytes(299_000, 2)
      const inlined = yield* store.checkpoint(scope, held, Checkpoint.sequence("2"), undefined, inline)
      expect(inlined.state).toMatchObject({ bytes: 299_000, chunks: 0 })
      expect(sameBytes(yield* store.loadState(scope, inlined), inline)).toBe(true)
      const inlineItem = yield* row
      expect(inlineItem.stateInline?.B?.byteLength).toBe(299_000)
      expect(itemSize(inlineItem)).toBeLessThan(400 * 1024)
      expect(yield* chunkItems(client, tableName).list(scope, shard(0))).toEqual([])

      // Cleared: the pointer and the inline bytes are gone from the item.
      yield* store.checkpoint(scope, held, Checkpoint.sequence("3"), undefined, new Uint8Array(0))
      const cleared = yield* row
      for (const name of ["stateVersion", "stateBytes", "stateChunks", "stateInline"]) expect(cleared[name]).toBeUndefined()
    }).pipe(Effect.scoped))

  it.effect("states of more chunks than one batch takes are written, read, pruned and deleted", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("many-chunks")
      const store = yield* makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, tableName), stateInlineBytes: 0, stateChunkBytes: 16 })
      const chunks = chunkItems(yield* rawClient(endpoint), tableName)
      const scope = freshScope()
      yield* store.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
      const taken = yield* store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
      const held = { shardId: shard(0), owner: "w1", counter: taken.counter }
      for (const [i, size] of [16 * 60 + 1, 16 * 26].entries()) {
        const data = stateBytes(size, i)
        const written = yield* store.checkpoint(scope, held, Checkpoint.sequence(String(i)), undefined, data)
        expect(written.state?.chunks).toBe(Math.ceil(size / 16))
        expect(yield* store.loadState(scope, written)).toEqual(data)
        expect((yield* chunks.list(scope, shard(0))).length).toBe(Math.ceil(size / 16))
      }
      yield* store.delete(scope, shard(0))
      expect(yield* chunks.list(scope, shard(0))).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("throttled chunk writes are retried with the same schedule", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const handler = new ScriptedHandler()
      const store = yield* makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, freshTable("throttled-chunks")), requestHandler: handler, stateChunkBytes: 16, stateInlineBytes: 16 })
      const scope = freshScope()
      yield* store.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
      const taken = yield* store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
      handler.operations.length = 0
      handler.throttled = 2
      const data = stateBytes(40, 1)
      const written = yield* store.checkpoint(scope, { shardId: shard(0), owner: "w1", counter: taken.counter }, Checkpoint.sequence("1"), undefined, data)
      expect(handler.operations).toEqual(["BatchWriteItem", "BatchWriteItem", "BatchWriteItem", "UpdateItem"])
      expect(yield* store.loadState(scope, written)).toEqual(data)
    }).pipe(Effect.scoped))

  it.effect("a checkpoint whose answer is lost keeps the chunks if the row points to them", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const handler = new ScriptedHandler()
      const tableName = freshTable("lost-answer")
      const store = yield* makeDynamoDbLeaseStore({ ...dynamoOptions(endpoint, tableName), requestHandler: handler, stateChunkBytes: 16, stateInlineBytes: 16 })
      const scope = freshScope()
      yield* store.create(scope, { shardId: shard(0), startAt: "TRIM_HORIZON", parentShardIds: [] })
      const taken = yield* store.take(scope, shard(0), { owner: undefined, counter: 0 }, "w1")
      handler.loseAnswersOf = "UpdateItem"
      const data = stateBytes(40, 1)
      const error = yield* Effect.flip(store.checkpoint(scope, { shardId: shard(0), owner: "w1", counter: taken.counter }, Checkpoint.sequence("1"), undefined, data))
      expect(error._tag).toBe("LeaseStoreError")
      handler.loseAnswersOf = undefined
      // The write landed: the row points to the new version, whose chunks must still be there.
      const row = yield* store.get(scope, shard(0))
      expect(row?.checkpoint).toEqual(Checkpoint.sequence("1"))
      expect(yield* store.loadState(scope, row!)).toEqual(data)
    }).pipe(Effect.scoped))

  it.effect("a malformed state pointer is a LeaseStoreError naming what is wrong", () =>
    Effect.gen(function* () {
      const { tableName, store, client, scope } = yield* tableWithClient("malformed-state")
      const base = {
        scope: { S: scopeKey(scope) },
        shardId: { S: shard(0) },
        leaseCounter: { N: "0" },
        checkpointSubSequenceNumber: { N: "0" },
        startAt: { S: "LATEST" },
        parentShardIds: { L: [] },
        childShardIds: { L: [] },
        ownerSwitchesSinceCheckpoint: { N: "0" }
      }
      const cases: ReadonlyArray<[Record<string, AttributeValue>, string]> = [
        [{ stateVersion: { S: "1-ab" }, stateBytes: { S: "ten" }, stateChunks: { N: "0" } }, "stateBytes is not a whole number"],
        [{ stateVersion: { S: "1-ab" } }, "bad state pointer"],
        [{ stateBytes: { N: "10" } }, "bad state pointer"],
        [{ stateVersion: { N: "1" }, stateBytes: { N: "10" } }, "stateVersion is not a string"]
      ]
      for (const [state, message] of cases) {
        yield* Effect.promise(() => client.send(new PutItemCommand({ TableName: tableName, Item: { ...base, ...state } })))
        const error = yield* Effect.flip(store.get(scope, shard(0)))
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain(message)
      }
    }).pipe(Effect.scoped))

  it.effect("state sizes that would not fit an item are refused when the store opens", () =>
    Effect.gen(function* () {
      for (const sizes of [{ stateChunkBytes: 0 }, { stateChunkBytes: 400_000 }, { stateInlineBytes: 500_000 }, { stateInlineBytes: -1 }]) {
        const error = yield* Effect.flip(makeDynamoDbLeaseStore({ tableName: "leases", endpoint: "http://127.0.0.1:9", ...sizes }))
        expect(error).toBeInstanceOf(LeaseStoreError)
        expect(error.message).toContain(`option ${Object.keys(sizes)[0]}`)
      }
    }).pipe(Effect.scoped))

  it.effect("LeaseStore.layerDynamoDB provides the service", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* Dynalite
      const tableName = freshTable("layer")
      const name = yield* Effect.map(LeaseStore, (s) => s.name).pipe(Effect.provide(LeaseStore.layerDynamoDB(dynamoOptions(endpoint, tableName))))
      expect(name).toBe(`dynamodb:${tableName}`)
    }))
})
