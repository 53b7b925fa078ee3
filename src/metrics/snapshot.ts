import { Effect, Metric, MetricKeyType, MetricState, Option } from "effect"
import { metricPrefix } from "./definitions.js"

/** Which metrics a reading takes in. */
export interface SnapshotOptions {
  /** Also every other Effect metric of the process (your own, Effect's fiber metrics), not only shardline's. Default false. */
  readonly includeAll?: boolean
}

interface PointBase {
  readonly name: string
  readonly description: string | undefined
  /** The series' labels (shardline's, and any added with `Effect.tagMetrics`). */
  readonly labels: Readonly<Record<string, string>>
}

/** One series of the metric registry, read at one moment. */
export type MetricPoint =
  | PointBase & { readonly type: "counter"; readonly value: number; /** Only ever grows. */ readonly monotonic: boolean }
  | PointBase & { readonly type: "gauge"; readonly value: number }
  | PointBase & {
    readonly type: "histogram"
    /** Cumulative: `[upper bound, observations <= bound]`, the last bound `Infinity` (its count is `count`). */
    readonly buckets: ReadonlyArray<readonly [number, number]>
    readonly count: number
    readonly sum: number
  }
  | PointBase & { readonly type: "frequency"; readonly occurrences: ReadonlyMap<string, number> }
  | PointBase & {
    readonly type: "summary"
    readonly quantiles: ReadonlyArray<readonly [number, number | undefined]>
    readonly count: number
    readonly sum: number
  }

/**
 * Reads the process's Effect metric registry (shardline's metrics only, unless `includeAll`):
 * one point per series, sorted by name then labels.
 *
 * @example
 * ```ts
 * const points = yield* Metrics.snapshot()
 * const read = points.filter((p) => p.name === "shardline_records_in_total")
 * ```
 */
export const snapshot = (options: SnapshotOptions = {}): Effect.Effect<ReadonlyArray<MetricPoint>> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const points: Array<MetricPoint> = []
    for (const { metricKey, metricState } of pairs) {
      const name = metricKey.name
      if (options.includeAll !== true && !name.startsWith(metricPrefix)) continue
      const labels: Record<string, string> = {}
      for (const label of metricKey.tags) labels[label.key] = label.value
      const base: PointBase = { name, description: Option.getOrUndefined(metricKey.description), labels }
      if (MetricState.isCounterState(metricState)) {
        const keyType = metricKey.keyType
        const monotonic = MetricKeyType.isCounterKey(keyType) && keyType.incremental
        points.push({ ...base, type: "counter", value: Number(metricState.count), monotonic })
      } else if (MetricState.isGaugeState(metricState)) {
        points.push({ ...base, type: "gauge", value: Number(metricState.value) })
      } else if (MetricState.isHistogramState(metricState)) {
        points.push({ ...base, type: "histogram", buckets: metricState.buckets, count: metricState.count, sum: metricState.sum })
      } else if (MetricState.isFrequencyState(metricState)) {
        points.push({ ...base, type: "frequency", occurrences: metricState.occurrences })
      } else if (MetricState.isSummaryState(metricState)) {
        points.push({
          ...base,
          type: "summary",
          quantiles: metricState.quantiles.map(([q, v]) => [q, Option.getOrUndefined(v)] as const),
          count: metricState.count,
          sum: metricState.sum
        })
      }
    }
    return points.sort((a, b) => (a.name === b.name ? compareLabels(a.labels, b.labels) : a.name < b.name ? -1 : 1))
  })

const compareLabels = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): number => {
  const x = JSON.stringify(Object.entries(a).sort())
  const y = JSON.stringify(Object.entries(b).sort())
  return x < y ? -1 : x > y ? 1 : 0
}
