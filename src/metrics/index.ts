import { definitions, metricPrefix, secondsBuckets } from "./definitions.js"
import { layerOpenTelemetry } from "./openTelemetry.js"
import { layerServer, prometheusContentType, prometheusText, renderPrometheus, serve } from "./prometheus.js"
import { snapshot } from "./snapshot.js"

export type { MetricDefinition, MetricType } from "./definitions.js"
export type { MetricExporterLike, MetricReaderLike, OpenTelemetryOptions } from "./openTelemetry.js"
export { MetricsServerError, type MetricsServer, type MetricsServerOptions } from "./prometheus.js"
export type { MetricPoint, SnapshotOptions } from "./snapshot.js"

/**
 * shardline's metrics: Effect `Metric`s with stable `shardline_` names, labelled by stream and
 * shard (readers), application and stream (runs), and worker (with leases). They live in Effect's
 * process-wide metric registry from the first update; read them with {@link Metrics.snapshot},
 * serve them to Prometheus with {@link Metrics.serve}, or export them to OpenTelemetry with
 * {@link Metrics.layerOpenTelemetry}. Labels added with `Effect.tagMetrics` around a run are added
 * to its series.
 *
 * @example
 * ```ts
 * const program = run.pipe(Effect.provide(Metrics.layerServer({ port: 9464 })))
 * // curl http://127.0.0.1:9464/metrics
 * ```
 */
export const Metrics = {
  /** Every metric shardline records: name, type, labels, meaning. */
  definitions,
  /** The prefix of every shardline metric name, `shardline_`. */
  prefix: metricPrefix,
  /** Bucket bounds (seconds) of the batch timing histograms. */
  secondsBuckets,
  /** The registry as points, one per series (shardline's only unless `includeAll`). */
  snapshot,
  /** The registry in the Prometheus text exposition format 0.0.4. */
  prometheusText,
  /** Renders points (e.g. a filtered snapshot) as Prometheus text. */
  renderPrometheus,
  /** The content type of Prometheus text, `text/plain; version=0.0.4; charset=utf-8`. */
  prometheusContentType,
  /** An HTTP endpoint serving {@link Metrics.prometheusText} (default `127.0.0.1`, `/metrics`) until its scope closes. */
  serve,
  /** {@link Metrics.serve} as a layer. */
  layerServer,
  /** Exports the metrics through `@effect/opentelemetry` to OpenTelemetry readers or an exporter (optional packages). */
  layerOpenTelemetry
} as const
