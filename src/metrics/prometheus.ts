import { createServer } from "node:http"
import { Data, Effect, Layer, Runtime, type Scope } from "effect"
import { listenServer } from "../internal/listenServer.js"
import { type MetricPoint, snapshot, type SnapshotOptions } from "./snapshot.js"

/** The content type of the Prometheus text exposition format 0.0.4. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

const metricName = (name: string): string => {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(clean) ? `_${clean}` : clean
}

const labelName = (name: string): string => {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(clean) ? `_${clean}` : clean
}

const escapeLabelValue = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatValue = (value: number): string => {
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const formatLabels = (labels: Readonly<Record<string, string>>, extra?: readonly [string, string]): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${labelName(k)}="${escapeLabelValue(v)}"`)
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

const typeOf = (point: MetricPoint): string => {
  switch (point.type) {
    case "counter":
      return point.monotonic ? "counter" : "gauge"
    case "frequency":
      return "counter"
    default:
      return point.type
  }
}

/** The lines of one series (no HELP/TYPE). */
const seriesLines = (name: string, point: MetricPoint): Array<string> => {
  switch (point.type) {
    case "counter":
    case "gauge":
      return [`${name}${formatLabels(point.labels)} ${formatValue(point.value)}`]
    case "histogram": {
      const lines = point.buckets.map(([bound, count]) =>
        `${name}_bucket${formatLabels(point.labels, ["le", formatValue(bound)])} ${formatValue(count)}`)
      // Effect's last bucket is Infinity already; a histogram without one still gets its +Inf bucket.
      if (point.buckets.at(-1)?.[0] !== Infinity) lines.push(`${name}_bucket${formatLabels(point.labels, ["le", "+Inf"])} ${point.count}`)
      lines.push(`${name}_sum${formatLabels(point.labels)} ${formatValue(point.sum)}`)
      lines.push(`${name}_count${formatLabels(point.labels)} ${point.count}`)
      return lines
    }
    case "frequency":
      return [...point.occurrences].map(([key, count]) => `${name}${formatLabels(point.labels, ["key", key])} ${count}`)
    case "summary":
      return [
        ...point.quantiles.flatMap(([q, v]) => (v === undefined ? [] : [`${name}${formatLabels(point.labels, ["quantile", formatValue(q)])} ${formatValue(v)}`])),
        `${name}_sum${formatLabels(point.labels)} ${formatValue(point.sum)}`,
        `${name}_count${formatLabels(point.labels)} ${point.count}`
      ]
  }
}

/**
 * Renders metric points in the Prometheus text exposition format 0.0.4: one `# HELP` and
 * `# TYPE` per metric, then its series; histograms as cumulative `_bucket{le=...}` lines ending
 * with `+Inf`, then `_sum` and `_count`.
 */
export const renderPrometheus = (points: ReadonlyArray<MetricPoint>): string => {
  const families = new Map<string, { type: string; help: string | undefined; lines: Array<string> }>()
  for (const point of points) {
    const name = metricName(point.name)
    let family = families.get(name)
    if (family === undefined) {
      family = { type: typeOf(point), help: point.description, lines: [] }
      families.set(name, family)
    }
    // Two metrics of different kinds under one name cannot share a family: the first kind wins.
    if (family.type !== typeOf(point)) continue
    family.lines.push(...seriesLines(name, point))
  }
  let out = ""
  for (const [name, family] of families) {
    if (family.help !== undefined && family.help !== "") out += `# HELP ${name} ${escapeHelp(family.help)}\n`
    out += `# TYPE ${name} ${family.type}\n`
    for (const line of family.lines) out += `${line}\n`
  }
  return out
}

/**
 * The process's metrics as Prometheus text (format 0.0.4): shardline's only, unless `includeAll`.
 *
 * @example
 * ```ts
 * const text = yield* Metrics.prometheusText()
 * ```
 */
export const prometheusText = (options: SnapshotOptions = {}): Effect.Effect<string> => Effect.map(snapshot(options), renderPrometheus)

/** The metrics endpoint could not listen (port taken, bad host). */
export class MetricsServerError extends Data.TaggedError("MetricsServerError")<{
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message() {
    return `The metrics endpoint could not listen on ${this.host}:${this.port}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** Where the Prometheus endpoint listens. */
export interface MetricsServerOptions extends SnapshotOptions {
  /** 0 picks a free port (see the answer's `port`). */
  readonly port: number
  /** Default `127.0.0.1`: only this machine can scrape. Use `0.0.0.0` to let others. */
  readonly host?: string
  /** Default `/metrics`. */
  readonly path?: string
}

/** A running metrics endpoint. */
export interface MetricsServer {
  readonly port: number
  /** e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string
}

/**
 * Serves the metrics as Prometheus text at `http://host:port/path` (GET or HEAD; anything else
 * is 404 or 405) until the scope closes, which closes the server and its connections.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const server = yield* Metrics.serve({ port: 9464 })
 *   yield* Effect.log(`metrics at ${server.url}`)
 *   yield* run
 * }))
 * ```
 */
export const serve = (options: MetricsServerOptions): Effect.Effect<MetricsServer, MetricsServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/metrics"
    const runtime = yield* Effect.runtime<never>()
    const render = prometheusText(options.includeAll === undefined ? {} : { includeAll: options.includeAll })
    const listening = yield* Effect.acquireRelease(
      listenServer(
        () =>
          createServer((request, response) => {
            // The path alone, without a query; no URL parsing that could throw on odd input.
            const requested = (request.url ?? "/").split("?")[0]
            if (requested !== path) {
              response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n")
              return
            }
            if (request.method !== "GET" && request.method !== "HEAD") {
              response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("Method not allowed\n")
              return
            }
            Runtime.runPromise(runtime)(render).then(
              (text) => {
                response.writeHead(200, { "content-type": prometheusContentType, "content-length": Buffer.byteLength(text) })
                response.end(request.method === "HEAD" ? undefined : text)
              },
              (cause: unknown) => {
                response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${String(cause)}\n`)
              }
            )
          }),
        host,
        options.port,
        (cause) => new MetricsServerError({ host, port: options.port, cause })
      ),
      (server) => server.stop
    )
    const shownHost = host.includes(":") ? `[${host}]` : host
    return { port: listening.port, url: `http://${shownHost}:${listening.port}${path}` }
  })

/**
 * {@link serve} as a layer: the endpoint runs while the layer is in use.
 *
 * @example
 * ```ts
 * run.pipe(Effect.provide(Metrics.layerServer({ port: 9464 })))
 * ```
 */
export const layerServer = (options: MetricsServerOptions): Layer.Layer<never, MetricsServerError> => Layer.scopedDiscard(serve(options))
