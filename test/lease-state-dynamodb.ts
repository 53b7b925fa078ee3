/** Direct looks at a DynamoDB lease table's operator state, for the DynamoDB lease store tests. */
import { type AttributeValue, DeleteItemCommand, type DynamoDBClient, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import type { LeaseScope } from "../src/index.js"
import { scopeKey } from "../src/lease/Lease.js"
import type { ChunkKey } from "./lease-state-contract.js"

/**
 * A table's state chunk items, read and changed directly, keyed as documented: partition
 * `<scope key>state`, sort key `<shardId>#<version>#<6-digit index>`.
 */
export const chunkItems = (client: DynamoDBClient, tableName: string) => {
  const key = (scope: LeaseScope, shardId: string, version: string, index: number) => ({
    scope: { S: `${scopeKey(scope)}state` },
    shardId: { S: `${shardId}#${version}#${String(index).padStart(6, "0")}` }
  })
  return {
    list: (scope: LeaseScope, shardId: string) =>
      Effect.promise(() =>
        client.send(new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "#p = :p AND begins_with(#s, :s)",
          ExpressionAttributeNames: { "#p": "scope", "#s": "shardId" },
          ExpressionAttributeValues: { ":p": { S: `${scopeKey(scope)}state` }, ":s": { S: `${shardId}#` } },
          ConsistentRead: true
        }))
      ).pipe(Effect.map((out) =>
        (out.Items ?? []).map((item): ChunkKey => {
          const [, version, index] = item.shardId!.S!.split("#")
          expect(index).toMatch(/^\d{6}$/)
          return { version: version!, index: Number(index) }
        }))),
    plant: (scope: LeaseScope, shardId: string, version: string, index: number) =>
      Effect.asVoid(Effect.promise(() =>
        client.send(new PutItemCommand({ TableName: tableName, Item: { ...key(scope, shardId, version, index), data: { B: new Uint8Array([1]) } } })))),
    drop: (scope: LeaseScope, shardId: string, version: string, index: number) =>
      Effect.asVoid(Effect.promise(() => client.send(new DeleteItemCommand({ TableName: tableName, Key: key(scope, shardId, version, index) }))))
  }
}

/** An item's size as DynamoDB counts it: attribute names plus values (UTF-8 strings, number text, bytes). */
export const itemSize = (item: Record<string, AttributeValue>): number => {
  const value = (v: AttributeValue): number =>
    v.S !== undefined ? Buffer.byteLength(v.S) : v.N !== undefined ? v.N.length : v.B !== undefined ? v.B.byteLength : (v.L ?? []).reduce((n, e) => n + 1 + value(e), 3)
  return Object.entries(item).reduce((n, [name, v]) => n + Buffer.byteLength(name) + value(v), 0)
}

export const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(b)
