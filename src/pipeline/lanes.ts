import { Deferred, type Duration, Effect, Either, Exit, Fiber, FiberSet, Queue, type Scope, Stream } from "effect"
import type { Batch, StreamRecord } from "./Batch.js"
import type { GivenUp, Undelivered } from "./sinkFailures.js"

/**
 * Ordered per-key parallelism (Lambda's ParallelizationFactor): each shard's records are split
 * into `parallelism` lanes by a hash of their partition key, and the lanes run their sink calls at
 * once. A lane takes its sub-batches one after another, so one key's records stay in order; lanes
 * run ahead of each other by up to `maxBatchesInFlight` batches, so a slow key no longer holds up
 * the whole shard. Batches are committed in order, each once every one of its sub-batches (and
 * every batch before it) is done: a checkpoint never passes a record that is not.
 */

/** How one sub-batch went: the records given up, or why delivery stopped and what was not delivered. */
export type Delivery<A, E> = Either.Either<ReadonlyArray<GivenUp<A>>, Undelivered<A, E>>

/** The lane (0 to `parallelism` - 1) of a partition key: FNV-1a over its UTF-16 code units. */
export const laneOf = (partitionKey: string, parallelism: number): number => {
  if (parallelism === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < partitionKey.length; i++) {
    hash ^= partitionKey.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % parallelism
}

/** One lane's share of a batch. */
export interface LaneRecords<A> {
  /** `shardId` and lane number: the order a lane keeps is per shard and key. */
  readonly key: string
  readonly shardId: string
  readonly lane: number
  readonly records: ReadonlyArray<StreamRecord<A>>
}

/** A batch's records split into lanes, each lane in batch order (so in shard order), lanes in order of first record. */
export const splitIntoLanes = <A>(records: ReadonlyArray<StreamRecord<A>>, parallelism: number): ReadonlyArray<LaneRecords<A>> => {
  const lanes = new Map<string, { readonly key: string; readonly shardId: string; readonly lane: number; readonly records: Array<StreamRecord<A>> }>()
  for (const r of records) {
    const lane = laneOf(r.partitionKey, parallelism)
    const key = `${r.shardId}\u0000${lane}`
    let into = lanes.get(key)
    if (into === undefined) {
      into = { key, shardId: r.shardId, lane, records: [] }
      lanes.set(key, into)
    }
    into.records.push(r)
  }
  return [...lanes.values()]
}

/** Whether the merged deliveries of a batch's lanes went through: the first lane's error, and every lane's undelivered records. */
export const mergeDeliveries = <A, E>(deliveries: ReadonlyArray<Delivery<A, E>>): Delivery<A, E> => {
  const stopped = deliveries.filter(Either.isLeft)
  if (stopped.length > 0) {
    return Either.left({ error: stopped[0]!.left.error, records: stopped.flatMap((d) => d.left.records) })
  }
  return Either.right(deliveries.flatMap((d) => (Either.isRight(d) ? d.right : [])))
}

/** What the lanes need of a batch once its operators ran. */
export interface Prepared<A> {
  /** The batch for the sink; undefined when it is not delivered (an empty batch with `skipEmptyBatches`). */
  readonly batch: Batch<A> | undefined
  /** Shards whose last record is in this batch: a shard first read later (a child) waits for their lanes. */
  readonly endedShards: ReadonlyArray<string>
}

/** How the lanes run. */
export interface LaneOptions<D, P extends Prepared<A>, A, ESink, E1, R1, E2, R2, E3, R3, RSink> {
  /** Closed batches, in order. */
  readonly drafts: Stream.Stream<D, E1, R1>
  /** Decodes a batch and runs its operators, one batch after another in order. */
  readonly prepare: (draft: D) => Effect.Effect<P, E2, R2>
  /** One sink call for a sub-batch, with the run's retries, bisection and give-up rules. */
  readonly deliver: (batch: Batch<A>) => Effect.Effect<ReadonlyArray<GivenUp<A>>, Undelivered<A, ESink>, RSink>
  /** Dead letters and the checkpoint of a batch whose lanes are all done, in batch order; fails the run when delivery stopped. */
  readonly settle: (prepared: P, delivery: Delivery<A, ESink>) => Effect.Effect<void, E3, R3>
  readonly parallelism: number
  /** Batches prepared and not yet settled, at most; 1 with operator state (a state snapshot belongs to one batch). */
  readonly maxBatchesInFlight: number
  /**
   * An interrupted run first lets the batches in flight finish and settle (at most `timeout`), so a
   * worker handing its leases over checkpoints what its sink did; `onInterrupt` starts that handoff.
   */
  readonly finishOnInterrupt?: { readonly timeout: Duration.Duration; readonly onInterrupt: Effect.Effect<void> } | undefined
}

const end: unique symbol = Symbol("end")

/** Runs a pipeline's batches through the sink in lanes (see the module's comment). */
export const runInLanes = <D, P extends Prepared<A>, A, ESink, E1, R1, E2, R2, E3, R3, RSink>(
  options: LaneOptions<D, P, A, ESink, E1, R1, E2, R2, E3, R3, RSink>
): Effect.Effect<void, E1 | E2 | E3, R1 | R2 | R3 | RSink | Scope.Scope> =>
  Effect.gen(function* () {
    const { parallelism, deliver, settle } = options
    // Daemons in a set of their own: an interrupted run can let them finish before they are stopped.
    const fibers = yield* FiberSet.make()
    const permits = yield* Effect.makeSemaphore(options.maxBatchesInFlight)
    const pending = yield* Queue.unbounded<{ readonly prepared: P; readonly lanes: ReadonlyArray<Deferred.Deferred<Delivery<A, ESink>>> } | typeof end>()
    // Each lane's last sub-batch, which its next one waits for.
    const tails = new Map<string, Deferred.Deferred<Delivery<A, ESink>>>()
    const lanesOfShard = new Map<string, Set<string>>()
    // Last sub-batches of shards that ended: a shard first seen after them (a child) waits for them.
    let endedTails: Array<Deferred.Deferred<Delivery<A, ESink>>> = []

    const submit = (lane: string, shardId: string, batch: Batch<A>, first: boolean) =>
      Effect.gen(function* () {
        const before = tails.get(lane)
        const waits = first ? endedTails : []
        const done = yield* Deferred.make<Delivery<A, ESink>>()
        tails.set(lane, done)
        let ofShard = lanesOfShard.get(shardId)
        if (ofShard === undefined) lanesOfShard.set(shardId, ofShard = new Set())
        ofShard.add(lane)
        const job = Effect.gen(function* () {
          for (const w of waits) yield* Deferred.await(w)
          const previous = before === undefined ? undefined : yield* Deferred.await(before)
          // A key's earlier records failed and the run is stopping: its later ones are not sent.
          if (previous !== undefined && Either.isLeft(previous)) {
            return Either.left<Undelivered<A, ESink>>({ error: previous.left.error, records: batch.records })
          }
          return yield* Effect.either(deliver(batch))
        })
        yield* FiberSet.run(fibers, Effect.intoDeferred(job, done))
        return done
      })

    const enqueue = (prepared: P) =>
      Effect.gen(function* () {
        const batch = prepared.batch
        const lanes: Array<Deferred.Deferred<Delivery<A, ESink>>> = []
        if (batch !== undefined) {
          const split = splitIntoLanes(batch.records, parallelism)
          if (split.length === 0) {
            // An empty batch still reaches the sink, after everything before it.
            lanes.push(yield* submit("", "", batch, false))
          }
          for (const part of split) {
            const first = !lanesOfShard.has(part.shardId)
            lanes.push(yield* submit(part.key, part.shardId, { ...batch, records: part.records, lane: part.lane }, first))
          }
        }
        for (const shardId of prepared.endedShards) {
          for (const lane of lanesOfShard.get(shardId) ?? []) {
            const tail = tails.get(lane)
            if (tail !== undefined) endedTails.push(tail)
            tails.delete(lane)
          }
          lanesOfShard.delete(shardId)
        }
        if (endedTails.length > 64) endedTails = (yield* Effect.filter(endedTails, (d) => Effect.negate(Deferred.isDone(d))))
        yield* Queue.offer(pending, { prepared, lanes })
      })

    const commitLoop = Effect.gen(function* () {
      while (true) {
        const next = yield* Queue.take(pending)
        if (next === end) return
        const deliveries = yield* Effect.forEach(next.lanes, Deferred.await)
        yield* settle(next.prepared, mergeDeliveries(deliveries))
        yield* permits.release(1)
      }
    })
    const committer = yield* FiberSet.run(fibers, commitLoop)

    const finish = options.finishOnInterrupt
    if (finish !== undefined) {
      // Runs before the fiber set's own finalizer, which interrupts whatever is still running.
      yield* Effect.addFinalizer((exit) =>
        Exit.isInterrupted(exit)
          ? finish.onInterrupt.pipe(
            Effect.zipRight(Queue.offer(pending, end)),
            Effect.zipRight(Effect.ignore(Effect.timeout(Effect.interruptible(Fiber.await(committer)), finish.timeout)))
          )
          : Effect.void
      )
    }

    const feeding = options.drafts.pipe(
      // The next batch fills while the sink works on this one.
      Stream.buffer({ capacity: 1 }),
      Stream.runForEach((draft) => Effect.zipRight(permits.take(1), Effect.flatMap(options.prepare(draft), enqueue)))
    )
    const main = Effect.gen(function* () {
      const fed = yield* Effect.exit(feeding)
      // What was read before a failure still goes through the sink and is checkpointed first.
      yield* Queue.offer(pending, end)
      yield* Fiber.join(committer)
      return yield* fed
    })
    // The committer failing (a batch that could not be delivered) stops the reading at once.
    const committerFailed = Effect.flatMap(Fiber.await(committer), (exit) => (Exit.isFailure(exit) ? exit : Effect.never))
    return yield* Effect.raceFirst(main, committerFailed)
  })
