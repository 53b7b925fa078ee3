import { Effect, type Scope } from "effect"
import type { MissingDependency } from "../internal/optionalDependency.js"
import type { LeaseStoreError } from "./Lease.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

/** Where the SQLite lease table lives. */
export interface SqliteLeaseStoreOptions {
  /** The database file; created if missing. Several processes on one machine may share it. */
  readonly path: string
  /** Default `shardline_leases`. */
  readonly tableName?: string
}

export const makeSqliteLeaseStore = (
  _options: SqliteLeaseStoreOptions
): Effect.Effect<LeaseStoreApi, LeaseStoreError | MissingDependency, Scope.Scope> => Effect.dieMessage("not implemented yet")
