import { Effect, Option, Queue, Ref, Stream } from "effect"
import type { ShardInfo } from "./listShards.js"
import { type InitialPosition, ShardPosition } from "./ShardPosition.js"

/** How far each known shard got. */
export interface LineageState {
  readonly shards: ReadonlyMap<string, ShardInfo>
  /** Read to their end, now or in an earlier run (SHARD_END checkpoint). */
  readonly ended: ReadonlySet<string>
  /** Closed shards passed over because reading starts at LATEST: nothing in them is new. */
  readonly skipped: ReadonlySet<string>
  readonly started: ReadonlySet<string>
}

/** A shard's parents: one after a split, two after a merge, none for a shard the stream began with. */
export const parentsOf = (shard: ShardInfo): ReadonlyArray<string> =>
  [shard.parentShardId, shard.adjacentParentShardId].filter((p): p is string => p !== undefined)

/**
 * The shards that may start now: not started, not ended, and every parent we know of is ended or
 * skipped (a parent past the retention period is no longer listed and holds nothing to wait for).
 * This keeps a partition key's records in order across a split or merge, as the KCL does.
 */
export const readyShards = (state: LineageState): ReadonlyArray<ShardInfo> =>
  [...state.shards.values()].filter(
    (shard) =>
      !state.started.has(shard.shardId) &&
      !state.ended.has(shard.shardId) &&
      !state.skipped.has(shard.shardId) &&
      parentsOf(shard).every((p) => !state.shards.has(p) || state.ended.has(p) || state.skipped.has(p))
  )

/**
 * Where a shard without a checkpoint starts: a child of a parent that was read to its end starts
 * at TRIM_HORIZON (everything after the parent belongs to it); other shards at `initial`.
 */
export const startPosition = (
  state: LineageState,
  shard: ShardInfo,
  checkpointed: ShardPosition | undefined,
  initial: InitialPosition
): ShardPosition => {
  if (checkpointed !== undefined) return checkpointed
  return parentsOf(shard).some((p) => state.ended.has(p)) ? ShardPosition.trimHorizon : ShardPosition.fromInitial(initial)
}

/** What the lineage reader needs from its caller. */
export interface LineageOptions<A, E, R, E2, R2> {
  /** Lists the stream's shards; called at the start and again whenever a shard ends, to find its children. */
  readonly list: Effect.Effect<ReadonlyArray<ShardInfo>, E2, R2>
  /** Shards already read to their end in an earlier run. */
  readonly ended: ReadonlySet<string>
  /** Shards to pass over (not wanted by this reader). */
  readonly wanted: (shardId: string) => boolean
  readonly initial: InitialPosition
  readonly checkpointed: (shardId: string) => ShardPosition | undefined
  /** Reads one shard from a position; the stream ends when the shard is closed and read to its end. */
  readonly read: (shard: ShardInfo, position: ShardPosition) => Stream.Stream<A, E, R>
}

/**
 * Reads every wanted shard of a stream concurrently, starting a child shard only once its parents
 * are read to their end, and ends when no shard is left to read.
 */
export const readInLineageOrder = <A, E, R, E2, R2>(
  options: LineageOptions<A, E, R, E2, R2>
): Stream.Stream<A, E | E2, R | R2> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const known = (shards: ReadonlyArray<ShardInfo>) => new Map(shards.filter((s) => options.wanted(s.shardId)).map((s) => [s.shardId, s]))
      const first = known(yield* options.list)
      const skipped = new Set<string>()
      if (options.initial === "LATEST") {
        for (const s of first.values()) if (s.closed && options.checkpointed(s.shardId) === undefined) skipped.add(s.shardId)
      }
      const state = yield* Ref.make<LineageState>({ shards: first, ended: new Set(options.ended), skipped, started: new Set() })
      const readers = yield* Queue.unbounded<Option.Option<Stream.Stream<A, E | E2, R | R2>>>()
      // Shards end on their own fibers; their bookkeeping goes one at a time.
      const lock = yield* Effect.makeSemaphore(1)

      // Starts what is ready; when nothing runs and nothing can start, the stream is complete.
      const startReady: Effect.Effect<void> = Effect.gen(function* () {
        const current = yield* Ref.get(state)
        const ready = readyShards(current)
        const started = new Set(current.started)
        for (const shard of ready) started.add(shard.shardId)
        yield* Ref.set(state, { ...current, started })
        for (const shard of ready) {
          const position = startPosition(current, shard, options.checkpointed(shard.shardId), options.initial)
          yield* Queue.offer(readers, Option.some(Stream.concat(options.read(shard, position), Stream.execute(shardEnded(shard.shardId)))))
        }
        const running = [...started].filter((id) => !current.ended.has(id)).length
        if (running === 0) yield* Queue.offer(readers, Option.none())
      })

      const shardEnded = (shardId: string): Effect.Effect<void, E2, R2> =>
        lock.withPermits(1)(Effect.gen(function* () {
          // A closed shard's children may be newer than the last listing.
          const listed = known(yield* options.list)
          yield* Ref.update(state, (s) => ({
            ...s,
            shards: new Map([...s.shards, ...listed]),
            ended: new Set([...s.ended, shardId])
          }))
          yield* startReady
        }))

      yield* startReady
      return Stream.fromQueue(readers).pipe(
        Stream.takeWhile(Option.isSome),
        Stream.map((o) => o.value),
        Stream.flatten({ concurrency: "unbounded", bufferSize: 2 })
      )
    })
  )
