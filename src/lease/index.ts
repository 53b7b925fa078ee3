/**
 * Leases: many workers share a stream's shards through a lease table, as the KCL does.
 * @module
 */
export {
  type HeldLease,
  isEnded,
  type Lease,
  leaseKey,
  LeaseLost,
  type LeaseScope,
  LeaseStoreError,
  type NewLease,
  type StateRef
} from "./Lease.js"
export { LeaseStore, type LeaseStoreApi, makeMemoryLeaseStore, type MemoryLeaseStoreOptions } from "./LeaseStore.js"
export { type DynamoDbClientLike, type DynamoDbLeaseStoreOptions } from "./DynamoDbLeaseStore.js"
export { type SqliteLeaseStoreOptions } from "./SqliteLeaseStore.js"
