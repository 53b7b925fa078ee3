import { Effect, type Scope, type Stream } from "effect"
import {
  acquireStreamConsumer,
  readShard,
  readShardFanOut,
  type ShardChunk,
  type ShardReaderSettings,
  type ShardReadTarget
} from "../consumer/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"

/**
 * How shards are read: `"polling"` calls GetRecords (the 2 MB/s and 5 calls/s of a shard are
 * shared with every other polling consumer); `"fanout"` subscribes through a registered stream
 * consumer (enhanced fan-out: 2 MB/s per shard of its own, records pushed as they arrive).
 */
export type Retrieval = "polling" | "fanout"

/** Reads one shard as chunks. */
export type ShardReading = (target: ShardReadTarget) => Stream.Stream<ShardChunk, KinesisError, Kinesis>

/**
 * The shard reading of a run: polling as it is, or fan-out through the stream consumer
 * `consumerName`, registered (or reused) for the run's scope. `deregister`: at the run's end the
 * consumer is deregistered if the run registered it (not with leases, where other workers share it).
 */
export const shardReading = (
  streamName: string,
  retrieval: Retrieval,
  consumerName: string,
  reader: ShardReaderSettings,
  deregister: boolean
): Effect.Effect<ShardReading, KinesisError, Kinesis | Scope.Scope> =>
  retrieval === "polling"
    ? Effect.succeed((target) => readShard(target, reader))
    : Effect.map(
      acquireStreamConsumer({ streamName, consumerName, retry: reader.retry, deregister }),
      (consumer): ShardReading => (target) => readShardFanOut({ ...target, consumerArn: consumer.consumerArn }, reader)
    )
