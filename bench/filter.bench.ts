/**
 * Filters before decode (`filter: RecordFilter...` on the source) against decoding every record
 * and filtering after (`Pipeline.filter`, fused into the decode loop): 90% of the records skipped,
 * by partition key (protobuf clickstream events) and by their first bytes (JSON events).
 *
 *   npx tsx bench/filter.bench.ts    # about 80 s on 2 cores
 */
import os from "node:os"
import { Deferred, Effect } from "effect"
import { ClickstreamEventSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { CheckpointStore, Codec, type KinesisRecord, Pipeline, RecordFilter } from "../src/index.js"
import { decodeRecords, type DecodeOptions } from "../src/pipeline/decodeChunk.js"
import { skip } from "../src/pipeline/steps.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { type Encoded, encodeEvents, preload } from "./fixtures.js"
import { blackholeValue, measureInterleaved, median, rateOf, type Result, runMain, type SyncCase } from "./harness.js"
import { log } from "./pipelineRun.js"

const records = Number(process.env.BENCH_FILTER_RECORDS ?? 200_000)
const loopRecords = Number(process.env.BENCH_FILTER_LOOP_RECORDS ?? records)
/** One record in `keepEvery` is kept. */
const keepEvery = 10
// Enough shards that each is read in one GetRecords call: the poll delay is not what is timed.
const shardCount = 32
// A stop waits for shards idling in their no-records delay: kept short so runs do not wait up to 1 s more.
const reader = { limit: 10_000, pollDelay: "200 millis", noRecordsPollDelay: "200 millis" } as const
const benchStarted = performance.now()

const protobuf = Codec.protobuf(ClickstreamEventSchema)
const json = Codec.json<{ readonly type: string }>()

// ---- inputs ------------------------------------------------------------------------------------

/** Tenant `i % 10` in front of the event's own key, so keys spread over every shard and 10% start with "tenant-0/". */
const tenantKeyed = (events: Encoded): Encoded => ({
  ...events,
  partitionKeys: events.partitionKeys.map((key, i) => `tenant-${i % keepEvery}/${key}`)
})

const keptPrefix = "tenant-0/"
const purchasePrefix = '{"type":"purchase"'

/** The same events as JSON, the type first (as a producer would write a type tag); 10% purchases. */
const jsonEvents = (events: Encoded): Encoded => {
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  let totalBytes = 0
  const bytes = events.bytes.map((b, i) => {
    const type = i % keepEvery === 0 ? "purchase" : "view"
    const out = encoder.encode(JSON.stringify({
      type,
      eventId: `evt-${i}`,
      session: events.partitionKeys[i],
      // The protobuf bytes as text keep the size and variety of a real payload.
      detail: decoder.decode(b).replace(/[^\x20-\x7e]/g, ""),
      at: 1_735_689_600_000 + i
    }))
    totalBytes += out.byteLength
    return out
  })
  return { bytes, partitionKeys: events.partitionKeys, totalBytes }
}

const asRaw = (events: Encoded, count: number): Array<KinesisRecord> =>
  Array.from({ length: count }, (_, i) => ({
    shardId: "shardId-000000000000",
    sequenceNumber: String(1_000_000 + i),
    partitionKey: events.partitionKeys[i]!,
    approximateArrivalTimestamp: new Date(1_735_689_600_000 + i),
    data: events.bytes[i]!
  }))

// ---- the decode loop alone ---------------------------------------------------------------------

const batchSize = 10_000

/** `decodeRecords` over the records in batches of 10k, as the pipeline calls it; answers the records kept. */
const decodeLoop = <A>(codec: Codec<A>, raw: ReadonlyArray<KinesisRecord>, options: DecodeOptions, expected: number) => () => {
  let kept = 0
  for (let from = 0; from < raw.length; from += batchSize) {
    const out = decodeRecords(codec, raw.slice(from, from + batchSize), options)
    if (out._tag === "Left") throw out.left
    kept += out.right.length
  }
  if (kept !== expected) throw new Error(`decode loop: kept ${kept}, expected ${expected}`)
  return kept
}

/** What `Pipeline.filter` puts in the decode loop. */
const step = (keep: (value: any, record: { readonly partitionKey: string }) => boolean) =>
  [(value: unknown, record: { readonly partitionKey: string }) => (keep(value, record) ? value : skip)]

const loopCases = (pbRaw: ReadonlyArray<KinesisRecord>, jsonRaw: ReadonlyArray<KinesisRecord>): Array<SyncCase> => {
  const kept = Math.ceil(pbRaw.length / keepEvery)
  return [
    {
      id: "loopAfter",
      name: "1 protobuf: decode all, then filter on partitionKey (baseline)",
      records: pbRaw.length,
      run: decodeLoop(protobuf, pbRaw, { steps: step((_, r) => r.partitionKey.startsWith(keptPrefix)) }, kept)
    },
    {
      id: "loopBefore",
      name: "2 protobuf: filter RecordFilter.partitionKey before decode",
      records: pbRaw.length,
      run: decodeLoop(protobuf, pbRaw, { filter: RecordFilter.partitionKey({ prefix: keptPrefix }) }, kept)
    },
    {
      id: "loopAll",
      name: "3 protobuf: decode all, keep all (no filter)",
      records: pbRaw.length,
      run: decodeLoop(protobuf, pbRaw, {}, pbRaw.length)
    },
    {
      id: "loopJsonAfter",
      name: "4 JSON: decode all, then filter on value.type",
      records: jsonRaw.length,
      run: decodeLoop(json, jsonRaw, { steps: step((value) => value.type === "purchase") }, kept)
    },
    {
      id: "loopJsonBefore",
      name: "5 JSON: filter RecordFilter.dataStartsWith before decode",
      records: jsonRaw.length,
      run: decodeLoop(json, jsonRaw, { filter: RecordFilter.dataStartsWith(purchasePrefix) }, kept)
    }
  ]
}

// ---- the whole pipeline over MemoryKinesis -----------------------------------------------------

interface PipelineCase {
  readonly id: string
  readonly name: string
  readonly stream: string
  readonly pipeline: (streamName: string) => Pipeline.Pipeline<unknown, never, CheckpointStore>
}

const source = <A>(streamName: string, codec: Codec<A>, filter?: RecordFilter) =>
  Pipeline.fromKinesis({
    streamName,
    codec,
    // Short: a last batch that closes on its interval, not its size, costs at most this.
    batchInterval: "100 millis",
    maxBatchRecords: 10_000,
    reader,
    ...(filter === undefined ? {} : { filter })
  })

const pipelineCases: ReadonlyArray<PipelineCase> = [
  {
    id: "pipelineAfter",
    name: "6 pipeline, protobuf: Pipeline.filter on partitionKey (baseline)",
    stream: "pb",
    pipeline: (s) => source(s, protobuf).pipe(Pipeline.filter((_, r) => r.partitionKey.startsWith(keptPrefix)))
  },
  {
    id: "pipelineBefore",
    name: "7 pipeline, protobuf: filter: RecordFilter.partitionKey",
    stream: "pb",
    pipeline: (s) => source(s, protobuf, RecordFilter.partitionKey({ prefix: keptPrefix }))
  },
  {
    id: "pipelineJsonAfter",
    name: "8 pipeline, JSON: Pipeline.filter on value.type",
    stream: "json",
    pipeline: (s) => source(s, json).pipe(Pipeline.filter((v) => v.type === "purchase"))
  },
  {
    id: "pipelineJsonBefore",
    name: "9 pipeline, JSON: filter: RecordFilter.dataStartsWith",
    stream: "json",
    pipeline: (s) => source(s, json, RecordFilter.dataStartsWith(purchasePrefix))
  }
]

/** Reads the whole stream with a fresh checkpoint store, until every record was read; answers ms. */
const consumeAll = (c: PipelineCase, streamName: string, count: number) =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<void>()
    let read = 0
    let kept = 0
    const started = performance.now()
    const summary = yield* c.pipeline(streamName).pipe(
      Pipeline.foreachBatch(
        (batch) =>
          Effect.suspend(() => {
            read += batch.sourceRecords
            kept += batch.records.length
            return read >= count ? Deferred.succeed(done, undefined) : Effect.void
          }),
        { stopWhen: Deferred.await(done) }
      ),
      Effect.provide(CheckpointStore.layerMemory)
    )
    const ms = performance.now() - started
    const expected = Math.ceil(count / keepEvery)
    if (kept !== expected || summary.records !== count) {
      return yield* Effect.dieMessage(`${c.name}: kept ${kept} (expected ${expected}), read ${summary.records} (expected ${count})`)
    }
    return ms
  })

const measurePipelines = (pb: Encoded, js: Encoded, count: number, warmUp: number, rounds: number) =>
  Effect.gen(function* () {
    for (const [name, events] of [["pb", pb], ["json", js]] as const) {
      yield* preload(`${name}-warmup`, events, warmUp)
      const started = performance.now()
      yield* preload(name, events, count)
      log(`    preloaded ${count.toLocaleString("en-US")} ${name} records in ${(performance.now() - started).toFixed(0)} ms`)
    }
    for (const c of pipelineCases) yield* consumeAll(c, `${c.stream}-warmup`, warmUp)
    const runsMs = pipelineCases.map((): Array<number> => [])
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < pipelineCases.length; k++) {
        const i = (round + k) % pipelineCases.length
        runsMs[i]!.push(yield* consumeAll(pipelineCases[i]!, pipelineCases[i]!.stream, count))
      }
    }
    return pipelineCases.map((c, i): Result => ({ id: c.id, name: c.name, records: count, runsMs: runsMs[i]! }))
  }).pipe(
    Effect.provide(MemoryKinesis.layer({
      streams: ["pb", "pb-warmup", "json", "json-warmup"].map((name) => ({ name, shardCount }))
    }))
  )

// ---- main --------------------------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

const table = (results: ReadonlyArray<Result>, baselineOf: (r: Result) => Result) => {
  const header = ["case", "records", "records/s", "ratio vs its baseline", "median ms (min-max, runs)"]
  const rows = results.map((r) => [
    r.name,
    r.records.toLocaleString("en-US"),
    fmt(rateOf(r)),
    (rateOf(r) / rateOf(baselineOf(r))).toFixed(2),
    `${median(r.runsMs).toFixed(1)} (${Math.min(...r.runsMs).toFixed(1)}-${Math.max(...r.runsMs).toFixed(1)}, ${r.runsMs.length})`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n")
}

const main = async () => {
  log(`encoding ${records.toLocaleString("en-US")} clickstream events (protobuf and JSON)`)
  const pb = tenantKeyed(encodeEvents(Math.max(records, loopRecords)))
  const js = jsonEvents(pb)
  log(`filter bench: node ${process.version}, ${os.cpus().length} cpus, avg ${(pb.totalBytes / pb.bytes.length).toFixed(0)} B protobuf, ${(js.totalBytes / js.bytes.length).toFixed(0)} B JSON, 1 in ${keepEvery} kept`)

  log("  decode loop (1-5), interleaved: 1 warm-up + 5 rounds")
  const loop = measureInterleaved(loopCases(asRaw(pb, loopRecords), asRaw(js, loopRecords)), 5, 1)

  log(`  pipelines over MemoryKinesis (6-9), ${shardCount} shards: warm-up, then 5 rounds interleaved`)
  const pipelines = await Effect.runPromise(measurePipelines(pb, js, records, Math.min(records, 20_000), 5))

  const byId = (id: string) => [...loop, ...pipelines].find((r) => r.id === id)!
  const baselines: Record<string, string> = {
    loopAfter: "loopAfter", loopBefore: "loopAfter", loopAll: "loopAfter",
    loopJsonAfter: "loopJsonAfter", loopJsonBefore: "loopJsonAfter",
    pipelineAfter: "pipelineAfter", pipelineBefore: "pipelineAfter",
    pipelineJsonAfter: "pipelineJsonAfter", pipelineJsonBefore: "pipelineJsonAfter"
  }
  const baselineOf = (r: Result) => byId(baselines[r.id]!)
  const results = [...loop, ...pipelines]
  const ratio = (id: string) => rateOf(byId(id)) / rateOf(baselineOf(byId(id)))

  log("done")
  console.log(table(results, baselineOf))
  console.log("")
  console.log("ratio = records/s of the case / records/s of its baseline (decode all, then filter), medians, same run; records/s counts every record read, kept or not.")
  // The whole pipeline's runs spread widely on a busy machine: the fastest runs compared too.
  const best = (id: string) => Math.min(...baselineOf(byId(id)).runsMs) / Math.min(...byId(id).runsMs)
  console.log(`filter before decode, 90% skipped: decode loop ${ratio("loopBefore").toFixed(2)}x (protobuf, by partition key), ${ratio("loopJsonBefore").toFixed(2)}x (JSON, by bytes); whole pipeline ${ratio("pipelineBefore").toFixed(2)}x / ${ratio("pipelineJsonBefore").toFixed(2)}x (fastest runs: ${best("pipelineBefore").toFixed(2)}x / ${best("pipelineJsonBefore").toFixed(2)}x).`)
  const totalSeconds = (performance.now() - benchStarted) / 1000
  console.log(`total ${totalSeconds.toFixed(1)} s`)
  console.log(JSON.stringify({
    bench: "shardline/filter",
    node: process.version,
    cpus: os.cpus().length,
    keepEvery,
    cases: results.map((r) => ({
      id: r.id,
      name: r.name,
      records: r.records,
      recordsPerSecond: Math.round(rateOf(r)),
      baseline: baselines[r.id],
      ratio: Number(ratio(r.id).toFixed(3)),
      bestRatio: Number(best(r.id).toFixed(3)),
      medianMs: Number(median(r.runsMs).toFixed(1)),
      runsMs: r.runsMs.map((ms) => Number(ms.toFixed(1)))
    })),
    totalSeconds: Number(totalSeconds.toFixed(1)),
    checksum: blackholeValue()
  }))
}

runMain(main)
