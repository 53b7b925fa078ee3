import type { Batch, Keyed } from "../../src/index.js"
import {
  type AlertRule,
  alertChanges,
  defaultAlertRule,
  type EndpointSummary,
  errorRate,
  percentile
} from "./summary.js"

/** One endpoint's figures over a window, as reported. */
export interface EndpointRow {
  readonly endpoint: string
  readonly requests: number
  readonly errors: number
  /** 0..1 */
  readonly errorRate: number
  /** Upper bound (ms) of the bucket holding the 95th percentile; Infinity past the last bucket. */
  readonly p95Ms: number | undefined
}

/** What one window gave: a row per endpoint (by name), the alerts that fired or resolved, the lines to print. */
export interface WindowReport {
  readonly closedAt: Date
  readonly rows: ReadonlyArray<EndpointRow>
  readonly fired: ReadonlyArray<EndpointRow>
  readonly resolved: ReadonlyArray<string>
  readonly lines: ReadonlyArray<string>
}

export const rowOf = (endpoint: string, summary: EndpointSummary): EndpointRow => ({
  endpoint,
  requests: summary.requests,
  errors: summary.errors,
  errorRate: errorRate(summary),
  p95Ms: percentile(summary.buckets, 95)
})

const clock = (at: Date) => at.toISOString().slice(11, 19)
const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`
const millis = (ms: number | undefined) =>
  ms === undefined ? "-" : ms === Infinity ? ">10 s" : `${ms} ms`

/** e.g. `00:00:04  GET /api/products/:id        512 req   0.4% 5xx  p95    30 ms` */
export const formatRow = (at: Date, row: EndpointRow): string =>
  `${clock(at)}  ${row.endpoint.padEnd(24)} ${String(row.requests).padStart(6)} req ${percent(row.errorRate).padStart(6)} 5xx  p95 ${millis(row.p95Ms).padStart(8)}`

/** e.g. `ALERT 00:00:06  POST /api/checkout: 5xx rate 21.3% (10 of 47 requests in the last 10 s), above 5.0%` */
export const formatAlert = (at: Date, row: EndpointRow, rule: AlertRule, window: string): string =>
  `ALERT ${clock(at)}  ${row.endpoint}: 5xx rate ${percent(row.errorRate)} ` +
  `(${row.errors} of ${row.requests} requests in the last ${window}), above ${percent(rule.maxErrorRate)}`

export const formatResolved = (at: Date, endpoint: string, row: EndpointRow | undefined, window: string): string =>
  `RESOLVED ${clock(at)}  ${endpoint}: ` +
  (row === undefined
    ? `no requests in the last ${window}`
    : `5xx rate ${percent(row.errorRate)} (${row.errors} of ${row.requests} requests in the last ${window})`)

/**
 * The sink's logic: turns each window batch into rows and lines, and keeps which endpoints are
 * alerting so an ALERT line is printed when an endpoint crosses the threshold (and RESOLVED when
 * it is back under), not on every window. Batches that end no window (no records) give undefined.
 * The alerting set lives in the process: after a restart an ongoing incident alerts once more.
 */
export const windowReporter = (options: { readonly rule?: AlertRule; readonly window?: string } = {}) => {
  const rule = options.rule ?? defaultAlertRule
  const window = options.window ?? "10 s"
  let active: ReadonlySet<string> = new Set()
  return (batch: Batch<Keyed<string, EndpointSummary>>): WindowReport | undefined => {
    if (batch.records.length === 0) return undefined
    const at = batch.closedAt
    const summaries = batch.records.map((r) => r.value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const rows = summaries.map(([endpoint, summary]) => rowOf(endpoint, summary))
    const changes = alertChanges(active, summaries, rule)
    active = changes.active
    const byEndpoint = new Map(rows.map((row) => [row.endpoint, row]))
    const fired = changes.fired.map((endpoint) => byEndpoint.get(endpoint)!)
    const lines = [
      ...rows.map((row) => formatRow(at, row)),
      ...fired.map((row) => formatAlert(at, row, rule, window)),
      ...changes.resolved.map((endpoint) => formatResolved(at, endpoint, byEndpoint.get(endpoint), window))
    ]
    return { closedAt: at, rows, fired, resolved: changes.resolved, lines }
  }
}
