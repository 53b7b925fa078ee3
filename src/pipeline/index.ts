/**
 * Micro-batch pipelines: read every shard, decode, batch by interval and size, transform, sink,
 * then checkpoint.
 * @module
 */
export type { Batch, BatchCloseReason, StreamRecord } from "./Batch.js"
export { GracefulStopTimeout } from "./errors.js"
export type { KinesisSourceOptions, LeasedSourceOptions } from "./KinesisSource.js"
export * as Pipeline from "./PipelineApi.js"
export type { PipelineError, PipelineSummary, RunOptions } from "./Pipeline.js"
export { onSignal } from "./signals.js"
