import { Context, Effect, Layer } from "effect"
import type { Checkpoint } from "../checkpoint/index.js"
import type { MissingDependency } from "../internal/optionalDependency.js"
import { type DynamoDbLeaseStoreOptions, makeDynamoDbLeaseStore } from "./DynamoDbLeaseStore.js"
import type { HeldLease, Lease, LeaseLost, LeaseScope, LeaseStoreError, NewLease, StateRef } from "./Lease.js"
import { makeMemoryLeaseStore } from "./MemoryLeaseStore.js"
import { makeSqliteLeaseStore, type SqliteLeaseStoreOptions } from "./SqliteLeaseStore.js"

export { makeMemoryLeaseStore, type MemoryLeaseStoreOptions } from "./MemoryLeaseStore.js"

/**
 * A lease table: one row per shard and scope. Writes that depend on ownership (`take`, `renew`,
 * `checkpoint`, `release`) are compare-and-set on the owner and the lease counter and fail with
 * {@link LeaseLost} when the row moved on; each returns the row as written. Reads are strongly
 * consistent.
 *
 * A row may carry its shard's operator state (windows, keyed state), written by `checkpoint` in
 * the same conditional write as the checkpoint, so whoever takes the lease next resumes exactly
 * from the last committed batch. Large states live in chunks beside the row behind a versioned
 * pointer ({@link StateRef}) that the conditional write flips.
 */
export interface LeaseStoreApi {
  /** A name for messages, e.g. `memory`, `sqlite:/path`, `dynamodb:table`. */
  readonly name: string
  /** Every lease of the scope, in shard id order. */
  readonly list: (scope: LeaseScope) => Effect.Effect<ReadonlyArray<Lease>, LeaseStoreError>
  /**
   * Every scope (application and stream) with at least one lease in the table, each once, in
   * application then stream order: for listings by hand (`shardline leases`), not for workers,
   * which know their scope. The DynamoDB store scans the whole table for it.
   *
   * @example
   * ```ts
   * for (const scope of yield* leases.listScopes()) console.log(scope.applicationName, scope.streamName)
   * ```
   */
  readonly listScopes: () => Effect.Effect<ReadonlyArray<LeaseScope>, LeaseStoreError>
  readonly get: (scope: LeaseScope, shardId: string) => Effect.Effect<Lease | undefined, LeaseStoreError>
  /** Creates the row unless one exists; answers whether it did. */
  readonly create: (scope: LeaseScope, lease: NewLease) => Effect.Effect<boolean, LeaseStoreError>
  /** Takes the lease for `newOwner` if the row is still at `expected`; counter + 1. */
  readonly take: (
    scope: LeaseScope,
    shardId: string,
    expected: { readonly owner: string | undefined; readonly counter: number },
    newOwner: string
  ) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /** Renews a held lease; counter + 1. */
  readonly renew: (scope: LeaseScope, held: HeldLease) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /**
   * Writes a held lease's checkpoint (counter unchanged); at the shard's end, also its children.
   *
   * `state` undefined leaves the row's operator state as it is; given, it becomes the row's state
   * in the same conditional write (chunks, if any, are written first under a fresh version that
   * the write then points to); empty, it clears the state. The replaced version's chunks are
   * deleted afterwards, and after a failed write the ones just written (both best effort).
   */
  readonly checkpoint: (
    scope: LeaseScope,
    held: HeldLease,
    checkpoint: Checkpoint,
    childShardIds?: ReadonlyArray<string>,
    state?: Uint8Array
  ) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /**
   * The operator state `lease` points to (`lease.state`, as read or written: the row is not read
   * again for a newer pointer); undefined when it has none. Missing or short chunks, or inline
   * bytes a later checkpoint replaced, are a {@link LeaseStoreError} naming the version.
   *
   * @example
   * ```ts
   * const taken = yield* leases.take(scope, shardId, { owner: row.owner, counter: row.counter }, "worker-2")
   * const state = yield* leases.loadState(scope, taken) // the state of the last committed checkpoint
   * ```
   */
  readonly loadState: (scope: LeaseScope, lease: Lease) => Effect.Effect<Uint8Array | undefined, LeaseStoreError>
  /** Gives a held lease up (owner cleared, counter + 1) so another worker can take it at once. */
  readonly release: (scope: LeaseScope, held: HeldLease) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /** Records a shard's children (from ListShards or ChildShards); no ownership needed. No-op if the row is gone. */
  readonly setChildren: (
    scope: LeaseScope,
    shardId: string,
    childShardIds: ReadonlyArray<string>
  ) => Effect.Effect<void, LeaseStoreError>
  /** Deletes a row (ended shards whose children started, shards gone from the stream) and every version of its state. */
  readonly delete: (scope: LeaseScope, shardId: string) => Effect.Effect<void, LeaseStoreError>
}

/**
 * The lease store service. Layers: {@link LeaseStore.layerMemory} for tests,
 * `LeaseStore.layerSqlite` (one machine, several processes) and `LeaseStore.layerDynamoDB`
 * (a fleet).
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(LeaseStore.layerMemory))
 * ```
 */
export class LeaseStore extends Context.Tag("shardline/LeaseStore")<LeaseStore, LeaseStoreApi>() {
  /** Leases in memory for the life of the layer: for tests and single-process runs. */
  static readonly layerMemory: Layer.Layer<LeaseStore> = Layer.effect(LeaseStore, Effect.suspend(() => makeMemoryLeaseStore()))

  /**
   * Leases in a SQLite file (needs the optional package `better-sqlite3`): durable, and shared
   * safely by every worker process on one machine. The embedded default.
   */
  static readonly layerSqlite = (
    options: SqliteLeaseStoreOptions
  ): Layer.Layer<LeaseStore, LeaseStoreError | MissingDependency> => Layer.scoped(LeaseStore, makeSqliteLeaseStore(options))

  /**
   * Leases in a DynamoDB table (needs the optional package `@aws-sdk/client-dynamodb`), created
   * with on-demand billing if missing: for workers on many machines.
   */
  static readonly layerDynamoDB = (
    options: DynamoDbLeaseStoreOptions
  ): Layer.Layer<LeaseStore, LeaseStoreError | MissingDependency> => Layer.scoped(LeaseStore, makeDynamoDbLeaseStore(options))
}
