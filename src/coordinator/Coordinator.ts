import { Clock, Deferred, Duration, Effect, Either, Queue, type Scope, Stream } from "effect"
import { Checkpoint } from "../checkpoint/index.js"
import { type InitialPosition, type ShardInfo, ShardPosition } from "../consumer/index.js"
import {
  type HeldLease,
  isEnded,
  type Lease,
  type LeaseLost,
  type LeaseScope,
  LeaseStore,
  type LeaseStoreError
} from "../lease/index.js"
import { leaseLost } from "../lease/Lease.js"
import { leaseMeter } from "../metrics/meters.js"
import type { CoordinatorSettings, LeaseLossReason } from "./options.js"
import { parentsDone, planShardSync, planTakes } from "./planning.js"

/**
 * One holding of one lease by this worker, from take to loss, release or shard end. Records read
 * under a session may be delivered and checkpointed only while it is held.
 */
export interface LeaseSession {
  readonly shardId: string
  /** The fencing token: the lease counter this worker holds now (it grows with each renewal). */
  readonly counter: number
  /** False once the lease was lost, released or ended. */
  readonly held: boolean
  /** Completes when the lease is lost or released: the shard's reader stops. */
  readonly lost: Effect.Effect<void>
}

/** A lease this worker just took, with the row as written. */
export interface Assignment {
  readonly session: LeaseSession
  readonly lease: Lease
}

/** A child shard named by the service when its parent ended (GetRecords' ChildShards). */
export interface ChildShard {
  readonly shardId: string
  readonly parentShardIds: ReadonlyArray<string>
}

/** A running coordinator, as the pipeline uses it. */
export interface Coordinator {
  readonly workerId: string
  /** Every lease this worker takes, once each. */
  readonly assignments: Stream.Stream<Assignment>
  /**
   * Waits until the shard's parents are read to their end, then answers where to read from:
   * after the checkpoint, else the row's start position. None when the session ended meanwhile.
   */
  readonly startPosition: (assignment: Assignment) => Effect.Effect<ShardPosition | undefined>
  /** Checkpoints through the lease (compare-and-set on the counter); the shard end also ends the session. */
  readonly checkpoint: (
    session: LeaseSession,
    checkpoint: Checkpoint,
    childShards?: ReadonlyArray<ChildShard>,
    /** The shard's operator state, written in the same conditional write (undefined: unchanged). */
    state?: Uint8Array
  ) => Effect.Effect<void, LeaseLost | LeaseStoreError>
  /** The shard left the stream while held (reads answer ResourceNotFound): gives it up. */
  readonly shardGone: (session: LeaseSession) => Effect.Effect<void>
  /** Stops taking leases and tells the hook; leases are released when the coordinator's scope closes. */
  readonly shutdown: Effect.Effect<void>
  /** The shard ids held now. */
  readonly held: Effect.Effect<ReadonlyArray<string>>
}

class Session implements LeaseSession {
  done = false
  constructor(
    readonly shardId: string,
    public counter: number,
    public renewedAt: number,
    readonly signal: Deferred.Deferred<void>,
    readonly lock: Effect.Semaphore
  ) {}
  get held() {
    return !this.done
  }
  get lost() {
    return Deferred.await(this.signal)
  }
}

/** What the coordinator needs besides its settings. */
export interface CoordinatorInput<E, R> {
  readonly scope: LeaseScope
  readonly initial: InitialPosition
  readonly settings: CoordinatorSettings
  /** Lists the stream's shards (with retries). */
  readonly listShards: Effect.Effect<ReadonlyArray<ShardInfo>, E, R>
}

/**
 * Starts a worker's lease loops as scoped fibers: shard sync (at start, every
 * `shardSyncInterval` and on every shard end), renewal (every failoverTime / 3) and taking (every
 * failoverTime / 6). Closing the scope stops the loops and releases every lease still held, so
 * other workers take them at once.
 */
export const makeCoordinator = <E, R>(
  input: CoordinatorInput<E, R>
): Effect.Effect<Coordinator, E | LeaseStoreError, Scope.Scope | LeaseStore | R> =>
  Effect.gen(function* () {
    const store = yield* LeaseStore
    const { scope, settings } = input
    const { hooks, workerId } = settings
    const failoverMillis = Duration.toMillis(settings.failoverTime)
    const sessions = new Map<string, Session>()
    const meter = leaseMeter(scope.applicationName, scope.streamName, workerId)
    const heldChanged = Effect.suspend(() => meter.held(sessions.size))
    /**
     * The last owner and counter seen per lease, since when they stand (halfway between the round
     * that saw them change and the one before: the write happened in between), and when they were
     * last seen. A lease whose counter stands still for failoverTime is expired.
     */
    const observed = new Map<string, { owner: string | undefined; counter: number; since: number; seenAt: number }>()
    const assignments = yield* Queue.unbounded<Assignment>()
    const syncRequests = yield* Queue.sliding<void>(1)
    let stopping = false
    /** The lease table as the last take round read it. */
    let latestRows: ReadonlyMap<string, Lease> = new Map()

    const runHook = (name: string, effect: Effect.Effect<void> | undefined) =>
      effect === undefined
        ? Effect.void
        : Effect.catchAllCause(Effect.suspend(() => effect), (cause) =>
            Effect.logWarning(`shardline: lifecycle hook ${name} failed`, cause)
          )

    const held = (session: Session): HeldLease => ({ shardId: session.shardId, owner: workerId, counter: session.counter })

    const lose = (session: Session, reason: LeaseLossReason) =>
      Effect.suspend(() => {
        if (session.done) return Effect.void
        session.done = true
        if (sessions.get(session.shardId) === session) sessions.delete(session.shardId)
        return Deferred.succeed(session.signal, undefined).pipe(
          Effect.zipRight(meter.lost(reason._tag === "Lost" ? "lost" : reason._tag === "Expired" ? "expired" : "shard_gone")),
          Effect.zipRight(heldChanged),
          Effect.zipRight(Effect.logDebug(`shardline: ${workerId} lost the lease of ${session.shardId} (${reason._tag})`)),
          Effect.zipRight(runHook("onLeaseLost", hooks.onLeaseLost?.({ shardId: session.shardId, reason })))
        )
      })

    const lostTo = (session: Session, operation: "renew" | "checkpoint", lease: Lease | undefined) =>
      leaseLost(operation, scope, session.shardId, workerId, session.counter, lease)

    // ---- shard sync
    const sync = Effect.gen(function* () {
      const shards = yield* input.listShards
      const leases = yield* store.list(scope)
      const plan = planShardSync(shards, leases, input.initial, settings.cleanupLeasesUponShardCompletion)
      for (const lease of plan.create) yield* store.create(scope, lease)
      for (const change of plan.setChildren) yield* store.setChildren(scope, change.shardId, change.childShardIds)
      for (const shardId of plan.remove) {
        const session = sessions.get(shardId)
        if (session !== undefined) yield* lose(session, { _tag: "ShardGone" })
        yield* store.delete(scope, shardId)
      }
    })

    // ---- renewal
    const renewOne = (session: Session) =>
      session.lock.withPermits(1)(
        Effect.gen(function* () {
          if (session.done) return
          const result = yield* Effect.either(store.renew(scope, held(session)))
          const now = yield* Clock.currentTimeMillis
          if (Either.isRight(result)) {
            session.counter = result.right.counter
            session.renewedAt = now
          } else if (result.left._tag === "LeaseLost") {
            yield* lose(session, { _tag: "Lost", error: result.left })
          } else if (now - session.renewedAt >= failoverMillis) {
            // Unrenewed for a failover time: another worker may hold it by now.
            yield* lose(session, { _tag: "Expired" })
          } else {
            yield* Effect.logWarning(`shardline: renewing the lease of ${session.shardId} failed; retrying`, result.left)
          }
        })
      )
    // Suspended: the sessions are read at each round, not once when the loop is built.
    const renewRound = Effect.suspend(() => Effect.forEach([...sessions.values()], renewOne, { concurrency: 8, discard: true }))

    // ---- taking
    const renewMillis = Duration.toMillis(settings.renewInterval)
    /** How long an owned lease's counter has stood still, as far as this worker has seen. */
    const standingStill = (lease: Lease, now: number): number => {
      const seen = observed.get(lease.shardId)
      return lease.owner === undefined || seen === undefined ? 0 : now - seen.since
    }
    const takeRound = Effect.gen(function* () {
      if (stopping) return
      const leases = yield* store.list(scope)
      const now = yield* Clock.currentTimeMillis
      const rows = new Map(leases.map((l) => [l.shardId, l]))
      latestRows = rows
      for (const lease of leases) {
        const seen = observed.get(lease.shardId)
        if (seen === undefined || seen.owner !== lease.owner || seen.counter !== lease.counter) {
          // The write happened between the previous round and this one: date it halfway.
          const since = seen === undefined ? now : Math.round((seen.seenAt + now) / 2)
          observed.set(lease.shardId, { owner: lease.owner, counter: lease.counter, since, seenAt: now })
        } else {
          seen.seenAt = now
        }
      }
      for (const id of [...observed.keys()]) if (!rows.has(id)) observed.delete(id)
      // A held lease that another worker took (or that was deleted) is lost now, not at the next renewal.
      for (const session of [...sessions.values()]) {
        const row = rows.get(session.shardId)
        if (row === undefined || (row.owner !== workerId && row.counter > session.counter)) {
          yield* lose(session, { _tag: "Lost", error: lostTo(session, "renew", row) })
        }
      }
      const plan = planTakes({
        leases,
        workerId,
        held: new Set(sessions.keys()),
        expired: (lease) => standingStill(lease, now) >= failoverMillis,
        suspect: (lease) => standingStill(lease, now) >= 2 * renewMillis,
        maxLeasesForWorker: settings.maxLeasesForWorker,
        maxLeasesToStealAtOneTime: settings.maxLeasesToStealAtOneTime
      })
      for (const lease of plan.take) {
        if (stopping) return
        const taken = yield* Effect.either(store.take(scope, lease.shardId, { owner: lease.owner, counter: lease.counter }, workerId))
        if (Either.isLeft(taken)) {
          if (taken.left._tag === "LeaseStoreError") return yield* taken.left
          continue
        }
        const session = new Session(lease.shardId, taken.right.counter, now, yield* Deferred.make<void>(), yield* Effect.makeSemaphore(1))
        sessions.set(lease.shardId, session)
        yield* meter.taken
        yield* heldChanged
        yield* Effect.logDebug(`shardline: ${workerId} took the lease of ${lease.shardId}${plan.steal ? ` from ${lease.owner}` : ""}`)
        yield* runHook("onLeaseAcquired", hooks.onLeaseAcquired?.({ shardId: lease.shardId, counter: taken.right.counter, checkpoint: taken.right.checkpoint }))
        yield* Queue.offer(assignments, { session, lease: taken.right })
      }
    })

    // ---- the loops
    const every = <E2, R2>(name: string, interval: Duration.Duration, round: Effect.Effect<void, E2, R2>) =>
      round.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning(`shardline: lease ${name} failed; trying again`, cause)),
        Effect.zipRight(Effect.sleep(interval)),
        Effect.forever
      )

    // Release on close; added before the loops fork, so it runs after they are stopped.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        stopping = true
        for (const session of [...sessions.values()]) {
          yield* session.lock.withPermits(1)(
            Effect.gen(function* () {
              if (session.done) return
              session.done = true
              sessions.delete(session.shardId)
              yield* Effect.ignore(store.release(scope, held(session)))
              yield* Deferred.succeed(session.signal, undefined)
            })
          )
        }
        yield* heldChanged
        // A renewal or take cut off by the shutdown may still have landed, leaving a row owned by
        // this worker at a counter it never learned: release whatever the table says is still ours.
        const leftovers = yield* Effect.orElseSucceed(store.list(scope), () => [] as ReadonlyArray<Lease>)
        for (const lease of leftovers) {
          if (lease.owner !== workerId || isEnded(lease)) continue
          yield* Effect.ignore(store.release(scope, { shardId: lease.shardId, owner: workerId, counter: lease.counter }))
        }
      })
    )

    yield* sync
    yield* Effect.forkScoped(every("renewal", settings.renewInterval, renewRound))
    yield* Effect.forkScoped(every("taking", settings.takeInterval, takeRound))
    const periodicSync = Effect.race(Effect.sleep(settings.shardSyncInterval), Queue.take(syncRequests)).pipe(
      Effect.zipRight(sync),
      Effect.catchAllCause((cause) => Effect.logWarning("shardline: shard sync failed; trying again", cause)),
      Effect.forever
    )
    yield* Effect.forkScoped(periodicSync)

    const startPosition = (assignment: Assignment): Effect.Effect<ShardPosition | undefined> =>
      Effect.gen(function* () {
        const session = assignment.session as Session
        // The row as taken: nobody else can write its checkpoint while this worker holds it.
        const lease = assignment.lease
        if (isEnded(lease)) return undefined
        // Parents are looked up in the take rounds' listing, not read again per waiting shard.
        while (!session.done) {
          if (parentsDone(lease, latestRows)) {
            const c = lease.checkpoint
            return c?._tag === "Sequence" ? ShardPosition.afterCheckpoint(c) : ShardPosition.fromInitial(lease.startAt)
          }
          yield* Effect.sleep(settings.takeInterval)
        }
        return undefined
      })

    const checkpoint = (leaseSession: LeaseSession, c: Checkpoint, childShards?: ReadonlyArray<ChildShard>, state?: Uint8Array) => {
      const session = leaseSession as Session
      return session.lock.withPermits(1)(
        Effect.gen(function* () {
          if (session.done) return yield* lostTo(session, "checkpoint", undefined)
          const ended = c._tag === "ShardEnd"
          const children = childShards?.map((child) => child.shardId)
          const result = yield* Effect.either(store.checkpoint(scope, held(session), c, ended ? children : undefined, state))
          if (Either.isLeft(result)) {
            if (result.left._tag === "LeaseLost") yield* lose(session, { _tag: "Lost", error: result.left })
            return yield* result.left
          }
          if (!ended) return
          session.done = true
          sessions.delete(session.shardId)
          yield* heldChanged
          // Children named by the service get their rows now; ListShards finds them otherwise.
          for (const child of childShards ?? []) {
            yield* store.create(scope, { shardId: child.shardId, startAt: "TRIM_HORIZON", parentShardIds: child.parentShardIds })
          }
          yield* Queue.offer(syncRequests, undefined)
          yield* runHook("onShardEnded", hooks.onShardEnded?.({ shardId: session.shardId, childShardIds: result.right.childShardIds }))
        })
      )
    }

    let shutdownTold = false
    const coordinator: Coordinator = {
      workerId,
      assignments: Stream.fromQueue(assignments),
      startPosition,
      checkpoint,
      shardGone: (session) =>
        Effect.zipRight(lose(session as Session, { _tag: "ShardGone" }), Queue.offer(syncRequests, undefined)),
      shutdown: Effect.suspend(() => {
        stopping = true
        if (shutdownTold) return Effect.void
        shutdownTold = true
        return runHook("onShutdownRequested", hooks.onShutdownRequested?.({ heldShardIds: [...sessions.keys()] }))
      }),
      held: Effect.sync(() => [...sessions.keys()])
    }
    return coordinator
  })
