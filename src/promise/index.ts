/**
 * The Promise API: consume a Kinesis stream from plain TypeScript, with an async function as the
 * sink and a handle to stop it, no Effect needed. A thin layer over the Effect core: the same
 * batching, checkpoints, leases, retries, bisection and dead letters as `Pipeline.foreachBatch`.
 *
 * @example
 * ```ts
 * import { Codec, createConsumer } from "shardline/promise"
 *
 * const consumer = createConsumer({
 *   streamName: "orders",
 *   codec: Codec.json<{ readonly id: string }>(),
 *   batchInterval: "1 second",
 *   checkpoints: { file: ".shardline/checkpoints.json" },
 *   sink: async (batch) => { await save(batch.records.map((r) => r.value)) }
 * })
 * process.once("SIGTERM", () => void consumer.stop())
 * await consumer.done
 * ```
 * @module
 */
export { type Consumer, createConsumer } from "./consumer.js"
export { type ConsumerError, SinkFailed } from "./errors.js"
export type { BatchEvent, ConsumerEventName, ConsumerEvents, Listener, ListeningEvent, SinkErrorEvent, StartedEvent } from "./events.js"
export { type LocalKinesisHandle, type LocalRecord, startLocalKinesis } from "./local.js"
export type {
  CheckpointsOption,
  ConsumerBaseOptions,
  ConsumerLeaseHooks,
  ConsumerLeaseOptions,
  ConsumerOptions,
  ConsumerSinkErrorOptions,
  DeadLetterDestination,
  LeaseStoreOption,
  SinkContext,
  SinkResult
} from "./options.js"

// What a facade user needs from the core, so that `effect` is never imported by hand.
export { type Checkpoint, CheckpointError } from "../checkpoint/index.js"
export { DashboardError } from "../dashboard/server.js"
export { MetricsServerError } from "../metrics/index.js"
export { Codec, DecodeError, DecompressionLimitExceeded } from "../codec/index.js"
export { InvalidOption } from "../config/index.js"
export type { InitialPosition, ShardReaderOptions } from "../consumer/index.js"
export { DeadLetterError, type DeadLetterRecord, type DeadLetterReason } from "../deadletter/index.js"
export { MissingDependency } from "../internal/optionalDependency.js"
export {
  ExpiredIterator,
  KinesisAccessDenied,
  KinesisConfigError,
  type KinesisError,
  type KinesisOptions,
  KinesisRequestError,
  KinesisResourceNotFound,
  KinesisThrottled
} from "../kinesis/index.js"
export { DeaggregateError } from "../kpl/index.js"
export { LeaseLost, LeaseStoreError } from "../lease/index.js"
export { EmulatorStartError, type LocalKinesisOptions, type LocalStream } from "../local/index.js"
export type { Batch, BatchCloseReason, StreamRecord } from "../pipeline/Batch.js"
export { GracefulStopTimeout } from "../pipeline/errors.js"
export { type HashKeyMatch, type KeyMatch, type RawRecord, RecordFilter } from "../pipeline/filter.js"
export type { PipelineSummary } from "../pipeline/run.js"
export { batchItemFailures, type BatchItemFailures, SinkRecordsFailed } from "../pipeline/sinkFailures.js"
export { backoff, type BackoffOptions, RetryPolicy } from "../retry/index.js"
export { readDeadLetters } from "./deadLetters.js"
