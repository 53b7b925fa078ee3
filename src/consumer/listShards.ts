import type { Shard } from "@aws-sdk/client-kinesis"
import { Effect } from "effect"
import { Kinesis, type KinesisError } from "../kinesis/index.js"
import { RetryPolicy, type RetryOption, retryKinesis } from "../retry/index.js"

/** A shard as shardline uses it: its id, lineage and whether it is closed (has an ending sequence number). */
export interface ShardInfo {
  readonly shardId: string
  readonly parentShardId: string | undefined
  readonly adjacentParentShardId: string | undefined
  readonly startingHashKey: string
  readonly endingHashKey: string
  readonly closed: boolean
}

const toShardInfo = (shard: Shard): ShardInfo => ({
  shardId: shard.ShardId ?? "",
  parentShardId: shard.ParentShardId,
  adjacentParentShardId: shard.AdjacentParentShardId,
  startingHashKey: shard.HashKeyRange?.StartingHashKey ?? "0",
  endingHashKey: shard.HashKeyRange?.EndingHashKey ?? "0",
  closed: shard.SequenceNumberRange?.EndingSequenceNumber !== undefined
})

/**
 * Lists every shard of a stream, following ListShards pages, retrying each page's call with
 * `retry` (a schedule for every error class, or one per class).
 *
 * @example
 * ```ts
 * const shards = yield* listShards("orders", RetryPolicy.byClass({ throttled: RetryPolicy.patient }))
 * ```
 */
export const listShards = (
  streamName: string,
  retry: RetryOption = RetryPolicy.default
): Effect.Effect<ReadonlyArray<ShardInfo>, KinesisError, Kinesis> =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards: Array<ShardInfo> = []
    let nextToken: string | undefined
    do {
      // With NextToken the stream name must be left out: the token already names it.
      const input = nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }
      const page = yield* kinesis
        .listShards(input, { streamName })
        .pipe(retryKinesis(retry))
      for (const shard of page.Shards ?? []) shards.push(toShardInfo(shard))
      nextToken = page.NextToken
    } while (nextToken !== undefined)
    return shards
  })
