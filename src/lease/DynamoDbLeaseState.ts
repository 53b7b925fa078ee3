import type { WriteRequest } from "@aws-sdk/client-dynamodb"
import { Data, Effect } from "effect"
import { type LeaseScope, LeaseStoreError, scopeKey, type StateRef } from "./Lease.js"
import { checkInline, joinChunks } from "./LeaseState.js"
import { attr, type Item, Placeholders, type Requests, retries, S, type Sdk } from "./DynamoDbTable.js"

// Operator state chunks live in the lease table itself, each chunk an item under the scope's own
// state partition (so `list` of the scope never reads them), sorted by shard, version and index.

/** The partition of a scope's state chunks: never a scope's partition, which ends in `#`. */
export const statePartition = (scope: LeaseScope): string => `${scopeKey(scope)}state`

/** A chunk's sort key; the index zero-padded so chunks sort in order. */
export const chunkSortKey = (shardId: string, version: string, index: number): string =>
  `${shardId}#${version}#${String(index).padStart(6, "0")}`

const chunkKey = (scope: LeaseScope, shardId: string, version: string, index: number): Item => ({
  [attr.scope]: S(statePartition(scope)),
  [attr.shardId]: S(chunkSortKey(shardId, version, index))
})

/** BatchWriteItem takes at most 25 requests (and 16 MB: 25 chunks of at most 400 KB fit). */
const batchSize = 25

const groups = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

/** DynamoDB accepted only part of a batch (throttled): the rest is sent again. */
class Unprocessed extends Data.TaggedError("Unprocessed")<{ readonly count: number }> {}

/** The state chunk requests of one lease table. */
export interface DynamoDbStateChunks {
  /** Puts `chunks` as version `version` of the shard's state (unconditional). */
  readonly write: (scope: LeaseScope, shardId: string, version: string, chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, LeaseStoreError>
  /** Deletes the chunks of one version. */
  readonly delete: (scope: LeaseScope, shardId: string, ref: StateRef) => Effect.Effect<void, LeaseStoreError>
  /** Deletes every chunk of the shard, every version (orphans of crashed writers too). */
  readonly deleteAll: (scope: LeaseScope, shardId: string) => Effect.Effect<void, LeaseStoreError>
  /** The state `ref` points to: its chunks joined, or the inline bytes of the row (`rowKey`). */
  readonly read: (scope: LeaseScope, shardId: string, ref: StateRef, rowKey: Item) => Effect.Effect<Uint8Array, LeaseStoreError>
}

export const dynamoDbStateChunks = (sdk: Sdk, r: Requests, tableName: string): DynamoDbStateChunks => {
  const fail = (operation: string, reason: string) => new LeaseStoreError({ operation, store: r.store, reason })

  /** Writes or deletes in batches, sending again what DynamoDB left unprocessed (with the throttling schedule). */
  const batchWrite = (operation: string, writes: ReadonlyArray<WriteRequest>) =>
    Effect.forEach(groups(writes, batchSize), (group) => {
      let pending: ReadonlyArray<WriteRequest> = group
      return Effect.suspend(() =>
        r.plain(operation, (c, abortSignal) =>
          c.send(new sdk.BatchWriteItemCommand({ RequestItems: { [tableName]: [...pending] } }), { abortSignal }))
      ).pipe(
        Effect.flatMap((out) => {
          pending = out.UnprocessedItems?.[tableName] ?? []
          return pending.length === 0 ? Effect.void : Effect.fail(new Unprocessed({ count: pending.length }))
        }),
        Effect.retry({ schedule: retries, while: (e) => e._tag === "Unprocessed" }),
        Effect.catchTag("Unprocessed", (e) =>
          Effect.fail(fail(operation, `${e.count} of ${group.length} chunk writes still unprocessed after retries (throttled)`)))
      )
    }, { discard: true })

  /** Every item of the state partition whose sort key starts with `prefix`, page by page. */
  const query = (operation: string, scope: LeaseScope, prefix: string, keysOnly: boolean) =>
    Effect.gen(function* () {
      const items: Array<Item> = []
      let start: Item | undefined
      do {
        const p = new Placeholders()
        const KeyConditionExpression =
          `${p.name(attr.scope)} = ${p.value(S(statePartition(scope)))} AND begins_with(${p.name(attr.shardId)}, ${p.value(S(prefix))})`
        const ProjectionExpression = keysOnly ? `${p.name(attr.scope)}, ${p.name(attr.shardId)}` : undefined
        const page = yield* r.plain(operation, (c, abortSignal) =>
          c.send(
            new sdk.QueryCommand({
              TableName: tableName,
              KeyConditionExpression,
              ...(ProjectionExpression === undefined ? {} : { ProjectionExpression }),
              ...p.fields(),
              ConsistentRead: true,
              ...(start === undefined ? {} : { ExclusiveStartKey: start })
            }),
            { abortSignal }
          ))
        items.push(...(page.Items ?? []))
        start = page.LastEvaluatedKey
      } while (start !== undefined)
      return items
    })

  const readInline = (shardId: string, ref: StateRef, rowKey: Item) => {
    const p = new Placeholders()
    const ProjectionExpression = `${p.name(attr.stateVersion)}, ${p.name(attr.stateInline)}`
    return r.plain("loadState", (c, abortSignal) =>
      c.send(
        new sdk.GetItemCommand({ TableName: tableName, Key: rowKey, ProjectionExpression, ...p.fields(), ConsistentRead: true }),
        { abortSignal }
      )).pipe(
      Effect.map((out) => checkInline(shardId, ref, { version: out.Item?.[attr.stateVersion]?.S, data: out.Item?.[attr.stateInline]?.B }))
    )
  }

  const readChunks = (scope: LeaseScope, shardId: string, ref: StateRef) => {
    const prefix = `${shardId}#${ref.version}#`
    return Effect.map(query("loadState", scope, prefix, false), (items) =>
      joinChunks(shardId, ref, items.map((item) => ({
        // Anything unreadable counts as missing: joinChunks names the chunk.
        index: Number(item[attr.shardId]?.S?.slice(prefix.length) ?? Number.NaN),
        data: item[attr.chunkData]?.B ?? new Uint8Array(0)
      }))))
  }

  return {
    write: (scope, shardId, version, chunks) =>
      batchWrite("checkpoint", chunks.map((data, index) => ({
        PutRequest: { Item: { ...chunkKey(scope, shardId, version, index), [attr.chunkData]: { B: data } } }
      }))),
    delete: (scope, shardId, ref) =>
      batchWrite("checkpoint", Array.from({ length: ref.chunks }, (_, index) => ({
        DeleteRequest: { Key: chunkKey(scope, shardId, ref.version, index) }
      }))),
    deleteAll: (scope, shardId) =>
      Effect.flatMap(query("delete", scope, `${shardId}#`, true), (items) =>
        batchWrite("delete", items.map((item) => ({
          DeleteRequest: { Key: { [attr.scope]: item[attr.scope]!, [attr.shardId]: item[attr.shardId]! } }
        })))),
    read: (scope, shardId, ref, rowKey) =>
      (ref.chunks === 0 ? readInline(shardId, ref, rowKey) : readChunks(scope, shardId, ref)).pipe(
        Effect.flatMap((found) => (typeof found === "string" ? Effect.fail(fail("loadState", found)) : Effect.succeed(found)))
      )
  }
}
