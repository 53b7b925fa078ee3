import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { LeaseStore, LeaseStoreError } from "../src/index.js"
import { makeDynamoDbLeaseStore } from "../src/lease/DynamoDbLeaseStore.js"
import { dynamoLeaseStoreLayer, localCredentials, startDynalite } from "./support/dynalite.js"
import { freshScope, leaseStoreContract } from "./support/leaseContract.js"

leaseStoreContract("DynamoDB (dynalite)", dynamoLeaseStoreLayer())

const rawClient = (endpoint: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new DynamoDBClient({ endpoint, region: "us-east-1", credentials: localCredentials, requestHandler: new NodeHttpHandler() })),
    (c) => Effect.sync(() => c.destroy())
  )

describe("DynamoDB lease table", () => {
  it.scoped("is created if missing with on-demand billing, and reused by the next store", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* startDynalite
      const options = { tableName: "leases-created", endpoint, region: "us-east-1", credentials: localCredentials }
      const first = yield* makeDynamoDbLeaseStore(options)
      const scope = freshScope()
      yield* first.create(scope, { shardId: "shardId-000000000000", startAt: "LATEST", parentShardIds: [] })
      const client = yield* rawClient(endpoint)
      const table = (yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: "leases-created" })))).Table
      expect(table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST")
      expect(table?.KeySchema).toEqual([{ AttributeName: "scope", KeyType: "HASH" }, { AttributeName: "shardId", KeyType: "RANGE" }])
      const second = yield* makeDynamoDbLeaseStore(options)
      expect((yield* second.list(scope)).map((l) => l.shardId)).toEqual(["shardId-000000000000"])
      expect(second.name).toBe("dynamodb:leases-created")
    }))

  it.scoped("a table with another key schema, or a bad table name, is a LeaseStoreError that says what to change", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* startDynalite
      const client = yield* rawClient(endpoint)
      yield* Effect.promise(() => client.send(new CreateTableCommand({
        TableName: "someone-elses",
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST"
      })))
      const wrong = yield* Effect.flip(makeDynamoDbLeaseStore({ tableName: "someone-elses", endpoint, region: "us-east-1", credentials: localCredentials }))
      expect(wrong).toBeInstanceOf(LeaseStoreError)
      expect(wrong.message).toContain("key schema")
      const bad = yield* Effect.flip(makeDynamoDbLeaseStore({ tableName: "no spaces!", endpoint, region: "us-east-1", credentials: localCredentials }))
      expect(bad.message).toContain("tableName")
    }))

  it.scoped("an unreachable endpoint is a LeaseStoreError after a few retries, not a hang", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        makeDynamoDbLeaseStore({ tableName: "leases", endpoint: "http://127.0.0.1:9", region: "us-east-1", credentials: localCredentials })
      )
      expect(error).toBeInstanceOf(LeaseStoreError)
      expect((error as LeaseStoreError).operation).toBe("describeTable")
      expect(error.message).not.toContain(localCredentials.secretAccessKey)
    }))

  it.effect("layerDynamoDB provides the service", () =>
    Effect.gen(function* () {
      const store = yield* LeaseStore
      expect(store.name).toBe("dynamodb:shardline-leases")
    }).pipe(Effect.provide(dynamoLeaseStoreLayer()), Effect.scoped))
})

describe("DynamoDB lease store with a client of your own", () => {
  it.scoped("uses it as is (and leaves it open)", () =>
    Effect.gen(function* () {
      const { endpoint } = yield* startDynalite
      const client = yield* rawClient(endpoint)
      const store = yield* Effect.scoped(makeDynamoDbLeaseStore({ tableName: "own-client", client }))
      const scope = freshScope()
      // The store's scope is closed: the client is still usable by its owner.
      yield* Effect.promise(() => client.send(new DescribeTableCommand({ TableName: "own-client" })))
      expect(store.name).toBe("dynamodb:own-client")
      expect(scope.applicationName).toContain("app")
    }))
})
