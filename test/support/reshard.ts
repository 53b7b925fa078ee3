/**
 * Resharding on the emulators (kinesalite, kinesis-local) for the lease tests: create a stream,
 * split a shard at the middle of its hash range, merge an adjacent pair, each waiting until the
 * stream is ACTIVE again, and answer the children the stream then lists.
 */
import type { Shard } from "@aws-sdk/client-kinesis"
import { Effect } from "effect"
import { Kinesis, type KinesisApi } from "../../src/kinesis/index.js"
import { allShards, awaitActive, rangeOf } from "./kinesisContract.js"

/** Creates a stream and waits until it is ACTIVE. */
export const createStream = (streamName: string, shardCount: number) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    Effect.zipRight(kinesis.createStream({ StreamName: streamName, ShardCount: shardCount }), awaitActive(streamName)))

const shardOf = (streamName: string, shardId: string) =>
  Effect.flatMap(allShards(streamName), (shards) => {
    const shard = shards.find((s) => s.ShardId === shardId)
    return shard === undefined ? Effect.dieMessage(`${streamName} lists no shard ${shardId}`) : Effect.succeed(shard)
  })

/** The listed shards whose parents include `parentShardId`, in shard id order. */
export const childrenOf = (shards: ReadonlyArray<Shard>, parentShardId: string): ReadonlyArray<string> =>
  shards
    .filter((s) => s.ParentShardId === parentShardId || s.AdjacentParentShardId === parentShardId)
    .map((s) => s.ShardId!)
    .sort()

/**
 * Splits `shardId` at the middle of its hash range (read from ListShards: kinesis-mock's ranges are
 * not the even ones) and waits for ACTIVE; answers the two children, lower range first.
 */
export const splitAtMiddle = (streamName: string, shardId: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const [start, end] = rangeOf(yield* shardOf(streamName, shardId))
    const at = start + (end - start + 1n) / 2n
    yield* kinesis.splitShard({ StreamName: streamName, ShardToSplit: shardId, NewStartingHashKey: String(at) })
    yield* awaitActive(streamName)
    const children = childrenOf(yield* allShards(streamName), shardId)
    if (children.length !== 2) return yield* Effect.dieMessage(`split of ${shardId} listed children ${children.join(", ")}`)
    return children
  })

/**
 * Merges two adjacent shards and waits for ACTIVE; answers the child. `lower` must hold the lower
 * hash keys: kinesalite and kinesis-mock 0.6.2 refuse the pair otherwise (Kinesis takes either order).
 */
export const mergeAdjacent = (streamName: string, lower: string, upper: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    yield* kinesis.mergeShards({ StreamName: streamName, ShardToMerge: lower, AdjacentShardToMerge: upper })
    yield* awaitActive(streamName)
    const shards = yield* allShards(streamName)
    const child = shards.find((s) => s.ParentShardId === lower && s.AdjacentParentShardId === upper)
    if (child === undefined) return yield* Effect.dieMessage(`merge of ${lower} and ${upper} listed no child`)
    return child.ShardId!
  })

/**
 * A Kinesis whose ListShards leaves out the shards `hidden` says so of (as a listing that lags
 * behind a reshard would); every other call goes through unchanged.
 */
export const hidingFromListShards = (api: KinesisApi, hidden: (shardId: string) => boolean): KinesisApi => ({
  ...api,
  listShards: (input, target) =>
    Effect.map(api.listShards(input, target), (out) => ({
      ...out,
      Shards: out.Shards?.filter((s) => !hidden(s.ShardId ?? ""))
    }))
})

/** A Kinesis that tells `onChildShards` each time a GetRecords answer names ChildShards. */
export const watchingChildShards = (
  api: KinesisApi,
  onChildShards: (shardId: string | undefined, children: ReadonlyArray<string>) => void
): KinesisApi => ({
  ...api,
  getRecords: (input, target) =>
    Effect.tap(api.getRecords(input, target), (out) =>
      Effect.sync(() => {
        if (out.ChildShards !== undefined && out.ChildShards.length > 0) {
          onChildShards(target?.shardId, out.ChildShards.map((c) => c.ShardId ?? ""))
        }
      }))
})
