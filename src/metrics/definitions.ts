import { Effect, Metric, MetricBoundaries, MetricKey, type MetricKeyType, MetricLabel, type MetricState } from "effect"

/** Every shardline metric's name starts with this. */
export const metricPrefix = "shardline_"

/** What kind of value a metric holds. */
export type MetricType = "counter" | "gauge" | "histogram"

/** One metric shardline records: its stable name, kind, labels (in this order) and meaning. */
export interface MetricDefinition {
  readonly name: string
  readonly type: MetricType
  /** Label names in the order the series carry them; a label with no value (e.g. `worker` without leases) is left out. */
  readonly labels: ReadonlyArray<string>
  readonly description: string
}

/** Bucket bounds of the batch timing histograms, in seconds (Prometheus' defaults, stretched to 5 minutes). */
export const secondsBuckets: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

/**
 * One metric with its label names. A series (one set of label values) is built once and cached:
 * its registry hook is then looked up once, so an update on the hot path costs a field write.
 * Label values are bounded (streams, shards, workers, error classes), never a partition key.
 */
export class MetricFamily<Type extends MetricKeyType.MetricKeyType<In, Out>, In, Out> {
  private readonly cache = new Map<string, Metric.Metric<Type, In, Out>>()
  constructor(readonly definition: MetricDefinition, private readonly key: MetricKey.MetricKey<Type>) {}

  /** The series for these label values, in the definition's label order; undefined leaves a label out. */
  series(values: ReadonlyArray<string | undefined>) {
    const id = values.map((v) => (v === undefined ? "\u0001" : v)).join("\u0000")
    let metric = this.cache.get(id)
    if (metric === undefined) {
      const labels: Array<MetricLabel.MetricLabel> = []
      this.definition.labels.forEach((name, i) => {
        const value = values[i]
        if (value !== undefined) labels.push(MetricLabel.make(name, value))
      })
      metric = Metric.fromMetricKey(MetricKey.taggedWithLabels(this.key, labels)) as Metric.Metric<Type, In, Out>
      this.cache.set(id, metric)
    }
    return metric
  }
}

const counter = (name: string, labels: ReadonlyArray<string>, description: string) =>
  new MetricFamily<MetricKeyType.MetricKeyType.Counter<number>, number, MetricState.MetricState.Counter<number>>({ name, type: "counter", labels, description }, MetricKey.counter(name, { description, incremental: true }))

const gauge = (name: string, labels: ReadonlyArray<string>, description: string) =>
  new MetricFamily<MetricKeyType.MetricKeyType.Gauge<number>, number, MetricState.MetricState.Gauge<number>>({ name, type: "gauge", labels, description }, MetricKey.gauge(name, { description }))

const histogram = (name: string, labels: ReadonlyArray<string>, description: string) =>
  new MetricFamily<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram>(
    { name, type: "histogram", labels, description },
    MetricKey.histogram(name, MetricBoundaries.fromIterable(secondsBuckets), description)
  )

const shard = ["stream", "shard"] as const
const pipeline = ["application", "stream"] as const
const worker = ["application", "stream", "worker"] as const

/** The metric families, by the name the code uses. */
export const families = {
  recordsIn: counter("shardline_records_in_total", shard, "Records read from Kinesis (a KPL aggregate counts once)."),
  bytesIn: counter("shardline_bytes_in_total", shard, "Payload bytes read from Kinesis."),
  getRecordsCalls: counter("shardline_getrecords_calls_total", shard, "GetRecords calls made, throttled and failed ones included."),
  subscribeCalls: counter("shardline_subscribe_calls_total", shard, "SubscribeToShard calls made (enhanced fan-out), refused ones included."),
  millisBehindLatest: gauge("shardline_millis_behind_latest", shard, "MillisBehindLatest of the shard's last GetRecords response or fan-out event (0 once a closed shard is read to its end)."),
  arrivalLag: gauge("shardline_arrival_lag_millis", shard, "Now minus the arrival time of the newest record of the shard's last response (0 for a response with no records): the lag where the service reports MillisBehindLatest 0."),
  throttles: counter("shardline_throttles_total", [...shard, "operation"], "Throttled Kinesis responses (ProvisionedThroughputExceeded, LimitExceeded, ...) seen by the retry policy."),
  retries: counter("shardline_retries_total", [...shard, "operation", "class"], "Kinesis calls retried, by error class (throttled, transient, expiredIterator)."),
  batches: counter("shardline_batches_total", pipeline, "Batches through the sink and checkpointed."),
  sinkRecords: counter("shardline_sink_records_total", pipeline, "Records the sink took in finished batches (after operators; records given up to the dead-letter destination are not counted)."),
  batchProcessing: histogram("shardline_batch_processing_seconds", pipeline, "Time from the start of a batch's processing (decode, operators) until its sink calls, dead letters and checkpoint are done."),
  batchSchedulingDelay: histogram("shardline_batch_scheduling_delay_seconds", pipeline, "Time a closed batch waited before its processing started (Spark's scheduling delay)."),
  batchTotalDelay: histogram("shardline_batch_total_delay_seconds", pipeline, "Scheduling delay plus processing time of a batch (Spark's total delay)."),
  filtered: counter("shardline_filtered_records_total", pipeline, "Records the source's filter skipped (never decoded, still checkpointed)."),
  decodeErrors: counter("shardline_decode_errors_total", pipeline, "Records that did not decode (or corrupt KPL aggregates)."),
  deadLetters: counter("shardline_dead_letters_total", [...pipeline, "kind"], "Records sent to the dead-letter destination, by kind (decode, deaggregate, sink)."),
  sinkCalls: counter("shardline_sink_calls_total", pipeline, "Sink calls (each lane, retry and bisected half is one)."),
  sinkFailures: counter("shardline_sink_failures_total", pipeline, "Sink calls that failed."),
  checkpointWrites: counter("shardline_checkpoint_writes_total", worker, "Checkpoint writes that succeeded (a store save per batch; with leases a lease write per shard and batch)."),
  checkpointFailures: counter("shardline_checkpoint_failures_total", [...worker, "reason"], "Checkpoint writes that failed, by reason (error, lease_lost)."),
  leasesHeld: gauge("shardline_leases_held", worker, "Leases the worker holds now."),
  leasesTaken: counter("shardline_leases_taken_total", worker, "Leases the worker took (free, expired or stolen)."),
  leasesLost: counter("shardline_leases_lost_total", [...worker, "reason"], "Leases the worker lost, by reason (lost, expired, shard_gone); releases and shard ends are not losses.")
} as const

/** Every metric shardline records, for documentation and dashboards. */
export const definitions: ReadonlyArray<MetricDefinition> = Object.values(families).map((f) => f.definition)

/** Adds `amount` to a counter series (nothing for 0). */
export const add = (metric: Metric.Metric.Counter<number>, amount: number): Effect.Effect<void> =>
  amount === 0 ? Effect.void : Metric.update(metric, amount)
