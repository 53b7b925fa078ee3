/**
 * Coordination: a worker's lease loops (shard sync, renewal, taking) and the shard lifecycle.
 * @module
 */
export { type Assignment, type ChildShard, type Coordinator, makeCoordinator, type LeaseSession } from "./Coordinator.js"
export {
  type CoordinatorSettings,
  type LeaseCoordinationOptions,
  type LeaseLossReason,
  type LifecycleHooks,
  resolveCoordination
} from "./options.js"
export { parentsDone, planShardSync, planTakes, type SyncPlan, type TakeInput, type TakePlan } from "./planning.js"
