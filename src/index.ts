/**
 * shardline: type-safe micro-batch pipelines over Amazon Kinesis Data Streams, built on Effect
 * and protobuf-es.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CheckpointStore, Codec, Kinesis, Pipeline } from "shardline"
 * import { PageViewSchema } from "./gen/events_pb.js"
 *
 * const run = Pipeline.fromKinesis({ streamName: "clicks", codec: Codec.protobuf(PageViewSchema), batchInterval: "1 second" }).pipe(
 *   Pipeline.map((view) => view.url),
 *   Pipeline.foreachBatch((batch) => Effect.log(`${batch.records.length} views`))
 * )
 * ```
 * @module
 */
export * from "./checkpoint/index.js"
export * from "./codec/index.js"
export * from "./config/index.js"
export * from "./dashboard/index.js"
export * from "./deadletter/index.js"
export * from "./consumer/index.js"
export * from "./coordinator/index.js"
export * from "./kinesis/index.js"
export * from "./kpl/index.js"
export * from "./lease/index.js"
export * from "./local/index.js"
export * from "./metrics/index.js"
export * from "./pipeline/index.js"
export * from "./producer/index.js"
export * from "./retry/index.js"
export * from "./state/index.js"
