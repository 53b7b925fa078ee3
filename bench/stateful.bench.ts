/**
 * A stateful pipeline against the same work written by hand: decode -> map -> keyed window reduce
 * -> sink over an in-memory source, and its peak RSS at two record counts (child processes).
 */
import { spawnSync } from "node:child_process"
import * as os from "node:os"
import { PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { blackholeValue, consume, median } from "./harness.js"
import { log } from "./pipelineRun.js"
import { chunkRecords, codec, handLoop, maxBatchRecords, type RunResult, runPipeline, shards } from "./statefulRun.js"
import { type CommitCount, makePool } from "./statefulSource.js"

// BENCH_STATEFUL_RECORDS sizes the timed runs, BENCH_STATEFUL_RSS the child runs (comma-separated).
const timedRecords = Number(process.env.BENCH_STATEFUL_RECORDS ?? 1_000_000)
const rssRecords = (process.env.BENCH_STATEFUL_RSS ?? "1000000,10000000").split(",").filter((s) => s !== "").map(Number)
const rounds = 5
// BENCH_STATEFUL_DECODE_IN_MAP=1 adds a third case: raw bytes through the batcher, decoded in the map step.
const decodeInMap = process.env.BENCH_STATEFUL_DECODE_IN_MAP === "1"

// ---- peak RSS, in a child process per record count ---------------------------------------------

interface RssResult {
  readonly records: number
  readonly maxRssMb: number
  readonly heapUsedMb: number
  readonly ms: number
}

/** In the child: one pipeline run over `n` records, then its peak RSS as one JSON line. */
const rssChild = async (n: number) => {
  const result = await runPipeline(makePool(), n)
  const out: RssResult = {
    records: n,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    heapUsedMb: process.memoryUsage().heapUsed / 1024 / 1024,
    ms: result.ms
  }
  console.log(JSON.stringify(out))
}

const measureRss = (n: number): RssResult => {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, STATEFUL_BENCH_CHILD: String(n) },
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8"
  })
  if (child.status !== 0) throw new Error(`rss child for ${n} records exited with ${child.status}`)
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as RssResult
}

// ---- garbage collection per run ------------------------------------------------------------------

/** A run and when it ran (performance.now), to attribute GC pauses to it. */
interface Timed extends RunResult {
  readonly from: number
  readonly to: number
}

/** Records every GC pause from now on; `msWithin` sums those that started in a time span. */
const watchGc = () => {
  const pauses: Array<{ readonly start: number; readonly ms: number }> = []
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push({ start: e.startTime, ms: e.duration })
  })
  observer.observe({ entryTypes: ["gc"] })
  return {
    stop: () => observer.disconnect(),
    msWithin: (from: number, to: number) => pauses.reduce((sum, p) => (p.start >= from && p.start < to ? sum + p.ms : sum), 0)
  }
}

// ---- main --------------------------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
const rate = (r: RunResult) => r.records / (r.ms / 1000)

const renderTable = (rows: ReadonlyArray<{ readonly name: string; readonly runs: ReadonlyArray<RunResult> }>, baseline: number) => {
  const header = ["case", "records", "records/s (median)", "spread records/s (min..max)", "ratio vs hand loop", "median ms (min-max, runs)"]
  const cells = rows.map(({ name, runs }) => {
    const rates = runs.map(rate)
    const ms = runs.map((r) => r.ms)
    return [
      name,
      fmt(runs[0]!.records),
      fmt(median(rates)),
      `${fmt(Math.min(...rates))}..${fmt(Math.max(...rates))}`,
      (median(rates) / baseline).toFixed(2),
      `${median(ms).toFixed(0)} (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)}, ${runs.length})`
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.map(line)].join("\n")
}

/** A contender: runs `n` records and answers what it did. */
interface Case {
  readonly id: string
  readonly name: string
  readonly run: () => Promise<RunResult> | RunResult
  readonly runs: Array<Timed>
}

const main = async () => {
  const benchStarted = performance.now()
  const pool = makePool()
  log(`stateful bench: node ${process.version}, ${os.cpus().length} cpus, pool of ${pool.bytes.length} access-log events (mean ${pool.meanBytes.toFixed(1)} B), ${fmt(timedRecords)} records a run`)

  const commits: CommitCount = { batches: 0, states: 0, stateBytes: 0 }
  const cases: Array<Case> = [
    {
      id: "pipeline",
      name: "pipeline: decode > map > reduceByKeyAndWindow > foreachBatch",
      run: () => runPipeline(pool, timedRecords, commits),
      runs: []
    },
    { id: "handLoop", name: "hand loop: fromBinary + Map window (baseline)", run: () => handLoop(pool, timedRecords), runs: [] }
  ]
  if (decodeInMap) {
    cases.push({
      id: "pipelineDecodeInMap",
      name: "pipeline, decoded in the map step (Codec.bytes)",
      run: () => runPipeline(pool, timedRecords, undefined, "map"),
      runs: []
    })
  }
  const [pipeline, hand] = cases as [Case, Case]

  log(`  warm-up: ${cases.map((c) => c.id).join(", ")}`)
  for (const c of cases) consume((await c.run()).checksum)

  // Interleaved p h, h p, p h, ...: drift and the other case's garbage fall on both alike.
  const gc = watchGc()
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
      const from = performance.now()
      const r = await c.run()
      consume(r.checksum)
      c.runs.push({ ...r, from, to: performance.now() })
    }
    log(`  round ${round + 1}/${rounds}: ${cases.map((c) => `${c.id} ${fmt(rate(c.runs[round]!))}`).join(", ")} records/s`)
  }
  // GC entries arrive on the event loop: let the last ones in before reading them.
  await new Promise((resolve) => setTimeout(resolve, 20))
  gc.stop()
  const gcMs = (c: Case) => median(c.runs.map((r) => gc.msWithin(r.from, r.to)))
  const rateOf = (c: Case) => median(c.runs.map(rate))
  const handRate = rateOf(hand)
  const ratio = rateOf(pipeline) / handRate

  const rss: Array<RssResult> = []
  for (const n of rssRecords) {
    log(`  peak RSS: pipeline alone over ${fmt(n)} records in a child process`)
    rss.push(measureRss(n))
    log(`    ${rss[rss.length - 1]!.maxRssMb.toFixed(1)} MB in ${(rss[rss.length - 1]!.ms / 1000).toFixed(1)} s`)
  }
  const rssRatio = rss.length >= 2 ? rss[rss.length - 1]!.maxRssMb / rss[0]!.maxRssMb : 1

  log("done")
  console.log(renderTable(cases, handRate))
  console.log("")
  console.log(`input: ${pool.bytes.length} AccessLogEvents cycled (mean ${pool.meanBytes.toFixed(1)} B, ${pool.endpoints} endpoints), ${shards} shards x chunks of ${fmt(chunkRecords)}, batches close at ${fmt(maxBatchRecords)} records; codec ${codec.name} (fromBinary).`)
  console.log(`ratio pipeline / hand loop (medians of ${rounds}, interleaved): ${ratio.toFixed(3)} (target >= 0.90: ${ratio >= 0.9 ? "met" : "NOT met"}).`)
  console.log(`window emissions per run: pipeline ${pipeline.runs.map((r) => r.emissions).join("/")} (every 2 s of processing time), hand loop ${hand.runs[0]!.emissions} (every 2 slots of 10k records); pipeline state commits: ${fmt(commits.states / (rounds + 1))} per run, ${fmt(commits.stateBytes / Math.max(1, commits.states))} B each.`)
  const gcShare = (c: Case) => `${gcMs(c).toFixed(0)} ms (${((100 * gcMs(c)) / median(c.runs.map((r) => r.ms))).toFixed(0)}%)`
  console.log(`garbage collection per run (median, share of the run): ${cases.map((c) => `${c.id} ${gcShare(c)}`).join(", ")}.`)
  for (const r of rss) {
    console.log(`peak RSS, pipeline alone over ${fmt(r.records)} records: ${r.maxRssMb.toFixed(1)} MB (heap at end ${r.heapUsedMb.toFixed(1)} MB, ${(r.ms / 1000).toFixed(1)} s, ${fmt(r.records / (r.ms / 1000))} records/s)`)
  }
  if (rss.length >= 2) {
    console.log(`peak RSS ratio ${fmt(rss[rss.length - 1]!.records)} / ${fmt(rss[0]!.records)} records: ${rssRatio.toFixed(2)} (must not grow with the record count).`)
  }
  const totalSeconds = (performance.now() - benchStarted) / 1000
  console.log(`total ${totalSeconds.toFixed(1)} s`)

  console.log(JSON.stringify({
    bench: "shardline/stateful",
    node: process.version,
    cpus: os.cpus().length,
    records: timedRecords,
    meanRecordBytes: Number(pool.meanBytes.toFixed(1)),
    codec: codec.name,
    cases: cases.map((c) => ({
      id: c.id,
      name: c.name,
      recordsPerSecond: Math.round(rateOf(c)),
      minRecordsPerSecond: Math.round(Math.min(...c.runs.map(rate))),
      maxRecordsPerSecond: Math.round(Math.max(...c.runs.map(rate))),
      ratio: Number((rateOf(c) / handRate).toFixed(3)),
      gcMsPerRun: Math.round(gcMs(c)),
      runsMs: c.runs.map((r) => Number(r.ms.toFixed(1)))
    })),
    ratio: Number(ratio.toFixed(3)),
    targetMet: ratio >= 0.9,
    rss: rss.map((r) => ({ records: r.records, maxRssMb: Number(r.maxRssMb.toFixed(1)), seconds: Number((r.ms / 1000).toFixed(1)) })),
    rssRatio: Number(rssRatio.toFixed(3)),
    totalSeconds: Number(totalSeconds.toFixed(1)),
    checksum: blackholeValue()
  }))
}

const child = process.env.STATEFUL_BENCH_CHILD
;(child === undefined ? main() : rssChild(Number(child))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
