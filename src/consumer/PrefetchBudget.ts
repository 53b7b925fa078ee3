import { Effect, Queue, Ref } from "effect"

/**
 * How many records and bytes one shard reader holds that the pipeline has not taken yet.
 * The reader waits for room before each GetRecords call, so a slow pipeline stops the reads.
 * One reader (a single producer) per budget.
 */
export interface PrefetchBudget {
  /** Waits until there is room; answers how many more records may be fetched. */
  readonly awaitRoom: Effect.Effect<number>
  readonly add: (records: number, bytes: number) => Effect.Effect<void>
  readonly release: (records: number, bytes: number) => Effect.Effect<void>
  readonly held: Effect.Effect<{ readonly records: number; readonly bytes: number }>
}

export const makePrefetchBudget = (maxRecords: number, maxBytes: number): Effect.Effect<PrefetchBudget> =>
  Effect.gen(function* () {
    const used = yield* Ref.make({ records: 0, bytes: 0 })
    // A wake-up call for the waiting reader; sliding so releases never block.
    const freed = yield* Queue.sliding<void>(1)
    const awaitRoom: Effect.Effect<number> = Effect.flatMap(Ref.get(used), (u) =>
      u.records < maxRecords && u.bytes < maxBytes
        ? Effect.succeed(maxRecords - u.records)
        : Effect.zipRight(Queue.take(freed), Effect.suspend(() => awaitRoom))
    )
    return {
      awaitRoom,
      add: (records, bytes) => Ref.update(used, (u) => ({ records: u.records + records, bytes: u.bytes + bytes })),
      release: (records, bytes) =>
        Effect.zipRight(
          Ref.update(used, (u) => ({ records: u.records - records, bytes: u.bytes - bytes })),
          Queue.offer(freed, undefined)
        ),
      held: Ref.get(used)
    }
  })
