import { Duration, Effect, Layer } from "effect"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import { metricPrefix } from "./definitions.js"

type EffectOtelMetrics = typeof import("@effect/opentelemetry/Metrics")
type EffectOtelResource = typeof import("@effect/opentelemetry/Resource")
type SdkMetrics = typeof import("@opentelemetry/sdk-metrics")

/**
 * What shardline needs of an OpenTelemetry `MetricReader` (e.g. a `PeriodicExportingMetricReader`
 * from `@opentelemetry/sdk-metrics`, or `PrometheusExporter` from `@opentelemetry/exporter-prometheus`).
 */
export interface MetricReaderLike {
  setMetricProducer(producer: unknown): void
  shutdown(): Promise<void>
}

/** What shardline needs of an OpenTelemetry `PushMetricExporter` (OTLP, console, in-memory). */
export interface MetricExporterLike {
  export(metrics: unknown, resultCallback: (result: unknown) => void): void
  forceFlush(): Promise<void>
  shutdown(): Promise<void>
}

/** Where the metrics go: your readers, or an exporter shardline reads into every `exportInterval`. */
export type OpenTelemetryOptions = {
  /** Also export every other Effect metric of the process, not only shardline's. Default false. */
  readonly includeAll?: boolean
  /**
   * The service the metrics describe (OpenTelemetry's resource). Default: from the environment
   * (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
   */
  readonly resource?: {
    readonly serviceName: string
    readonly serviceVersion?: string
    readonly attributes?: Readonly<Record<string, string | number | boolean>>
  }
  /** How long the readers get to flush and shut down when the layer is released. Default 3 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput
} & (
  | {
    /** Made when the layer is built; shut down (a last export) when it is released. */
    readonly readers: () => MetricReaderLike | ReadonlyArray<MetricReaderLike>
  }
  | {
    readonly exporter: MetricExporterLike
    /** How often the metrics are read and exported. Default 60 seconds (OpenTelemetry's default). */
    readonly exportInterval?: Duration.DurationInput
  }
)

const feature = "Metrics.layerOpenTelemetry"

/**
 * Exports shardline's metrics through `@effect/opentelemetry` to any OpenTelemetry metric reader
 * or push exporter, while the layer is in use. Needs the optional packages
 * `@effect/opentelemetry` and `@opentelemetry/sdk-metrics` (fails with `MissingDependency`
 * naming the one to install); the rest of shardline never loads them.
 *
 * @example
 * ```ts
 * import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
 * const telemetry = Metrics.layerOpenTelemetry({ exporter: new OTLPMetricExporter(), exportInterval: "15 seconds", resource: { serviceName: "orders-consumer" } })
 * run.pipe(Effect.provide(telemetry))
 * ```
 */
export const layerOpenTelemetry = (options: OpenTelemetryOptions): Layer.Layer<never, MissingDependency> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const sdk = yield* importOptional<SdkMetrics>("@opentelemetry/sdk-metrics", feature, { dev: false })
      const Resource = yield* importOptional<EffectOtelResource>("@effect/opentelemetry", feature, { dev: false, module: "@effect/opentelemetry/Resource" })
      const Metrics = yield* importOptional<EffectOtelMetrics>("@effect/opentelemetry", feature, { dev: false, module: "@effect/opentelemetry/Metrics" })
      const resource = options.resource === undefined
        ? Resource.layerFromEnv()
        : Resource.layer({
          serviceName: options.resource.serviceName,
          ...(options.resource.serviceVersion === undefined ? {} : { serviceVersion: options.resource.serviceVersion }),
          ...(options.resource.attributes === undefined ? {} : { attributes: options.resource.attributes })
        })
      const producer = yield* Effect.provide(Metrics.makeProducer, resource)
      const filtered: typeof producer = options.includeAll === true
        ? producer
        : {
          collect: (collectOptions) =>
            producer.collect(collectOptions).then((collected) => ({
              ...collected,
              resourceMetrics: {
                ...collected.resourceMetrics,
                scopeMetrics: collected.resourceMetrics.scopeMetrics.map((scope) => ({
                  ...scope,
                  metrics: scope.metrics.filter((m) => m.descriptor.name.startsWith(metricPrefix))
                }))
              }
            }))
        }
      const readers = "readers" in options
        ? options.readers
        : () =>
          new sdk.PeriodicExportingMetricReader({
            exporter: options.exporter as unknown as ConstructorParameters<SdkMetrics["PeriodicExportingMetricReader"]>[0]["exporter"],
            exportIntervalMillis: Duration.toMillis(options.exportInterval ?? "60 seconds")
          })
      // Registered here rather than with Metrics.registerProducer, to bound the shutdown by `shutdownTimeout`.
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const made = readers()
          const list: ReadonlyArray<MetricReaderLike> = Array.isArray(made) ? made : [made as MetricReaderLike]
          for (const reader of list) reader.setMetricProducer(filtered)
          return list
        }),
        (list) =>
          Effect.promise(() => Promise.all(list.map((reader) => reader.shutdown()))).pipe(
            Effect.ignoreLogged,
            Effect.interruptible,
            Effect.timeoutOption(options.shutdownTimeout ?? "3 seconds")
          )
      )
    })
  )
