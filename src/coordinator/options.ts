import { hostname } from "node:os"
import { randomBytes } from "node:crypto"
import { Duration, Effect } from "effect"
import { durationOption, integerOption, InvalidOption, textOption } from "../config/index.js"
import type { Checkpoint } from "../checkpoint/index.js"
import type { LeaseLost } from "../lease/index.js"

/** Why this worker stopped holding a lease. */
export type LeaseLossReason =
  /** A write conditional on the lease failed: another worker took it (or it was deleted). */
  | { readonly _tag: "Lost"; readonly error: LeaseLost }
  /** The lease could not be renewed for `failoverTime` (the store was unreachable): others may hold it now. */
  | { readonly _tag: "Expired" }
  /** The shard left the stream (past retention) while held. */
  | { readonly _tag: "ShardGone" }

/**
 * Lifecycle hooks, the KCL's record processor callbacks. Each runs on the coordinator's fiber;
 * keep them short. A hook that fails is logged and ignored.
 */
export interface LifecycleHooks {
  /** This worker took the lease (initialize). `counter` is the fencing token it now holds. */
  readonly onLeaseAcquired?: (event: { readonly shardId: string; readonly counter: number; readonly checkpoint: Checkpoint | undefined }) => Effect.Effect<void>
  /** This worker no longer holds the lease; no more checkpoints are possible (leaseLost). */
  readonly onLeaseLost?: (event: { readonly shardId: string; readonly reason: LeaseLossReason }) => Effect.Effect<void>
  /** The shard was read to its end and checkpointed as ended; its children may start (shardEnded). */
  readonly onShardEnded?: (event: { readonly shardId: string; readonly childShardIds: ReadonlyArray<string> }) => Effect.Effect<void>
  /** The worker is stopping: the in-flight work is finished and checkpointed, then the leases released (shutdownRequested). */
  readonly onShutdownRequested?: (event: { readonly heldShardIds: ReadonlyArray<string> }) => Effect.Effect<void>
}

/**
 * How a worker shares a stream's shards with other workers through a lease table. Names and
 * defaults follow the KCL's.
 *
 * @example
 * ```ts
 * Pipeline.fromKinesis({
 *   streamName: "clickstream",
 *   codec,
 *   batchInterval: "1 second",
 *   leases: { workerId: "web-1", failoverTime: "10 seconds" }
 * })
 * ```
 */
export interface LeaseCoordinationOptions {
  /** This worker's name in the lease table; unique per process. Default `<hostname>:<pid>:<random>`. */
  readonly workerId?: string
  /**
   * A lease whose counter has not moved for this long is expired and may be taken by another
   * worker; holders renew every third of it. Other workers notice a counter move at their take
   * rounds (every sixth of it), so they declare the expiry between 11/12 and 5/4 of it after the
   * holder's last renewal. Default 10 s (the KCL's failoverTimeMillis).
   */
  readonly failoverTime?: Duration.DurationInput
  /** How often the shard list is synced into the lease table (also on every shard end). Default 60 s. */
  readonly shardSyncInterval?: Duration.DurationInput
  /** Most leases this worker holds. Default unlimited. */
  readonly maxLeasesForWorker?: number
  /** Most leases stolen from a busier worker per round. Default 1. */
  readonly maxLeasesToStealAtOneTime?: number
  /** Delete an ended shard's lease once all its children have started. Default true. */
  readonly cleanupLeasesUponShardCompletion?: boolean
  readonly hooks?: LifecycleHooks
}

/** The options once checked. */
export interface CoordinatorSettings {
  readonly workerId: string
  readonly failoverTime: Duration.Duration
  readonly renewInterval: Duration.Duration
  /** How often leases are looked over for taking: twice per renewal, so a dead worker's leases move within failoverTime plus one renewal interval. */
  readonly takeInterval: Duration.Duration
  readonly shardSyncInterval: Duration.Duration
  readonly maxLeasesForWorker: number
  readonly maxLeasesToStealAtOneTime: number
  readonly cleanupLeasesUponShardCompletion: boolean
  readonly hooks: LifecycleHooks
}

export const defaultWorkerId = (): string => `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`

/** Checks coordination options; fails with {@link InvalidOption} naming what to change. */
export const resolveCoordination = (options: LeaseCoordinationOptions): Effect.Effect<CoordinatorSettings, InvalidOption> =>
  Effect.gen(function* () {
    const workerId = yield* textOption("leases.workerId", options.workerId ?? defaultWorkerId())
    const failoverTime = yield* durationOption("leases.failoverTime", options.failoverTime, "10 seconds", Duration.millis(30))
    const shardSyncInterval = yield* durationOption("leases.shardSyncInterval", options.shardSyncInterval, "60 seconds", Duration.millis(10))
    const maxLeasesForWorker =
      options.maxLeasesForWorker === undefined || options.maxLeasesForWorker === Infinity
        ? Infinity
        : yield* integerOption("leases.maxLeasesForWorker", options.maxLeasesForWorker, 0, 1)
    const maxLeasesToStealAtOneTime = yield* integerOption("leases.maxLeasesToStealAtOneTime", options.maxLeasesToStealAtOneTime, 1, 0)
    const hooks = options.hooks ?? {}
    if (typeof hooks !== "object" || hooks === null) {
      return yield* new InvalidOption({ option: "leases.hooks", given: typeof hooks, expected: "an object of hook functions" })
    }
    const renewInterval = Duration.millis(Math.max(1, Math.floor(Duration.toMillis(failoverTime) / 3)))
    return {
      workerId,
      failoverTime,
      renewInterval,
      takeInterval: Duration.millis(Math.max(1, Math.floor(Duration.toMillis(renewInterval) / 2))),
      shardSyncInterval,
      maxLeasesForWorker,
      maxLeasesToStealAtOneTime,
      cleanupLeasesUponShardCompletion: options.cleanupLeasesUponShardCompletion ?? true,
      hooks
    }
  })
