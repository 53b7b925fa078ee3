import { spawn } from "node:child_process"
import { join } from "node:path"
import { toBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { type AccessLogEvent, AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { accessLogs, endpoints, partitionKeyOf } from "../examples/access-logs/events.js"
import { endpointWindows } from "../examples/access-logs/pipeline.js"
import { type WindowReport, windowReporter } from "../examples/access-logs/report.js"
import {
  alertChanges,
  boundOf,
  bucketBounds,
  bucketCount,
  bucketOf,
  defaultAlertRule,
  type EndpointSummary,
  emptySummary,
  histogramOf,
  merge,
  nearestRank,
  percentile,
  summaryOf,
  unmerge
} from "../examples/access-logs/summary.js"
import type { Batch } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"

// fast-check 4 directly: it.prop from @effect/vitest runs effect's bundled fast-check 3.
const property = <A>(name: string, arbitrary: fc.Arbitrary<A>, predicate: (value: A) => void) =>
  it(name, () => fc.assert(fc.property(arbitrary, predicate), { numRuns: 300 }))

const request = fc.record({
  status: fc.constantFrom(200, 201, 304, 401, 404, 429, 500, 502, 503, 504),
  // Up to past the last bound, so the overflow bucket is exercised.
  latencyMs: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 15_000 }))
})
const requests = fc.array(request, { maxLength: 60 })
const summarize = (rs: ReadonlyArray<{ readonly status: number; readonly latencyMs: number }>): EndpointSummary =>
  rs.map(summaryOf).reduce(merge, emptySummary)

/** The nearest-rank percentile of the samples themselves, reported as the bound of its bucket. */
const naivePercentile = (latencies: ReadonlyArray<number>, percent: number): number | undefined => {
  if (latencies.length === 0) return undefined
  const sorted = [...latencies].sort((a, b) => a - b)
  return boundOf(bucketOf(sorted[nearestRank(sorted.length, percent) - 1]!))
}

describe("access-logs example: summaries and histograms", () => {
  property("a latency falls in the first bucket whose bound is at least it", fc.integer({ min: 0, max: 20_000 }), (ms) => {
    const b = bucketOf(ms)
    expect(ms).toBeLessThanOrEqual(boundOf(b))
    if (b > 0) expect(ms).toBeGreaterThan(bucketBounds[b - 1]!)
  })

  property("merge then unmerge is the identity", fc.tuple(requests, requests), ([a, b]) => {
    const sa = summarize(a)
    expect(unmerge(merge(sa, summarize(b)), summarize(b))).toEqual(sa)
    expect(unmerge(merge(summarize(b), sa), summarize(b))).toEqual(sa)
  })

  property("merging summaries is summarizing the concatenated requests, in any order", fc.tuple(requests, requests, requests), ([a, b, c]) => {
    const whole = summarize([...a, ...b, ...c])
    expect(merge(merge(summarize(a), summarize(b)), summarize(c))).toEqual(whole)
    expect(merge(summarize(c), merge(summarize(b), summarize(a)))).toEqual(whole)
    expect(whole).toEqual({
      requests: a.length + b.length + c.length,
      errors: [...a, ...b, ...c].filter((r) => r.status >= 500).length,
      buckets: histogramOf([...a, ...b, ...c].map((r) => r.latencyMs))
    })
    expect(whole.buckets).toHaveLength(bucketCount)
  })

  property(
    "p95 (and any percentile) of a merged histogram is the bucket of the concatenated samples' percentile",
    fc.tuple(requests, requests, fc.integer({ min: 1, max: 100 })),
    ([a, b, p]) => {
      const merged = merge(summarize(a), summarize(b))
      const samples = [...a, ...b].map((r) => r.latencyMs)
      expect(percentile(merged.buckets, 95)).toBe(naivePercentile(samples, 95))
      expect(percentile(merged.buckets, p)).toBe(naivePercentile(samples, p))
    }
  )

  property("merge and unmerge never change their arguments", fc.tuple(requests, requests), ([a, b]) => {
    const sa = summarize(a)
    const sb = summarize(b)
    const copies = structuredClone([sa, sb])
    unmerge(merge(sa, sb), sb)
    expect([sa, sb]).toEqual(copies)
  })

  it("percentiles of a small histogram, and of none", () => {
    expect(percentile(histogramOf([10, 20, 30, 1000]), 95)).toBe(1000)
    expect(percentile(histogramOf([10, 20, 30, 1000]), 50)).toBe(20)
    expect(percentile(histogramOf([12, 12, 12, 99_000]), 95)).toBe(Infinity)
    expect(percentile(emptySummary.buckets, 95)).toBeUndefined()
  })

  it("alerts are edge-triggered: an ALERT when the rule is first broken, a resolution when it no longer is", () => {
    const window = (errors: number, requests: number): EndpointSummary => ({ ...emptySummary, requests, errors })
    const first = alertChanges(new Set(), [["a", window(2, 20)], ["b", window(1, 20)], ["c", window(5, 19)]])
    // 10% of 20 breaks the rule; 5% exactly does not; 19 requests are too few.
    expect(first).toEqual({ fired: ["a"], resolved: [], active: new Set(["a"]) })
    const still = alertChanges(first.active, [["a", window(3, 20)]])
    expect(still).toEqual({ fired: [], resolved: [], active: new Set(["a"]) })
    expect(alertChanges(still.active, [["a", window(1, 40)]])).toEqual({ fired: [], resolved: ["a"], active: new Set() })
    // An endpoint that had no traffic in the window does not breach.
    expect(alertChanges(still.active, []).resolved).toEqual(["a"])
    expect(defaultAlertRule).toEqual({ maxErrorRate: 0.05, minRequests: 20 })
  })
})

/** An event put, with where it went. */
interface Placed {
  readonly event: AccessLogEvent
  readonly shardId: string
  readonly sequenceNumber: bigint
}

/** Which events each batch read, from the batches' checkpoints (a run without restarts). */
const inputsOf = (batches: ReadonlyArray<Batch<unknown>>, placed: ReadonlyArray<Placed>): Array<Array<AccessLogEvent>> => {
  const position = new Map<string, bigint>()
  return batches.map((batch) => {
    const inputs: Array<AccessLogEvent> = []
    for (const [shardId, checkpoint] of batch.checkpoints) {
      const from = position.get(shardId) ?? -1n
      const to = checkpoint._tag === "Sequence" ? BigInt(checkpoint.sequenceNumber) : 2n ** 200n
      for (const p of placed) if (p.shardId === shardId && p.sequenceNumber > from && p.sequenceNumber <= to) inputs.push(p.event)
      position.set(shardId, to)
    }
    return inputs
  })
}

interface NaiveRow {
  readonly endpoint: string
  readonly requests: number
  readonly errors: number
  readonly p95Ms: number | undefined
}

/** Per endpoint, straight from the events: count, 5xx, p95 from the sorted latencies. */
const naiveRows = (events: ReadonlyArray<AccessLogEvent>): Array<NaiveRow> =>
  [...new Set(events.map((e) => e.endpoint))].sort().map((endpoint) => {
    const mine = events.filter((e) => e.endpoint === endpoint)
    return {
      endpoint,
      requests: mine.length,
      errors: mine.filter((e) => e.status >= 500).length,
      p95Ms: naivePercentile(mine.map((e) => e.latencyMs), 95)
    }
  })

const interval = 1000
const windowLength = 10
const slide = 2
const burstEndpoint = "POST /api/checkout"
const rowLine = /^(\d\d:\d\d:\d\d) {2}(.+?) +(\d+) req +(\d+\.\d)% 5xx {2}p95 +(\d+ ms|>10 s|-)$/

/** The example's pipeline under PipelineTest on `shardCount` shards, its sink keeping each batch's report. */
const reportedWindows = (shardCount: number) =>
  Effect.gen(function* () {
    const report = windowReporter()
    const reports: Array<WindowReport | undefined> = []
    const test = yield* PipelineTest.make(
      endpointWindows({ streamName: "access-logs" }),
      (batch) => Effect.sync(() => reports.push(report(batch))),
      { shardCount }
    )
    return { reports, test }
  })

/** An event as the producer writes it: keyed by host, in protobuf binary. */
const recordOf = (event: AccessLogEvent) => ({ partitionKey: partitionKeyOf(event), data: toBinary(AccessLogEventSchema, event) })

describe("access-logs example: the pipeline on the test clock", () => {
  it.scoped("per endpoint, every 2 s over the last 10 s: requests, 5xx rate and p95 as a naive count gives, and one ALERT for the burst", () =>
    Effect.gen(function* () {
      const { reports, test } = yield* reportedWindows(3)
      // 26 s of traffic at 150 requests/s (virtual time starts at 0); checkout fails from 6 s to 12 s.
      const next = accessLogs({ seed: 11, burst: { endpoint: burstEndpoint, fromMs: 6000, toMs: 12_000, errorRate: 0.35 } })
      const placed: Array<Placed> = []
      for (let second = 0; second < 26; second++) {
        const events = Array.from({ length: 150 }, (_, i) => next(second * 1000 + Math.floor((i * 1000) / 150)))
        const where = yield* test.put(events.map(recordOf))
        where.forEach((w, i) => placed.push({ event: events[i]!, shardId: w.shardId, sequenceNumber: BigInt(w.sequenceNumber) }))
        yield* test.advance(1)
      }
      // Quiet until the window is empty.
      yield* test.advance(windowLength + 2)
      const batches = yield* test.batches
      expect(reports).toHaveLength(batches.length)
      const inputs = inputsOf(batches, placed)
      expect(inputs.flat()).toHaveLength(placed.length)

      // The naive windows: at the first batch of each 2 s slide, everything of the last 10 intervals.
      let previous: number | undefined
      let active = new Set<string>()
      const alertsExpected: Array<string> = []
      let windows = 0
      batches.forEach((batch, b) => {
        const slot = Math.floor(batch.closedAt.getTime() / interval)
        const before = previous ?? slot - 1
        previous = Math.max(before, slot)
        const due = Math.floor(slot / slide) > Math.floor(before / slide)
        const inWindow = due
          ? batches.flatMap((other, o) => {
            const s = Math.floor(other.closedAt.getTime() / interval)
            return s > slot - windowLength && s <= slot ? inputs[o]! : []
          })
          : []
        const expected = naiveRows(inWindow)
        const got = reports[b]
        if (expected.length === 0) {
          expect(got).toBeUndefined()
          return
        }
        windows++
        expect(got!.rows.map(({ endpoint, requests, errors, p95Ms }) => ({ endpoint, requests, errors, p95Ms }))).toEqual(expected)
        // The printed lines say the same: one per endpoint, the rate to one decimal.
        const printed = got!.lines.filter((l) => rowLine.test(l)).map((l) => rowLine.exec(l)!)
        expect(printed.map((m) => [m[2], Number(m[3]), m[4]])).toEqual(
          expected.map((r) => [r.endpoint, r.requests, ((r.errors / r.requests) * 100).toFixed(1)])
        )
        expect(new Set(printed.map((m) => m[1]))).toEqual(new Set([batch.closedAt.toISOString().slice(11, 19)]))
        // Alerts, naively: > 5% errors over at least 20 requests, announced when first crossed.
        const breaching = new Set(expected.filter((r) => r.requests >= 20 && r.errors / r.requests > 0.05).map((r) => r.endpoint))
        const crossed = [...breaching].filter((e) => !active.has(e)).sort()
        expect(got!.fired.map((r) => r.endpoint)).toEqual(crossed)
        alertsExpected.push(...crossed.map((e) => `${b}:${e}`))
        active = breaching
      })
      expect(windows).toBeGreaterThanOrEqual(14)

      const alertLines = reports.flatMap((r) => r?.lines.filter((l) => l.startsWith("ALERT")) ?? [])
      const fired = reports.flatMap((r, b) => r?.fired.map((row) => `${b}:${row.endpoint}`) ?? [])
      expect(fired).toEqual(alertsExpected)
      // The burst endpoint alerts once, with the window's exact figures, and no other endpoint does.
      expect(alertsExpected.map((a) => a.split(":").slice(1).join(":"))).toEqual([burstEndpoint])
      expect(alertLines).toHaveLength(1)
      const alertAt = Number(alertsExpected[0]!.split(":")[0])
      const burstRow = reports[alertAt]!.rows.find((r) => r.endpoint === burstEndpoint)!
      expect(alertLines[0]).toBe(
        `ALERT ${batches[alertAt]!.closedAt.toISOString().slice(11, 19)}  ${burstEndpoint}: ` +
          `5xx rate ${((burstRow.errors / burstRow.requests) * 100).toFixed(1)}% ` +
          `(${burstRow.errors} of ${burstRow.requests} requests in the last 10 s), above 5.0%`
      )
      // The alert came while the burst was on, and resolved once it had slid out of the window.
      expect(batches[alertAt]!.closedAt.getTime()).toBeGreaterThan(6000)
      expect(batches[alertAt]!.closedAt.getTime()).toBeLessThanOrEqual(12_000)
      const resolved = reports.flatMap((r) => r?.lines.filter((l) => l.startsWith("RESOLVED")) ?? [])
      expect(resolved).toHaveLength(1)
      expect(resolved[0]).toContain(burstEndpoint)
      // The burst shows in the latency too: checkout's 504s take about 3 s.
      expect(burstRow.p95Ms).toBe(4000)
      expect(new Set(reports.flatMap((r) => r?.rows.map((row) => row.endpoint) ?? []))).toEqual(new Set(endpoints))
    }))

  it.scoped("the window is checkpointed: after a crash and restart the next windows still count the last 10 s", () =>
    Effect.gen(function* () {
      const { reports, test } = yield* reportedWindows(2)
      const next = accessLogs({ seed: 3 })
      const put = (second: number) =>
        test.put(Array.from({ length: 20 }, (_, i) => next(second * 1000 + i * 50)).map(recordOf))
      for (let second = 0; second < 6; second++) {
        yield* put(second)
        yield* test.advance(1)
      }
      yield* test.crash()
      yield* test.restart
      for (let second = 6; second < 9; second++) {
        yield* put(second)
        yield* test.advance(1)
      }
      yield* test.drain()
      yield* test.advance(1)
      // Nothing read twice, nothing lost: the last window (9 intervals of 20 requests) holds all of them.
      const last = reports.filter((r) => r !== undefined).at(-1)!
      expect(last.rows.reduce((n, r) => n + r.requests, 0)).toBe(9 * 20)
    }))
})

describe("access-logs example: the demo (npm run example:logs)", () => {
  it("runs on the embedded emulator, prints windows and an ALERT for the burst, and ends by itself", async () => {
    const root = join(import.meta.dirname, "..")
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(join(root, "node_modules", ".bin", "tsx"), ["examples/access-logs/main.ts", "--seconds", "7", "--rate", "300"], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      const guard = setTimeout(() => child.kill("SIGKILL"), 25_000)
      child.on("error", reject)
      child.on("close", (code) => {
        clearTimeout(guard)
        resolve({ code, stdout, stderr })
      })
    })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const lines = run.stdout.split("\n")
    expect(lines.filter((l) => rowLine.test(l)).length).toBeGreaterThanOrEqual(2 * endpoints.length)
    expect(lines.filter((l) => l.startsWith("ALERT "))).toEqual([
      expect.stringMatching(/^ALERT \d\d:\d\d:\d\d {2}POST \/api\/checkout: 5xx rate \d+\.\d% \(\d+ of \d+ requests in the last 10 s\), above 5\.0%$/)
    ])
    expect(lines.find((l) => l.startsWith("done:"))).toMatch(/^done: \d+ batches, \d+ requests in [\d.]+ s, \d+ windows, alerts: POST \/api\/checkout; checkpoints written$/)
  }, 30_000)
})
