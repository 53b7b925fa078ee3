import { Context, Effect, Layer, Ref } from "effect"
import type { Checkpoint } from "../checkpoint/index.js"
import type { MissingDependency } from "../internal/optionalDependency.js"
import { type DynamoDbLeaseStoreOptions, makeDynamoDbLeaseStore } from "./DynamoDbLeaseStore.js"
import {
  type HeldLease,
  type Lease,
  type LeaseLost,
  type LeaseScope,
  LeaseStoreError,
  LeaseTransition,
  newLease,
  type NewLease,
  scopeKey,
  type Transition
} from "./Lease.js"
import { makeSqliteLeaseStore, type SqliteLeaseStoreOptions } from "./SqliteLeaseStore.js"

/**
 * A lease table: one row per shard and scope. Writes that depend on ownership (`take`, `renew`,
 * `checkpoint`, `release`) are compare-and-set on the owner and the lease counter and fail with
 * {@link LeaseLost} when the row moved on; each returns the row as written. Reads are strongly
 * consistent.
 */
export interface LeaseStoreApi {
  /** A name for messages, e.g. `memory`, `sqlite:/path`, `dynamodb:table`. */
  readonly name: string
  /** Every lease of the scope, in shard id order. */
  readonly list: (scope: LeaseScope) => Effect.Effect<ReadonlyArray<Lease>, LeaseStoreError>
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
  /** Writes a held lease's checkpoint (counter unchanged); at the shard's end, also its children. */
  readonly checkpoint: (
    scope: LeaseScope,
    held: HeldLease,
    checkpoint: Checkpoint,
    childShardIds?: ReadonlyArray<string>
  ) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /** Gives a held lease up (owner cleared, counter + 1) so another worker can take it at once. */
  readonly release: (scope: LeaseScope, held: HeldLease) => Effect.Effect<Lease, LeaseLost | LeaseStoreError>
  /** Records a shard's children (from ListShards or ChildShards); no ownership needed. No-op if the row is gone. */
  readonly setChildren: (
    scope: LeaseScope,
    shardId: string,
    childShardIds: ReadonlyArray<string>
  ) => Effect.Effect<void, LeaseStoreError>
  /** Deletes a row (ended shards whose children started, shards gone from the stream). */
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

const byShard = (a: Lease, b: Lease) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0)

/** A lease table in memory, applying {@link LeaseTransition} atomically. */
export const makeMemoryLeaseStore = (): Effect.Effect<LeaseStoreApi> =>
  Effect.map(Ref.make(new Map<string, ReadonlyMap<string, Lease>>()), (table) => {
    const rows = (scope: LeaseScope) => Effect.map(Ref.get(table), (all) => all.get(scopeKey(scope)) ?? new Map<string, Lease>())
    const put = (scope: LeaseScope, f: (rows: Map<string, Lease>) => void) =>
      Ref.update(table, (all) => {
        const next = new Map(all)
        const scoped = new Map(all.get(scopeKey(scope)) ?? [])
        f(scoped)
        next.set(scopeKey(scope), scoped)
        return next
      })
    const write = (scope: LeaseScope, shardId: string, transition: (current: Lease | undefined) => Transition) =>
      Ref.modify(table, (all): [Transition, Map<string, ReadonlyMap<string, Lease>>] => {
        const scoped = all.get(scopeKey(scope))
        const result = transition(scoped?.get(shardId))
        if (result._tag === "Lost") return [result, all as Map<string, ReadonlyMap<string, Lease>>]
        const next = new Map(all)
        next.set(scopeKey(scope), new Map(scoped ?? []).set(shardId, result.lease))
        return [result, next]
      }).pipe(Effect.flatMap((r) => (r._tag === "Ok" ? Effect.succeed(r.lease) : Effect.fail(r.error))))
    const api: LeaseStoreApi = {
      name: "memory",
      list: (scope) => Effect.map(rows(scope), (r) => [...r.values()].sort(byShard)),
      get: (scope, shardId) => Effect.map(rows(scope), (r) => r.get(shardId)),
      create: (scope, lease) =>
        Ref.modify(table, (all): [boolean, Map<string, ReadonlyMap<string, Lease>>] => {
          const scoped = all.get(scopeKey(scope))
          if (scoped?.has(lease.shardId) === true) return [false, all as Map<string, ReadonlyMap<string, Lease>>]
          const next = new Map(all)
          next.set(scopeKey(scope), new Map(scoped ?? []).set(lease.shardId, newLease(lease)))
          return [true, next]
        }),
      take: (scope, shardId, expected, newOwner) =>
        write(scope, shardId, (current) => LeaseTransition.take(scope, shardId, current, expected, newOwner)),
      renew: (scope, held) => write(scope, held.shardId, (current) => LeaseTransition.renew(scope, current, held)),
      checkpoint: (scope, held, checkpoint, childShardIds) =>
        write(scope, held.shardId, (current) => LeaseTransition.checkpoint(scope, current, held, checkpoint, childShardIds)),
      release: (scope, held) => write(scope, held.shardId, (current) => LeaseTransition.release(scope, current, held)),
      setChildren: (scope, shardId, childShardIds) =>
        put(scope, (r) => {
          const current = r.get(shardId)
          if (current !== undefined) r.set(shardId, { ...current, childShardIds: [...childShardIds] })
        }),
      delete: (scope, shardId) => put(scope, (r) => void r.delete(shardId))
    }
    return api
  })

