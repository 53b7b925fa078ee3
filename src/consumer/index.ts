/**
 * Shard readers: list a stream's shards and poll each as an Effect `Stream`.
 * @module
 */
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
