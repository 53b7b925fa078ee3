import type { Duration } from "effect"
import { AccessLogEventSchema } from "../../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { Codec, type InitialPosition, Pipeline } from "../../src/index.js"
import { merge, summaryOf, unmerge } from "./summary.js"

/** Where the pipeline reads and how its windows are cut. */
export interface EndpointWindowsOptions {
  readonly streamName: string
  /** Names whose checkpoints these are. Default `"access-log-windows"`. */
  readonly applicationName?: string
  /** Default 1 s; the window's length and slide must be multiples of it. */
  readonly batchInterval?: Duration.DurationInput
  /** Default 10 s. */
  readonly length?: Duration.DurationInput
  /** Default 2 s. */
  readonly slide?: Duration.DurationInput
  /** Where shards without a checkpoint start. Default `TRIM_HORIZON`. */
  readonly startAt?: InitialPosition
}

/**
 * Per endpoint, a summary (requests, 5xx errors, latency histogram) over the last
 * `length` of batches, computed every `slide`: one `[endpoint, summary]` record per endpoint
 * with traffic in the window, on the batches that end a slide, none on the others. The window is
 * kept incrementally: the interval that enters is merged in, the one that leaves is unmerged.
 *
 * @example
 * ```ts
 * endpointWindows({ streamName: "access-logs" }).pipe(Pipeline.foreachBatch(sink)) // records: readonly [string, EndpointSummary]
 * ```
 */
export const endpointWindows = (options: EndpointWindowsOptions) =>
  Pipeline.fromKinesis({
    streamName: options.streamName,
    applicationName: options.applicationName ?? "access-log-windows",
    codec: Codec.protobuf(AccessLogEventSchema),
    batchInterval: options.batchInterval ?? "1 second",
    startAt: options.startAt ?? "TRIM_HORIZON"
  }).pipe(
    Pipeline.keyBy((event) => event.endpoint),
    Pipeline.map(([endpoint, event]) => [endpoint, summaryOf(event)] as const),
    Pipeline.reduceByKeyAndWindow(merge, {
      length: options.length ?? "10 seconds",
      slide: options.slide ?? "2 seconds",
      inverse: unmerge
    })
  )
