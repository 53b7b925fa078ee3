import { Effect, type Scope } from "effect"
import type { MissingDependency } from "../internal/optionalDependency.js"
import type { LeaseStoreError } from "./Lease.js"
import type { LeaseStoreApi } from "./LeaseStore.js"

/** Which DynamoDB table holds the leases and how to reach it. */
export interface DynamoDbLeaseStoreOptions {
  readonly tableName: string
  readonly region?: string
  /** Endpoint override, e.g. dynalite's `http://127.0.0.1:4567`. */
  readonly endpoint?: string
}

export const makeDynamoDbLeaseStore = (
  _options: DynamoDbLeaseStoreOptions
): Effect.Effect<LeaseStoreApi, LeaseStoreError | MissingDependency, Scope.Scope> => Effect.dieMessage("not implemented yet")
