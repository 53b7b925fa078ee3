import type { AttributeValue } from "@aws-sdk/client-dynamodb"
import type { KinesisClientConfig } from "@aws-sdk/client-kinesis"
import { Effect, type Scope } from "effect"
import type { Checkpoint } from "../checkpoint/index.js"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import { dynamoDbStateChunks } from "./DynamoDbLeaseState.js"
import {
  attr,
  ConditionFailed,
  ensureTable,
  type Item,
  L,
  N,
  openClient,
  Placeholders,
  type Requests,
  requests,
  S,
  scanScopes,
  type Sdk,
  validateTableName
} from "./DynamoDbTable.js"
import {
  encodeCheckpoint,
  fromRow,
  type HeldLease,
  isCount,
  type Lease,
  type LeaseLost,
  leaseLost,
  type LeaseRow,
  type LeaseScope,
  LeaseStoreError,
  LeaseTransition,
  type LeaseWrite,
  newLease,
  scopeKey,
  type StateRef,
  toRow
} from "./Lease.js"
import { type StateLayout, type StateWrite, writeState } from "./LeaseState.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

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
  /**
   * Operator states up to this many bytes are stored inline in the lease item (a binary
   * attribute); larger ones in chunk items beside it. Default 300 000, at most 390 000: DynamoDB
   * limits an item to 400 KB, and the row needs room for its other attributes.
   */
  readonly stateInlineBytes?: number
  /**
   * The size of a state chunk item's bytes. Default 350 000, at most 390 000 (the 400 KB item
   * limit, with the keys). Chunks are items of the same table under the partition key
   * `<scope key>state` and the sort key `<shardId>#<version>#<index>`.
   */
  readonly stateChunkBytes?: number
}

/** What shardline needs of a `DynamoDBClient` (typed here so the package stays optional). */
export interface DynamoDbClientLike {
  readonly send: (command: never, options?: { readonly abortSignal?: AbortSignal }) => Promise<unknown>
}

// ---- items

const keyOf = (scope: LeaseScope, shardId: string): Item => ({ [attr.scope]: S(scopeKey(scope)), [attr.shardId]: S(shardId) })

const defaultStateInlineBytes = 300_000
const defaultStateChunkBytes = 350_000
const maxStateItemBytes = 390_000

/** The state pointer's attributes (absent: no state). */
const stateAttributes = (row: LeaseRow): Item =>
  row.stateVersion === null
    ? {}
    : { [attr.stateVersion]: S(row.stateVersion), [attr.stateBytes]: N(row.stateBytes), [attr.stateChunks]: N(row.stateChunks) }

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
  [attr.switches]: N(row.ownerSwitchesSinceCheckpoint),
  ...stateAttributes(row)
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
    optionalCount: (name: string): number => {
      if (item[name] === undefined) return 0
      const value = Number(item[name]?.N)
      return item[name]?.N !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : bad(name, "a whole number (N)", 0)
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
    ownerSwitchesSinceCheckpoint: read.count(attr.switches),
    // fromRow checks that the three agree (a version needs a size, no version no size).
    stateVersion: read.optionalString(attr.stateVersion),
    stateBytes: read.optionalCount(attr.stateBytes),
    stateChunks: read.optionalCount(attr.stateChunks)
  }
  return read.problems.length === 0 ? row : `lease ${row.shardId || "?"}: ${read.problems.join(", ")}`
}

/**
 * Every attribute of a row but the inline state, which only `loadState` reads: `get` and `list`
 * (every take round) would otherwise carry up to `stateInlineBytes` per row.
 */
const rowProjection = (p: Placeholders): string =>
  Object.values(attr).filter((name) => name !== attr.stateInline && name !== attr.chunkData).map((name) => p.name(name)).join(", ")

// ---- expressions

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
  /** `state` undefined leaves the state attributes; null removes them; else points them at the new version. */
  checkpoint: (checkpoint: Checkpoint, childShardIds: ReadonlyArray<string> | undefined, state?: StateWrite): Change => {
    const encoded = encodeCheckpoint(checkpoint)
    const pointer = state === undefined || state === null ? {} : {
      [attr.stateVersion]: S(state.ref.version),
      [attr.stateBytes]: N(state.ref.bytes),
      [attr.stateChunks]: N(state.ref.chunks),
      ...(state.inline === undefined ? {} : { [attr.stateInline]: { B: state.inline } })
    }
    const cleared = state === undefined
      ? []
      : state === null
        ? [attr.stateVersion, attr.stateBytes, attr.stateChunks, attr.stateInline]
        : state.inline === undefined ? [attr.stateInline] : []
    return {
      set: {
        ...(encoded.checkpoint === null ? {} : { [attr.checkpoint]: S(encoded.checkpoint) }),
        [attr.subSequence]: N(encoded.checkpointSubSequenceNumber),
        [attr.switches]: N(0),
        ...(childShardIds === undefined ? {} : { [attr.children]: L(childShardIds) }),
        ...pointer
      },
      remove: [...(encoded.checkpoint === null ? [attr.checkpoint] : []), ...cleared]
    }
  },
  release: (held: HeldLease): Change => ({ set: { [attr.counter]: N(held.counter + 1) }, remove: [attr.owner] })
} as const

/** The state sizes, checked: whole numbers that keep every item under DynamoDB's 400 KB. */
const validateStateLayout = (options: DynamoDbLeaseStoreOptions, store: string): Effect.Effect<StateLayout, LeaseStoreError> => {
  const inlineBytes = options.stateInlineBytes ?? defaultStateInlineBytes
  const chunkBytes = options.stateChunkBytes ?? defaultStateChunkBytes
  const problem = !isCount(inlineBytes) || inlineBytes > maxStateItemBytes
    ? `option stateInlineBytes ${inlineBytes} is not a whole number of bytes from 0 to ${maxStateItemBytes}`
    : !isCount(chunkBytes) || chunkBytes < 1 || chunkBytes > maxStateItemBytes
      ? `option stateChunkBytes ${chunkBytes} is not a whole number of bytes from 1 to ${maxStateItemBytes}`
      : undefined
  return problem === undefined
    ? Effect.succeed({ inlineBytes, chunkBytes })
    : Effect.fail(new LeaseStoreError({ operation: "open", store, reason: problem }))
}

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
 * Operator state rides in the lease item when small (`stateInlineBytes`); larger states are
 * written first as chunk items under a fresh version (BatchWriteItem, unconditional), then the
 * checkpoint's conditional `UpdateItem` points the row at that version. Replaced and orphaned
 * versions are deleted afterwards, best effort.
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
    const layout = yield* validateStateLayout(options, store)
    const sdk = yield* importOptional<Sdk>("@aws-sdk/client-dynamodb", "LeaseStore.layerDynamoDB", { dev: false })
    const r = requests(yield* openClient(sdk, options, store), store)
    yield* ensureTable(sdk, r, tableName)
    return leaseTable(sdk, r, tableName, layout)
  })

const leaseTable = (sdk: Sdk, r: Requests, tableName: string, layout: StateLayout): LeaseStoreApi => {
  const chunks = dynamoDbStateChunks(sdk, r, tableName)
  const decode = (operation: string, item: Item): Effect.Effect<Lease, LeaseStoreError> => {
    const row = fromItem(item)
    const lease = typeof row === "string" ? row : fromRow(row)
    return typeof lease === "string"
      ? Effect.fail(new LeaseStoreError({ operation, store: r.store, reason: `malformed item: ${lease}` }))
      : Effect.succeed(lease)
  }

  const getLease = (operation: string, scope: LeaseScope, shardId: string) => {
    const p = new Placeholders()
    const ProjectionExpression = rowProjection(p)
    return r.plain(operation, (c, abortSignal) =>
      c.send(
        new sdk.GetItemCommand({ TableName: tableName, Key: keyOf(scope, shardId), ProjectionExpression, ...p.fields(), ConsistentRead: true }),
        { abortSignal }
      )).pipe(
      Effect.flatMap((out) => (out.Item === undefined ? Effect.succeed(undefined) : decode(operation, out.Item)))
    )
  }

  /** The row that made a condition fail: sent along by DynamoDB, else read (dynalite does not send it). */
  const foundAfter = (operation: LeaseWrite, scope: LeaseScope, shardId: string, failed: ConditionFailed) =>
    failed.item !== undefined ? decode(operation, failed.item) : getLease(operation, scope, shardId)

  /** An ownership-conditional update; answers the item as it was before (`ALL_OLD`) or after (`ALL_NEW`). */
  const conditionalUpdate = (
    operation: LeaseWrite,
    scope: LeaseScope,
    shardId: string,
    expected: Expected,
    writer: string,
    change: Change,
    ReturnValues: "ALL_NEW" | "ALL_OLD"
  ): Effect.Effect<Item, LeaseLost | LeaseStoreError> => {
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
          ReturnValues,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD"
        }),
        { abortSignal }
      )).pipe(
      Effect.map((out) => out.Attributes ?? {}),
      Effect.catchTag("ConditionFailed", (failed) =>
        Effect.flatMap(foundAfter(operation, scope, shardId, failed), (current) =>
          Effect.fail(leaseLost(operation, scope, shardId, writer, expected.counter, current))))
    )
  }

  const ownershipWrite = (
    operation: LeaseWrite,
    scope: LeaseScope,
    shardId: string,
    expected: Expected,
    writer: string,
    change: Change
  ): Effect.Effect<Lease, LeaseLost | LeaseStoreError> =>
    Effect.flatMap(conditionalUpdate(operation, scope, shardId, expected, writer, change, "ALL_NEW"), (item) => decode(operation, item))

  /**
   * A state-writing checkpoint's row write. It answers the row as it was (`ALL_OLD`), to learn
   * the version it replaces; the row as written is that row through the same transition.
   */
  const flipState = (
    scope: LeaseScope,
    held: HeldLease,
    checkpoint: Checkpoint,
    childShardIds: ReadonlyArray<string> | undefined,
    write: StateWrite
  ): Effect.Effect<{ readonly lease: Lease; readonly previous: StateRef | undefined }, LeaseLost | LeaseStoreError> =>
    conditionalUpdate("checkpoint", scope, held.shardId, held, held.owner, changes.checkpoint(checkpoint, childShardIds, write), "ALL_OLD").pipe(
      Effect.flatMap((item) => decode("checkpoint", item)),
      Effect.flatMap((before) => {
        const after = LeaseTransition.checkpoint(scope, before, held, checkpoint, childShardIds, write === null ? null : write.ref)
        return after._tag === "Ok"
          ? Effect.succeed({ lease: after.lease, previous: before.state })
          : Effect.fail(new LeaseStoreError({
              operation: "checkpoint",
              store: r.store,
              reason: `the row before the checkpoint was not held by ${held.owner} at counter ${held.counter}, yet the condition held`
            }))
      })
    )

  const queryPage = (scope: LeaseScope, start: Item | undefined) => {
    const p = new Placeholders()
    const KeyConditionExpression = `${p.name(attr.scope)} = ${p.value(S(scopeKey(scope)))}`
    const ProjectionExpression = rowProjection(p)
    return r.plain("list", (c, abortSignal) =>
      c.send(
        new sdk.QueryCommand({
          TableName: tableName,
          KeyConditionExpression,
          ProjectionExpression,
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
    listScopes: () => scanScopes(sdk, r, tableName),
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
    checkpoint: (scope, held, checkpoint, childShardIds, state) =>
      state === undefined
        ? ownershipWrite("checkpoint", scope, held.shardId, held, held.owner, changes.checkpoint(checkpoint, childShardIds))
        : writeState(held.shardId, held, layout, state, {
            writeChunks: (version, parts) => chunks.write(scope, held.shardId, version, parts),
            deleteChunks: (ref) => chunks.delete(scope, held.shardId, ref),
            flip: (write) => flipState(scope, held, checkpoint, childShardIds, write),
            current: getLease("checkpoint", scope, held.shardId)
          }),
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
    loadState: (scope, lease) =>
      lease.state === undefined ? Effect.succeed(undefined) : chunks.read(scope, lease.shardId, lease.state, keyOf(scope, lease.shardId)),
    // The row first: chunks without a row are orphans that the next delete removes; a row
    // without its chunks would be a broken state.
    delete: (scope, shardId) =>
      r.plain("delete", (c, abortSignal) =>
        c.send(new sdk.DeleteItemCommand({ TableName: tableName, Key: keyOf(scope, shardId) }), { abortSignal })).pipe(
        Effect.zipRight(chunks.deleteAll(scope, shardId))
      )
  }
}
