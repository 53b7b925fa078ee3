/**
 * The live dashboard: one self-contained page served by the consumer process (batch timeline,
 * shards, leases, recent errors and dead letters), updated over server-sent events.
 * @module
 */
import { serve } from "./server.js"
import { DashboardState } from "./state.js"

export { DashboardError, type DashboardOptions, type DashboardServer } from "./server.js"
export {
  type BatchDoneInput,
  type BatchPoint,
  type DashboardSnapshot,
  DashboardState,
  type DashboardStateOptions,
  type DeadLetterEntry,
  type DeadLetterInput,
  type ErrorEntry,
  type ErrorInput,
  type Instant,
  type ShardInput,
  type ShardRow,
  type ShardStatus
} from "./state.js"

/**
 * The dashboard: `makeState` for what it shows, `serve` to put it on HTTP for as long as a scope.
 *
 * @example
 * ```ts
 * const state = yield* Dashboard.makeState()
 * const { url } = yield* Dashboard.serve({ port: 9464 }, state)
 * ```
 */
export const Dashboard = {
  makeState: DashboardState.make,
  serve
} as const
