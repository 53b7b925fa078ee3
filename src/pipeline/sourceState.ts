import { Effect } from "effect"
import { parentsOf, type ShardInfo } from "../consumer/index.js"
import type { HashRange } from "../state/routing.js"
import type { StoredState } from "../state/StateRuntime.js"

/** A shard's hash-key range as numbers. */
export const rangeOf = (shard: ShardInfo): HashRange => ({
  start: BigInt(shard.startingHashKey),
  end: BigInt(shard.endingHashKey)
})

/**
 * A shard's committed state: its own, or, for a child shard that has neither state nor checkpoint
 * of its own yet, its parents' final states (what belongs to it is picked by hash range).
 */
export const storedState = <E, R, E2, R2>(config: {
  readonly shardId: string
  readonly own: Uint8Array | undefined
  /** The shard has a checkpoint of its own: it was started before, so it does not inherit. */
  readonly started: boolean
  readonly list: Effect.Effect<ReadonlyArray<ShardInfo>, E, R>
  readonly parentState: (parentShardId: string) => Effect.Effect<Uint8Array | undefined, E2, R2>
}): Effect.Effect<StoredState, E | E2, R | R2> =>
  Effect.gen(function* () {
    if (config.own !== undefined || config.started) return { _tag: "Own", bytes: config.own } as const
    const shard = (yield* config.list).find((s) => s.shardId === config.shardId)
    const parents = shard === undefined ? [] : parentsOf(shard)
    if (shard === undefined || parents.length === 0) return { _tag: "Own", bytes: undefined } as const
    const states = yield* Effect.forEach(parents, config.parentState)
    return {
      _tag: "Inherited",
      parents: states.filter((s): s is Uint8Array => s !== undefined),
      range: rangeOf(shard)
    } as const
  })
