import { create, toBinary } from "@bufbuild/protobuf"
import { describe, expect, it, layer } from "@effect/vitest"
import { AggregationTemporality, InMemoryMetricExporter, MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { createServer as createNetServer } from "node:net"
import { Effect, Exit, Layer, Metric, Scope } from "effect"
import { AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import {
  type Batch,
  Codec,
  DeadLetter,
  type DeadLetterRecord,
  Kinesis,
  type LeaseScope,
  LeaseStore,
  type MetricPoint,
  Metrics,
  Pipeline
} from "../src/index.js"
import { families } from "../src/metrics/definitions.js"
import { importOptional, MissingDependency } from "../src/internal/optionalDependency.js"
import { Faults, MemoryKinesis, PipelineTest } from "../src/testing/index.js"
import { makeWorkers } from "./support/workers.js"

// Effect's metric registry is process-wide: every test reads only the series of its own stream.

const good = (i: number) => toBinary(AccessLogEventSchema, create(AccessLogEventSchema, { endpoint: `GET /e${i % 7}`, status: 200, latencyMs: i }))
const malformed = new Uint8Array([0x0a, 0x05, 0x61]) // a length-delimited field longer than what follows

type Labels = Readonly<Record<string, string>>

const matching = (points: ReadonlyArray<MetricPoint>, name: string, labels: Labels) =>
  points.filter((p) => p.name === name && Object.entries(labels).every(([k, v]) => p.labels[k] === v))

/** The sum of a counter's or gauge's series with these labels (0 when there are none). */
const total = (points: ReadonlyArray<MetricPoint>, name: string, labels: Labels): number =>
  matching(points, name, labels).reduce((sum, p) => sum + (p.type === "counter" || p.type === "gauge" ? p.value : 0), 0)

const countBy = <T>(items: ReadonlyArray<T>, key: (t: T) => string): Map<string, number> => {
  const out = new Map<string, number>()
  for (const t of items) out.set(key(t), (out.get(key(t)) ?? 0) + 1)
  return out
}

/** A known run: 3 shards, 900 records, some filtered, some that do not decode, some the sink gives up on, 3 throttles. */
const knownRun = (streamName: string) =>
  Effect.gen(function* () {
    const inputs = Array.from({ length: 900 }, (_, i) => {
      const skip = i % 40 === 3
      const bad = !skip && i % 50 === 7
      const refused = !skip && !bad && i % 60 === 11
      return { i, skip, bad, refused, partitionKey: `${skip ? "skip" : "pk"}-${i % 37}`, data: bad ? malformed : good(i) }
    })
    const letters: Array<DeadLetterRecord> = []
    let sinkCalls = 0
    let sinkFailures = 0
    const pipeline = Pipeline.fromKinesis({
      streamName,
      applicationName: "metrics-app",
      codec: Codec.protobuf(AccessLogEventSchema),
      batchInterval: "1 second",
      maxBatchRecords: 250,
      filter: (r) => !r.partitionKey.startsWith("skip-")
    })
    const sink = (batch: Batch<{ readonly latencyMs: number }>) =>
      Effect.suspend(() => {
        sinkCalls++
        if (batch.records.some((r) => inputs[r.value.latencyMs]!.refused)) {
          sinkFailures++
          return Effect.fail("the sink refuses this batch")
        }
        return Effect.void
      })
    const test = yield* PipelineTest.make(pipeline, sink, {
      shardCount: 3,
      faults: [Faults.throttle("GetRecords", { times: 3 })],
      onSinkError: { bisectBatchOnError: true }
    }).pipe(Effect.provide(DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records)))))
    const placed = yield* test.put(inputs)
    yield* test.drain({ maxIntervals: 100 })
    const summary = yield* test.stop
    return { inputs, placed, letters, summary, test, sinkCalls, sinkFailures }
  })

describe("metrics after a known run", () => {
  it.scoped("count exactly what the run did: records and bytes per shard, GetRecords calls and throttles, batches, filtered, decode errors, dead letters, sink calls, checkpoint writes", () =>
    Effect.gen(function* () {
      const streamName = "metrics-known"
      const run = yield* knownRun(streamName)
      const { inputs, placed, letters, summary, test } = run
      const points = yield* Metrics.snapshot()
      const shard = (shardId: string) => ({ stream: streamName, shard: shardId })
      const app = { application: "metrics-app", stream: streamName }

      // Records and bytes in, per shard: what was put there (nothing was read twice: no crash).
      const shards = [...new Set(placed.map((p) => p.shardId))].sort()
      expect(shards).toHaveLength(3)
      for (const shardId of shards) {
        const here = inputs.filter((_, i) => placed[i]!.shardId === shardId)
        expect(total(points, "shardline_records_in_total", shard(shardId))).toBe(here.length)
        expect(total(points, "shardline_bytes_in_total", shard(shardId))).toBe(here.reduce((n, r) => n + r.data.byteLength, 0))
        // The same series through Effect's own Metric.value.
        expect((yield* Metric.value(families.recordsIn.series([streamName, shardId]))).count).toBe(here.length)
      }
      expect(total(points, "shardline_records_in_total", { stream: streamName })).toBe(900)

      // GetRecords calls and throttles as the fault layer logged them, per shard.
      const calls = (yield* test.calls).filter((c) => c.operation === "GetRecords")
      for (const [shardId, n] of countBy(calls, (c) => c.shardId ?? "")) {
        expect(total(points, "shardline_getrecords_calls_total", shard(shardId))).toBe(n)
      }
      expect(total(points, "shardline_getrecords_calls_total", { stream: streamName })).toBe(calls.length)
      const throttled = calls.filter((c) => c.outcome === "injected")
      expect(throttled).toHaveLength(3)
      for (const [shardId, n] of countBy(throttled, (c) => c.shardId ?? "")) {
        expect(total(points, "shardline_throttles_total", { ...shard(shardId), operation: "GetRecords" })).toBe(n)
      }
      expect(total(points, "shardline_throttles_total", { stream: streamName })).toBe(3)
      // The default policy retries each throttle once it has waited.
      expect(total(points, "shardline_retries_total", { stream: streamName, class: "throttled" })).toBe(3)
      expect(total(points, "shardline_retries_total", { stream: streamName, class: "transient" })).toBe(0)

      // Batches, as the run's summary counts them, and the records the sink took.
      const batches = yield* test.batches
      expect(summary.batches).toBeGreaterThan(3)
      expect(total(points, "shardline_batches_total", app)).toBe(summary.batches)
      const expectedKept = inputs.filter((r) => !r.skip && !r.bad && !r.refused).length
      // The batches the sink finished (bisected halves included) hold exactly the records it took.
      expect(total(points, "shardline_sink_records_total", app)).toBe(batches.reduce((n, b) => n + b.records.length, 0))
      expect(total(points, "shardline_sink_records_total", app)).toBe(expectedKept)

      // Filtered, undecodable, given up: as the input says, and as the dead-letter destination got them.
      const skipped = inputs.filter((r) => r.skip).length
      const poison = inputs.filter((r) => r.bad).length
      const refused = inputs.filter((r) => r.refused).length
      expect([skipped, poison, refused].every((n) => n > 0)).toBe(true)
      expect(total(points, "shardline_filtered_records_total", app)).toBe(skipped)
      expect(summary.filtered).toBe(skipped)
      expect(total(points, "shardline_decode_errors_total", app)).toBe(poison)
      const byKind = countBy(letters, (l) => l.reason.kind)
      expect(byKind.get("decode")).toBe(poison)
      expect(byKind.get("sink")).toBe(refused)
      expect(total(points, "shardline_dead_letters_total", { ...app, kind: "decode" })).toBe(poison)
      expect(total(points, "shardline_dead_letters_total", { ...app, kind: "sink" })).toBe(refused)
      expect(total(points, "shardline_dead_letters_total", app)).toBe(summary.deadLettered)

      // Sink calls (bisection included) and failures, as the sink counted them.
      expect(run.sinkFailures).toBeGreaterThan(0)
      expect(total(points, "shardline_sink_calls_total", app)).toBe(run.sinkCalls)
      expect(total(points, "shardline_sink_failures_total", app)).toBe(run.sinkFailures)

      // One checkpoint save per batch that moved a position (bisected halves share their batch's id); none failed. No worker label without leases.
      const writes = matching(points, "shardline_checkpoint_writes_total", app)
      expect(writes).toHaveLength(1)
      expect(writes[0]!.labels).toEqual(app)
      expect(total(points, "shardline_checkpoint_writes_total", app)).toBe(new Set(batches.filter((b) => b.checkpoints.size > 0).map((b) => b.batchId)).size)
      expect(total(points, "shardline_checkpoint_failures_total", app)).toBe(0)

      // Every shard was read to the tip: nothing behind.
      for (const shardId of shards) {
        expect(total(points, "shardline_millis_behind_latest", shard(shardId))).toBe(0)
        expect(matching(points, "shardline_arrival_lag_millis", shard(shardId))).toHaveLength(1)
      }

      // One observation per batch in each timing histogram; total delay = scheduling delay + processing.
      const histogram = (name: string) => {
        const [point] = matching(points, name, app)
        if (point?.type !== "histogram") throw new Error(`no histogram ${name}`)
        return point
      }
      const processing = histogram("shardline_batch_processing_seconds")
      const scheduling = histogram("shardline_batch_scheduling_delay_seconds")
      const totalDelay = histogram("shardline_batch_total_delay_seconds")
      for (const h of [processing, scheduling, totalDelay]) expect(h.count).toBe(summary.batches)
      expect(totalDelay.sum).toBeCloseTo(processing.sum + scheduling.sum, 9)
    }), 60_000)

  it.scoped("batch timings on the test clock: a sink that takes 300 ms makes 0.3 s of processing per batch, and a batch that waits for it shows the wait as scheduling delay", () =>
    Effect.gen(function* () {
      const streamName = "metrics-timing"
      const pipeline = Pipeline.fromKinesis({ streamName, codec: Codec.utf8, batchInterval: "1 second", applicationName: "timing" })
      // The first batch with records holds the sink 1.5 s: the next batch (closed meanwhile) waits.
      let first = true
      const sink = (batch: Batch<string>) =>
        batch.records.length === 0 ? Effect.void : Effect.suspend(() => {
          const ms = first ? 1_500 : 300
          first = false
          return Effect.sleep(`${ms} millis`)
        })
      const test = yield* PipelineTest.make(pipeline, sink, { shardCount: 1 })
      const encoder = new TextEncoder()
      yield* test.put(Array.from({ length: 5 }, (_, i) => ({ partitionKey: "k", data: encoder.encode(`a${i}`) })))
      yield* test.advance(4)
      yield* test.put(Array.from({ length: 5 }, (_, i) => ({ partitionKey: "k", data: encoder.encode(`b${i}`) })))
      yield* test.advance(4)
      const summary = yield* test.stop
      const batches = yield* test.batches
      const points = yield* Metrics.snapshot()
      const app = { application: "timing", stream: streamName }
      const get = (name: string) => {
        const [point] = matching(points, name, app)
        if (point?.type !== "histogram") throw new Error(`no histogram ${name}`)
        return point
      }
      const processing = get("shardline_batch_processing_seconds")
      const scheduling = get("shardline_batch_scheduling_delay_seconds")
      const totalDelay = get("shardline_batch_total_delay_seconds")
      expect(processing.count).toBe(summary.batches)
      const busy = batches.filter((b) => b.records.length > 0).length
      expect(busy).toBe(2)
      expect(processing.sum).toBeCloseTo(1.5 + 0.3, 6)
      // The batch closed while the sink held the first one waited 0.5 s (it closed 1 s after, the sink took 1.5 s).
      expect(scheduling.sum).toBeCloseTo(0.5, 6)
      expect(totalDelay.sum).toBeCloseTo(processing.sum + scheduling.sum, 6)
      // Cumulative buckets: 0.3 s falls at or under 0.5, 1.5 s only under 2.5.
      const at = (bound: number) => processing.buckets.find(([b]) => b === bound)![1]
      expect(at(0.25)).toBe(summary.batches - 2)
      expect(at(0.5)).toBe(summary.batches - 1)
      expect(at(2.5)).toBe(summary.batches)
      expect(processing.buckets.at(-1)).toEqual([Infinity, summary.batches])
    }))
})

/** Prometheus text as a map from series (name + sorted labels) to value. */
const parsePrometheus = (text: string) => {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  const helps = new Map<string, string>()
  for (const line of text.split("\n")) {
    if (line === "") continue
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) {
      expect(types.has(type[1]!)).toBe(false)
      types.set(type[1]!, type[2]!)
      continue
    }
    const help = /^# HELP (\S+) (.*)$/.exec(line)
    if (help !== null) {
      helps.set(help[1]!, help[2]!)
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (sample === null) throw new Error(`not a sample line: ${line}`)
    const labels: Array<[string, string]> = []
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy
    const body = sample[2] ?? ""
    let match: RegExpExecArray | null
    let consumed = 0
    while ((match = labelPattern.exec(body)) !== null) {
      labels.push([match[1]!, match[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))])
      consumed = labelPattern.lastIndex
    }
    expect(consumed).toBe(body.length)
    const value = sample[3] === "+Inf" ? Infinity : Number(sample[3])
    samples.set(seriesKey(sample[1]!, Object.fromEntries(labels)), value)
  }
  return { samples, types, helps }
}

const seriesKey = (name: string, labels: Labels) => `${name}${JSON.stringify(Object.entries(labels).sort())}`

describe("Prometheus text", () => {
  it.scoped("carries the same numbers as the registry, one HELP/TYPE per metric, cumulative buckets ending in +Inf = count, escaped labels", () =>
    Effect.gen(function* () {
      const streamName = "metrics-prom"
      const { inputs, placed, summary } = yield* knownRun(streamName)
      // A label value that needs every escape.
      const escapes = Metric.counter("shardline_test_escapes_total", { description: "a help text with a \\ and a\nnew line", incremental: true })
      yield* Metric.increment(Metric.tagged(escapes, "value", "a \"quoted\" \\ back\nslash"))
      yield* Metric.increment(Metric.counter("someone_elses_total"))
      const text = yield* Metrics.prometheusText()
      const { helps, samples, types } = parsePrometheus(text)
      const app = { application: "metrics-app", stream: streamName }

      for (const shardId of new Set(placed.map((p) => p.shardId))) {
        const count = placed.filter((p) => p.shardId === shardId).length
        expect(samples.get(seriesKey("shardline_records_in_total", { stream: streamName, shard: shardId }))).toBe(count)
      }
      expect(samples.get(seriesKey("shardline_batches_total", app))).toBe(summary.batches)
      expect(samples.get(seriesKey("shardline_dead_letters_total", { ...app, kind: "decode" }))).toBe(inputs.filter((r) => r.bad).length)
      expect(types.get("shardline_records_in_total")).toBe("counter")
      expect(types.get("shardline_millis_behind_latest")).toBe("gauge")
      expect(types.get("shardline_batch_processing_seconds")).toBe("histogram")
      expect(helps.get("shardline_records_in_total")).toBe("Records read from Kinesis (a KPL aggregate counts once).")

      // Histogram: cumulative buckets in order, +Inf equal to _count.
      const bucketLines = text.split("\n").filter((l) => l.startsWith("shardline_batch_total_delay_seconds_bucket{") && l.includes(`stream="${streamName}"`))
      const bounds = bucketLines.map((l) => /le="([^"]+)"/.exec(l)![1]!)
      expect(bounds).toEqual([...Metrics.secondsBuckets.map(String), "+Inf"])
      const counts = bucketLines.map((l) => Number(l.split(" ").at(-1)))
      for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThanOrEqual(counts[i - 1]!)
      expect(counts.at(-1)).toBe(samples.get(seriesKey("shardline_batch_total_delay_seconds_count", app)))
      expect(counts.at(-1)).toBe(summary.batches)
      expect(samples.has(seriesKey("shardline_batch_total_delay_seconds_sum", app))).toBe(true)

      // Escaping, to the byte.
      expect(text).toContain(`shardline_test_escapes_total{value="a \\"quoted\\" \\\\ back\\nslash"} 1\n`)
      expect(text).toContain("# HELP shardline_test_escapes_total a help text with a \\\\ and a\\nnew line\n")
      expect(samples.get(seriesKey("shardline_test_escapes_total", { value: "a \"quoted\" \\ back\nslash" }))).toBe(1)

      // Only shardline's metrics unless asked.
      expect(text).not.toContain("someone_elses_total")
      const all = yield* Metrics.prometheusText({ includeAll: true })
      expect(all).toContain("# TYPE someone_elses_total")
      // A counter that may go down is no Prometheus counter.
      expect(all).toContain("# TYPE someone_elses_total gauge\n")
    }), 60_000)

  it.scoped("the endpoint answers GET /metrics with 200 and the 0.0.4 content type, 404 elsewhere, and is closed with its scope (the port is free again)", () =>
    Effect.gen(function* () {
      yield* Metric.increment(families.batches.series(["endpoint-app", "metrics-endpoint"]))
      const scope = yield* Scope.make()
      const server = yield* Metrics.serve({ port: 0 }).pipe(Scope.extend(scope))
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`)
      const response = yield* Effect.promise(() => fetch(server.url))
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      const body = yield* Effect.promise(() => response.text())
      expect(body).toContain(`shardline_batches_total{application="endpoint-app",stream="metrics-endpoint"} 1\n`)
      expect((yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/other`))).status).toBe(404)
      expect((yield* Effect.promise(() => fetch(server.url, { method: "POST" }))).status).toBe(405)
      // A second endpoint on the same port fails with MetricsServerError.
      const taken = yield* Effect.flip(Effect.scoped(Metrics.serve({ port: server.port })))
      expect(taken._tag).toBe("MetricsServerError")
      expect(taken.message).toContain(`127.0.0.1:${server.port}`)
      yield* Scope.close(scope, Exit.void)
      const refused = yield* Effect.promise(() => fetch(server.url).then(() => "answered", () => "refused"))
      expect(refused).toBe("refused")
      // The port can be bound again.
      const rebound = yield* Effect.async<boolean>((resume) => {
        const probe = createNetServer()
        probe.once("error", () => resume(Effect.succeed(false)))
        probe.listen(server.port, "127.0.0.1", () => probe.close(() => resume(Effect.succeed(true))))
      })
      expect(rebound).toBe(true)
    }), 20_000)
})

/** A reader the test collects from by hand. */
class CollectingReader extends MetricReader {
  protected override onShutdown() {
    return Promise.resolve()
  }
  protected override onForceFlush() {
    return Promise.resolve()
  }
}

const otelPoints = (resourceMetrics: ResourceMetrics) =>
  resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints.map((d) => ({ name: m.descriptor.name, type: m.dataPointType, attributes: d.attributes, value: d.value }))))

describe("OpenTelemetry export", () => {
  it.scoped("a reader sees the same names, values and attributes as the registry (shardline's metrics only)", () =>
    Effect.gen(function* () {
      const streamName = "metrics-otel"
      const { summary } = yield* knownRun(streamName)
      yield* Metric.increment(Metric.counter("someone_elses_otel_total"))
      const reader = new CollectingReader()
      const collected = yield* Effect.scoped(
        Effect.zipRight(
          Layer.build(Metrics.layerOpenTelemetry({ readers: () => reader, resource: { serviceName: "metrics-test", serviceVersion: "1.2.3" } })),
          Effect.promise(() => reader.collect())
        )
      )
      expect(collected.errors).toEqual([])
      expect(collected.resourceMetrics.resource.attributes["service.name"]).toBe("metrics-test")
      expect(collected.resourceMetrics.resource.attributes["service.version"]).toBe("1.2.3")
      const exported = otelPoints(collected.resourceMetrics)
      expect(exported.every((p) => p.name.startsWith("shardline_"))).toBe(true)
      const mine = (yield* Metrics.snapshot()).filter((p) => p.labels["stream"] === streamName)
      expect(mine.length).toBeGreaterThan(10)
      for (const point of mine) {
        const match = exported.filter((e) => e.name === point.name && JSON.stringify(Object.entries(e.attributes).sort()) === JSON.stringify(Object.entries(point.labels).sort()))
        expect(match, point.name).toHaveLength(1)
        const value = match[0]!.value
        if (point.type === "counter" || point.type === "gauge") expect(value).toBe(point.value)
        else if (point.type === "histogram") {
          expect(value).toMatchObject({ count: point.count, sum: point.sum })
          const buckets = (value as { buckets: { boundaries: Array<number>; counts: Array<number> } }).buckets
          expect(buckets.boundaries).toEqual(Metrics.secondsBuckets)
          expect(buckets.counts.reduce((a, b) => a + b, 0)).toBe(point.count)
        }
      }
      const batches = exported.find((e) => e.name === "shardline_batches_total" && e.attributes["stream"] === streamName)
      expect(batches?.value).toBe(summary.batches)
      // After the layer was released the reader is shut down.
      const after = yield* Effect.exit(Effect.tryPromise(() => reader.collect()))
      expect(Exit.isFailure(after)).toBe(true)
    }), 60_000)

  it.scoped("an exporter gets the metrics every exportInterval and once more when the layer is released", () =>
    Effect.gen(function* () {
      yield* Metric.incrementBy(families.recordsIn.series(["metrics-otel-exporter", "shardId-000000000000"]), 42)
      const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
      yield* Effect.scoped(Layer.build(Metrics.layerOpenTelemetry({ exporter, exportInterval: "1 hour" })))
      const last = exporter.getMetrics().at(-1)
      expect(last).toBeDefined()
      const point = otelPoints(last!).find((p) => p.name === "shardline_records_in_total" && p.attributes["stream"] === "metrics-otel-exporter")
      expect(point).toMatchObject({ value: 42, attributes: { stream: "metrics-otel-exporter", shard: "shardId-000000000000" } })
    }))
})

describe("the OpenTelemetry layer's optional packages", () => {
  it.effect("a package missing under the one asked for is the one MissingDependency names", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(importOptional("@effect/opentelemetry", "Metrics.layerOpenTelemetry", { dev: false, module: "@shardline-missing/otel/Metrics" }))
      expect(error).toBeInstanceOf(MissingDependency)
      expect(error.packageName).toBe("@shardline-missing/otel")
      expect(error.message).toContain("npm install @shardline-missing/otel")
    }))
})

describe("metrics with leases (live clock)", () => {
  const fresh = Layer.mergeAll(MemoryKinesis.layer(), LeaseStore.layerMemory)
  layer(fresh, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("two workers: leases taken, held and checkpoint writes per worker are what the lease table saw", () =>
      Effect.gen(function* () {
        const streamName = "metrics-leases"
        const memory = yield* MemoryKinesis
        yield* memory.createStream(streamName, 4)
        const store = yield* LeaseStore
        const takes = new Map<string, number>()
        const checkpoints = new Map<string, number>()
        const bump = (map: Map<string, number>, key: string) => Effect.sync(() => void map.set(key, (map.get(key) ?? 0) + 1))
        const counting = {
          ...store,
          take: (scope: LeaseScope, shardId: string, expected: { readonly owner: string | undefined; readonly counter: number }, owner: string) =>
            Effect.tap(store.take(scope, shardId, expected, owner), () => bump(takes, owner)),
          checkpoint: (...args: Parameters<typeof store.checkpoint>) =>
            Effect.tap(store.checkpoint(...args), () => bump(checkpoints, args[1].owner))
        }
        const workers = yield* makeWorkers({ streamName, applicationName: "metrics-workers" }).pipe(Effect.provideService(LeaseStore, counting))
        yield* workers.start("w1")
        yield* workers.start("w2")
        const owned = (worker: string) => Effect.map(workers.leases, (leases) => leases.filter((l) => l.owner === worker).length)
        const deadline = Date.now() + 20_000
        while (!((yield* owned("w1")) === 2 && (yield* owned("w2")) === 2)) {
          if (Date.now() > deadline) return yield* Effect.dieMessage("the leases never balanced")
          yield* Effect.sleep("50 millis")
        }
        yield* Effect.sleep("600 millis")
        const labels = (worker: string) => ({ application: "metrics-workers", stream: streamName, worker })
        const held = yield* Metrics.snapshot()
        for (const w of ["w1", "w2"]) expect(total(held, "shardline_leases_held", labels(w))).toBe(yield* owned(w))
        yield* Effect.flatMap(Kinesis, (kinesis) =>
          kinesis.putRecords({ StreamName: streamName, Records: Array.from({ length: 200 }, (_, i) => ({ PartitionKey: `k${i}`, Data: new TextEncoder().encode(String(i)) })) }))
        while (new Set(workers.seen.map((s) => s.value)).size < 200) {
          if (Date.now() > deadline + 10_000) return yield* Effect.dieMessage("the records were never all seen")
          yield* Effect.sleep("50 millis")
        }
        yield* workers.stop("w1")
        yield* workers.stop("w2")
        const points = yield* Metrics.snapshot()
        for (const w of ["w1", "w2"]) {
          expect(takes.get(w) ?? 0).toBeGreaterThan(0)
          expect(total(points, "shardline_leases_taken_total", labels(w))).toBe(takes.get(w))
          expect(total(points, "shardline_checkpoint_writes_total", labels(w))).toBe(checkpoints.get(w) ?? 0)
          // Released on stop.
          expect(total(points, "shardline_leases_held", labels(w))).toBe(0)
          const lost = workers.lost.filter((l) => l.worker === w).length
          expect(total(points, "shardline_leases_lost_total", labels(w))).toBe(lost)
        }
        expect(total(points, "shardline_checkpoint_writes_total", { stream: streamName })).toBeGreaterThan(0)
        expect(total(points, "shardline_records_in_total", { stream: streamName })).toBeGreaterThanOrEqual(200)
      }))
  })
})
