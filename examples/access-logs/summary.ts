/**
 * Per-endpoint request summaries: counts, 5xx errors and a fixed-bucket latency histogram. Plain
 * data (numbers and a number array), so windows can keep them in checkpointed state, and
 * mergeable: the summary of two sets of requests is the merge of their summaries, and a merged
 * set can be taken out again. Every function here is pure and never mutates its arguments (the
 * window operator may hold the same summary in two places).
 */

/**
 * Upper bounds (inclusive, in ms) of the latency buckets, roughly log-spaced (about three per
 * doubling) from 5 ms to 10 s. One more bucket after the last holds everything slower.
 */
export const bucketBounds: ReadonlyArray<number> = [
  5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800,
  1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000
]

/** How many buckets a histogram has: one per bound, plus the overflow bucket. */
export const bucketCount = bucketBounds.length + 1

/** What an endpoint served over some time: requests, those that failed with a 5xx, and their latencies bucketed. */
export interface EndpointSummary {
  readonly requests: number
  /** Requests answered with status >= 500. */
  readonly errors: number
  /** Requests per latency bucket (see {@link bucketBounds}); always {@link bucketCount} long. */
  readonly buckets: ReadonlyArray<number>
}

/** The summary of no requests. */
export const emptySummary: EndpointSummary = { requests: 0, errors: 0, buckets: new Array<number>(bucketCount).fill(0) }

/** The bucket a latency falls in: the first whose bound is at least `latencyMs`, or the overflow bucket. */
export const bucketOf = (latencyMs: number): number => {
  // Binary search: the first bound >= latencyMs.
  let low = 0
  let high = bucketBounds.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (bucketBounds[mid]! >= latencyMs) high = mid
    else low = mid + 1
  }
  return low
}

/** The upper bound of a bucket, in ms; `Infinity` for the overflow bucket. */
export const boundOf = (bucket: number): number => bucketBounds[bucket] ?? Infinity

/**
 * The histogram of some latencies.
 *
 * @example
 * ```ts
 * histogramOf([3, 12, 12, 480]) // 1 in the 5 ms bucket, 2 in 15 ms, 1 in 500 ms
 * ```
 */
export const histogramOf = (latenciesMs: Iterable<number>): Array<number> => {
  const buckets = new Array<number>(bucketCount).fill(0)
  for (const latency of latenciesMs) buckets[bucketOf(latency)]!++
  return buckets
}

/** The summary of one request. */
export const summaryOf = (request: { readonly status: number; readonly latencyMs: number }): EndpointSummary => {
  const buckets = new Array<number>(bucketCount).fill(0)
  buckets[bucketOf(request.latencyMs)] = 1
  return { requests: 1, errors: request.status >= 500 ? 1 : 0, buckets }
}

/** Adds two histograms bucket by bucket. */
export const addHistograms = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): Array<number> => {
  const out = new Array<number>(Math.max(a.length, b.length))
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) + (b[i] ?? 0)
  return out
}

/** Takes histogram `b` out of `a`, bucket by bucket (`b` must have gone into `a`). */
export const subtractHistograms = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): Array<number> => {
  const out = new Array<number>(Math.max(a.length, b.length))
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) - (b[i] ?? 0)
  return out
}

/**
 * The summary of both sets of requests: associative and commutative, the window's `reduce`.
 *
 * @example
 * ```ts
 * merge(summaryOf({ status: 200, latencyMs: 12 }), summaryOf({ status: 503, latencyMs: 3 })) // 2 requests, 1 error
 * ```
 */
export const merge = (a: EndpointSummary, b: EndpointSummary): EndpointSummary => ({
  requests: a.requests + b.requests,
  errors: a.errors + b.errors,
  buckets: addHistograms(a.buckets, b.buckets)
})

/**
 * Takes `leaving` out of `total`: `unmerge(merge(a, b), b)` equals `a`. The window's `inverse`, so
 * a sliding window adds the interval that enters and subtracts the one that leaves.
 */
export const unmerge = (total: EndpointSummary, leaving: EndpointSummary): EndpointSummary => ({
  requests: total.requests - leaving.requests,
  errors: total.errors - leaving.errors,
  buckets: subtractHistograms(total.buckets, leaving.buckets)
})

/**
 * The nearest-rank percentile of a histogram, as the upper bound of the bucket it falls in (so
 * "p95 = 80" reads "95% of requests took at most 80 ms"); `Infinity` when it falls in the overflow
 * bucket, undefined for an empty histogram. Since bucketing keeps order, this is the bucket of
 * the sorted samples' nearest-rank percentile.
 *
 * @example
 * ```ts
 * percentile(histogramOf([10, 20, 30, 1000]), 95) // 1000 (rank 4 of 4)
 * percentile(histogramOf([10, 20, 30, 1000]), 50) // 20
 * ```
 */
export const percentile = (buckets: ReadonlyArray<number>, percent: number): number | undefined => {
  let total = 0
  for (const n of buckets) total += n
  if (total <= 0) return undefined
  const rank = nearestRank(total, percent)
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!
    if (seen >= rank) return boundOf(i)
  }
  return boundOf(buckets.length - 1)
}

/** The 1-based rank of the nearest-rank `percent` percentile among `count` samples. */
export const nearestRank = (count: number, percent: number): number => Math.min(count, Math.max(1, Math.ceil((percent * count) / 100)))

/** The share of requests that failed, 0..1 (0 for no requests). */
export const errorRate = (summary: EndpointSummary): number => (summary.requests === 0 ? 0 : summary.errors / summary.requests)

/** When an endpoint is in trouble: its error rate above `maxErrorRate`, over at least `minRequests` requests. */
export interface AlertRule {
  /** 0..1, e.g. 0.05 for 5%. The rate must be strictly above it. */
  readonly maxErrorRate: number
  /** Fewer requests than this never alert: 1 error in 3 requests is not an incident. */
  readonly minRequests: number
}

/** The demo's rule: more than 5% errors over at least 20 requests in the window. */
export const defaultAlertRule: AlertRule = { maxErrorRate: 0.05, minRequests: 20 }

/** Whether a window's summary breaks the rule. */
export const breaches = (summary: EndpointSummary, rule: AlertRule = defaultAlertRule): boolean =>
  summary.requests >= rule.minRequests && errorRate(summary) > rule.maxErrorRate

/** How the set of alerting endpoints changed with a new window. */
export interface AlertChanges {
  /** Endpoints that crossed the threshold in this window. */
  readonly fired: ReadonlyArray<string>
  /** Endpoints that were alerting and no longer are (or had no traffic in the window). */
  readonly resolved: ReadonlyArray<string>
  /** Every endpoint alerting after this window. */
  readonly active: ReadonlySet<string>
}

/**
 * Edge-triggered alerting: given the endpoints alerting before and a window's summaries, which
 * endpoints start alerting (an ALERT line each) and which stop. An endpoint absent from the window
 * had no requests in it, so it does not breach.
 *
 * @example
 * ```ts
 * alertChanges(new Set(), [["POST /api/checkout", { requests: 40, errors: 9, buckets }]]) // fired: ["POST /api/checkout"]
 * ```
 */
export const alertChanges = (
  active: ReadonlySet<string>,
  window: Iterable<readonly [endpoint: string, summary: EndpointSummary]>,
  rule: AlertRule = defaultAlertRule
): AlertChanges => {
  const now = new Set<string>()
  for (const [endpoint, summary] of window) if (breaches(summary, rule)) now.add(endpoint)
  return {
    fired: [...now].filter((e) => !active.has(e)).sort(),
    resolved: [...active].filter((e) => !now.has(e)).sort(),
    active: now
  }
}
