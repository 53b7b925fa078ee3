import { Effect } from "effect"
import type { KinesisApi, KinesisError } from "../kinesis/index.js"
import { type RetryOption, retryKinesis } from "../retry/index.js"

// An aggregate goes to one shard: the producer groups records by the shard their hash key
// predicts. A prediction the service contradicts (a reshard) marks the map stale; the background
// fiber lists the shards again before its next call.

/** An open shard's hash-key range. */
export interface ShardRange {
  readonly shardId: string
  readonly start: bigint
  readonly end: bigint
}

/** Open shards sorted by range, looked up by binary search. */
export class ShardMap {
  private readonly ranges: ReadonlyArray<ShardRange>
  constructor(ranges: ReadonlyArray<ShardRange>) {
    this.ranges = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  }

  get size(): number {
    return this.ranges.length
  }

  /** The open shard whose range holds `hashKey`, if the map knows one. */
  shardOf(hashKey: bigint): string | undefined {
    let low = 0
    let high = this.ranges.length - 1
    while (low <= high) {
      const mid = (low + high) >> 1
      const range = this.ranges[mid]!
      if (hashKey < range.start) high = mid - 1
      else if (hashKey > range.end) low = mid + 1
      else return range.shardId
    }
    return undefined
  }
}

/** Lists the stream's open shards and their hash-key ranges. */
export const loadShardMap = (
  api: KinesisApi,
  streamName: string,
  retry: RetryOption
): Effect.Effect<ShardMap, KinesisError> =>
  Effect.gen(function* () {
    const ranges: Array<ShardRange> = []
    let nextToken: string | undefined
    do {
      const input = nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }
      const page = yield* api.listShards(input, { streamName }).pipe(retryKinesis(retry))
      for (const shard of page.Shards ?? []) {
        if (shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) continue
        const range = shard.HashKeyRange
        if (shard.ShardId === undefined || range?.StartingHashKey === undefined || range.EndingHashKey === undefined) continue
        ranges.push({ shardId: shard.ShardId, start: BigInt(range.StartingHashKey), end: BigInt(range.EndingHashKey) })
      }
      nextToken = page.NextToken
    } while (nextToken !== undefined)
    return new ShardMap(ranges)
  })

/** The producer's current shard map, and whether it needs listing again. */
export interface ShardRouting {
  /** The predicted shard of a hash key (undefined when the map knows none, or when not aggregating). */
  readonly shardOf: (hashKey: bigint) => string | undefined
  /** A record landed on another shard than predicted. */
  readonly markStale: () => void
  readonly isStale: () => boolean
  /** Lists the shards again; a failure is logged and the old map kept. */
  readonly refresh: Effect.Effect<void>
}

/** Lists the shards now when `aggregating`; otherwise an empty map that is never refreshed. */
export const makeShardRouting = (
  api: KinesisApi,
  streamName: string,
  retry: RetryOption,
  aggregating: boolean
): Effect.Effect<ShardRouting, KinesisError> =>
  Effect.map(aggregating ? loadShardMap(api, streamName, retry) : Effect.succeed(new ShardMap([])), (first) => {
    let map = first
    let stale = false
    const refresh = Effect.suspend(() => {
      stale = false
      return loadShardMap(api, streamName, retry).pipe(
        Effect.tap((next) => Effect.sync(() => void (map = next))),
        Effect.catchAll((error) => Effect.logWarning(`Producer: could not refresh the shard map of ${streamName}`, error))
      )
    })
    return {
      shardOf: (hashKey) => map.shardOf(hashKey),
      markStale: () => void (stale = true),
      isStale: () => stale,
      refresh
    }
  })
