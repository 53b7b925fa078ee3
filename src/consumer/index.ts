/**
 * Shard readers: list a stream's shards and read each as an Effect `Stream`, by polling
 * (GetRecords) or with enhanced fan-out (SubscribeToShard through a registered consumer).
 * @module
 */
export { type FanOutReaderSettings, type FanOutReadTarget, readShardFanOut, startingPosition } from "./FanOutReader.js"
export { type LineageOptions, type LineageState, parentsOf, readInLineageOrder, readyShards, startPosition } from "./lineage.js"
export { listShards, type ShardInfo } from "./listShards.js"
export {
  type KinesisRecord,
  readShard,
  resolveReaderOptions,
  type ShardChunk,
  type ShardReaderOptions,
  type ShardReaderSettings,
  type ShardReadTarget
} from "./ShardReader.js"
export { type InitialPosition, iteratorRequest, ShardPosition } from "./ShardPosition.js"
export {
  acquireStreamConsumer,
  fanOutUnsupported,
  type StreamConsumer,
  type StreamConsumerOptions
} from "./StreamConsumer.js"
