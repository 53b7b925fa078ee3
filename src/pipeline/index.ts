/**
 * Micro-batch pipelines: read every shard, decode, batch by interval and size, transform (keyed
 * operators, windows, event time, keyed state), sink, then checkpoint.
 * @module
 */
export type { Batch, BatchCloseReason, StreamRecord } from "./Batch.js"
export { GracefulStopTimeout } from "./errors.js"
export { type HashKeyMatch, type KeyMatch, type RawRecord, RecordFilter } from "./filter.js"
export { type BatchItemFailures, SinkRecordsFailed } from "./sinkFailures.js"
export type { EventTimeOf, EventTimeOutput, EventTimeWindowOptions, LateRecord, WindowFired } from "./eventTime.js"
export type { Key, Keyed } from "./keyed.js"
export type { KeyState, MapWithStateOptions, UpdateStateOptions } from "./keyedState.js"
export type { KinesisSourceOptions, LeasedSourceOptions } from "./KinesisSource.js"
export * as Pipeline from "./PipelineApi.js"
export type { BatchDone, DashboardRunOptions, PipelineError, PipelineSummary, RunOptions, SinkErrorOptions } from "./Pipeline.js"
export { onSignal } from "./signals.js"
export type { WindowOptions } from "./windowOptions.js"
export type { ReduceWindowOptions } from "./windows.js"
