/**
 * The typed producer (`Producer.make` + `putAll`) against a hand loop doing the same client-side
 * work, plain and with KPL aggregation, over a Kinesis that answers every PutRecords at once.
 */
import type { PutRecordsCommandInput, PutRecordsCommandOutput, PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import * as os from "node:os"
import { Effect, Layer } from "effect"
import { partitionKeyOf, randomEvent, seededRandom } from "../examples/clickstream/events.js"
import { type ClickstreamEvent, ClickstreamEventSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Codec, Kinesis, type KinesisApi, Producer, type PutResult } from "../src/index.js"
import { AggregateBuilder } from "../src/producer/aggregate.js"
import { MAX_CALL_BYTES, MAX_CALL_RECORDS, MAX_RECORD_BYTES, utf8Length } from "../src/kinesis/limits.js"
import { isAggregated } from "../src/kpl/index.js"
import { ShardMap } from "../src/producer/shardMap.js"
import { hashKeyOf } from "../src/state/routing.js"
import { blackholeValue, consume, median, type Result, runMain } from "./harness.js"
import { log } from "./pipelineRun.js"

// BENCH_PRODUCER_RECORDS sizes a run; a multiple of 10,000 (the default maxBufferedRecords) keeps
// every call due at once, so no run waits out the 100 ms linger on its last records.
const records = Number(process.env.BENCH_PRODUCER_RECORDS ?? 40_000)
const rounds = 5
const warmups = 1
const shardCount = 4
const aggregateBytes = 50 * 1024
const streamName = "bench"

// ---- input: clickstream events as messages (the producer encodes them) -------------------------

const epochMs = Date.UTC(2025, 0, 1)
const random = seededRandom(42)
const messages: ReadonlyArray<ClickstreamEvent> = Array.from({ length: records }, (_, i) => randomEvent(random, epochMs + i, i))
const codec = Codec.protobuf(ClickstreamEventSchema)

// ---- a Kinesis that stores nothing and answers at once -----------------------------------------

const shardIdOf = (i: number) => `shardId-${String(i).padStart(12, "0")}`
const width = 2n ** 128n / BigInt(shardCount)
const shardRanges = Array.from({ length: shardCount }, (_, i) => ({
  shardId: shardIdOf(i),
  start: width * BigInt(i),
  end: i === shardCount - 1 ? 2n ** 128n - 1n : width * BigInt(i + 1) - 1n
}))
const shardMap = new ShardMap(shardRanges)

/** Calls and entries answered, to report entries per call. */
const served = { calls: 0, entries: 0 }
let sequence = 0

/**
 * The service's answer: every entry stored. With `route`, on the shard its hash key falls in (the
 * aggregating producer checks its prediction); otherwise on shard 0 (the plain producer does not
 * look). Both the producer and the baseline pay for it.
 */
const answer = (request: ReadonlyArray<PutRecordsRequestEntry>, route: boolean): Omit<PutRecordsCommandOutput, "$metadata"> => {
  served.calls++
  served.entries += request.length
  const out = new Array<{ ShardId: string; SequenceNumber: string }>(request.length)
  for (let i = 0; i < request.length; i++) {
    const r = request[i]!
    const shardId = route
      ? shardMap.shardOf(r.ExplicitHashKey === undefined ? hashKeyOf(r.PartitionKey!) : BigInt(r.ExplicitHashKey))!
      : shardIdOf(0)
    out[i] = { ShardId: shardId, SequenceNumber: String(++sequence) }
  }
  return { FailedRecordCount: 0, Records: out }
}

const unused = () => Effect.dieMessage("bench Kinesis: only ListShards and PutRecords")
const memoryless = (route: boolean): KinesisApi => ({
  createStream: unused,
  describeStreamSummary: unused,
  listShards: () =>
    Effect.succeed({
      Shards: shardRanges.map((r) => ({
        ShardId: r.shardId,
        HashKeyRange: { StartingHashKey: r.start.toString(), EndingHashKey: r.end.toString() },
        SequenceNumberRange: { StartingSequenceNumber: "0" }
      }))
    }),
  getShardIterator: unused,
  getRecords: unused,
  putRecord: unused,
  putRecords: (input: PutRecordsCommandInput) => Effect.sync(() => answer(input.Records ?? [], route)),
  splitShard: unused,
  mergeShards: unused,
  deleteStream: unused
})

// ---- the producer ------------------------------------------------------------------------------

/** Checksum of the answers, and that every message got one. */
const checksumOf = (results: ReadonlyArray<PutResult>): number => {
  if (results.length !== records) throw new Error(`${results.length} results for ${records} messages`)
  let check = 0
  for (const r of results) check += r.subSequenceNumber + r.sequenceNumber.length
  return check
}

const runProducer = (aggregate: boolean) => {
  const layer = Layer.succeed(Kinesis, memoryless(aggregate))
  const program = Effect.scoped(
    Effect.gen(function* () {
      const producer = yield* Producer.make({ streamName, codec, partitionKey: partitionKeyOf, aggregate })
      return checksumOf(yield* producer.putAll(messages))
    })
  ).pipe(Effect.provide(layer))
  return () => Effect.runPromise(program)
}

// ---- the baseline: the same client-side work in a plain loop ----------------------------------

/** Collects PutRecords entries into calls of at most 500 entries and 5 MiB, and sends each. */
const makeCalls = (route: boolean) => {
  const results: Array<PutResult> = []
  let entries: Array<PutRecordsRequestEntry> = []
  /** How many user records each entry carries (1 unless aggregated). */
  let users: Array<number> = []
  let bytes = 0
  const send = () => {
    const out = answer(entries, route).Records!
    for (let i = 0; i < entries.length; i++) {
      const { ShardId, SequenceNumber } = out[i]!
      const n = users[i]!
      const aggregated = n > 1 || isAggregated(entries[i]!.Data!)
      for (let k = 0; k < n; k++) {
        results.push({ shardId: ShardId!, sequenceNumber: SequenceNumber!, subSequenceNumber: aggregated ? k : 0 })
      }
    }
    entries = []
    users = []
    bytes = 0
  }
  return {
    add: (entry: PutRecordsRequestEntry, size: number, count: number) => {
      if (entries.length === MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES) send()
      entries.push(entry)
      users.push(count)
      bytes += size
    },
    end: () => {
      if (entries.length > 0) send()
      return results
    }
  }
}

/** Partition key, encode, the 1 MiB check: what the producer does to each message before buffering. */
const encodeOne = (message: ClickstreamEvent) => {
  const partitionKey = partitionKeyOf(message)
  if (partitionKey.length < 1 || partitionKey.length > 256) throw new Error("bad partition key")
  const data = codec.encode(message)
  const size = data.length + utf8Length(partitionKey)
  if (size > MAX_RECORD_BYTES) throw new Error("record too large")
  return { partitionKey, data, size }
}

const baselinePlain = (): number => {
  const calls = makeCalls(false)
  for (const message of messages) {
    const { data, partitionKey, size } = encodeOne(message)
    calls.add({ PartitionKey: partitionKey, Data: data }, size, 1)
  }
  return checksumOf(calls.end())
}

interface Open {
  readonly builder: AggregateBuilder
  readonly partitionKey: string
  readonly first: Uint8Array
  size: number
}

const baselineAggregated = (): number => {
  const calls = makeCalls(true)
  const openByShard = new Map<string | undefined, Open>()
  const close = (open: Open) => {
    const alone = open.builder.count === 1 && !isAggregated(open.first)
    calls.add({ PartitionKey: open.partitionKey, Data: alone ? open.first : open.builder.encode() }, open.size, open.builder.count)
  }
  for (const message of messages) {
    const { data, partitionKey } = encodeOne(message)
    const entry = { partitionKey, explicitHashKey: undefined, data }
    const shard = shardMap.shardOf(hashKeyOf(partitionKey))
    const open = openByShard.get(shard)
    if (open !== undefined) {
      const grown = open.builder.bytesWith(entry) + utf8Length(open.partitionKey)
      if (grown <= aggregateBytes) {
        open.builder.add(entry)
        open.size = grown
        continue
      }
      close(open)
    }
    const builder = new AggregateBuilder()
    const size = builder.bytesWith(entry) + utf8Length(partitionKey)
    builder.add(entry)
    openByShard.set(shard, { builder, partitionKey, first: data, size })
  }
  for (const open of openByShard.values()) close(open)
  return checksumOf(calls.end())
}

// ---- main --------------------------------------------------------------------------------------

interface Case {
  readonly id: string
  readonly name: string
  /** The id of the case this one is compared with. */
  readonly baseline: string
  readonly run: () => number | Promise<number>
  readonly runsMs: Array<number>
  readonly served: { calls: number; entries: number }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

const renderTable = (cases: ReadonlyArray<Case>, rateOf: (c: Case) => number) => {
  const header = ["case", "records", "records/s", "ratio vs its baseline", "entries per call", "median ms (min-max, runs)"]
  const rows = cases.map((c) => [
    c.name,
    fmt(records),
    fmt(rateOf(c)),
    (rateOf(c) / rateOf(cases.find((b) => b.id === c.baseline)!)).toFixed(2),
    (c.served.entries / Math.max(1, c.served.calls)).toFixed(1),
    `${median(c.runsMs).toFixed(1)} (${Math.min(...c.runsMs).toFixed(1)}-${Math.max(...c.runsMs).toFixed(1)}, ${c.runsMs.length})`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n")
}

const main = async () => {
  const benchStarted = performance.now()
  const sample = messages.slice(0, 1000).reduce((n, m) => n + codec.encode(m).length, 0) / Math.min(1000, records)
  log(`producer bench: node ${process.version}, ${os.cpus().length} cpus, ${fmt(records)} clickstream events a run (about ${sample.toFixed(0)} B encoded)`)

  const cases: Array<Case> = [
    { id: "producer", name: "Producer.putAll, plain", baseline: "baseline", run: runProducer(false), runsMs: [], served: { calls: 0, entries: 0 } },
    { id: "baseline", name: "hand loop: encode + calls of 500 (baseline)", baseline: "baseline", run: baselinePlain, runsMs: [], served: { calls: 0, entries: 0 } },
    { id: "producerAggregated", name: "Producer.putAll, KPL aggregation", baseline: "baselineAggregated", run: runProducer(true), runsMs: [], served: { calls: 0, entries: 0 } },
    { id: "baselineAggregated", name: "hand loop: encode + aggregate per shard (baseline)", baseline: "baselineAggregated", run: baselineAggregated, runsMs: [], served: { calls: 0, entries: 0 } }
  ]

  // Interleaved, each round starting one case later: drift and garbage fall on all cases alike.
  for (let round = 0; round < warmups + rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(round + k) % cases.length]!
      const before = { ...served }
      const started = performance.now()
      consume(await c.run())
      const ms = performance.now() - started
      if (round < warmups) continue
      c.runsMs.push(ms)
      c.served.calls += served.calls - before.calls
      c.served.entries += served.entries - before.entries
    }
    log(`  ${round < warmups ? "warm-up" : `round ${round - warmups + 1}/${rounds}`}: ${cases.map((c) => `${c.id} ${c.runsMs.length > 0 ? fmt(records / (c.runsMs[c.runsMs.length - 1]! / 1000)) : "-"}`).join(", ")} records/s`)
  }

  const rateOf = (c: Case) => records / (median(c.runsMs) / 1000)
  const byId = (id: string) => cases.find((c) => c.id === id)!
  const ratioOf = (id: string) => rateOf(byId(id)) / rateOf(byId(byId(id).baseline))
  const totalSeconds = (performance.now() - benchStarted) / 1000

  console.log(renderTable(cases, rateOf))
  console.log("")
  console.log(`input: ${fmt(records)} ClickstreamEvents (about ${sample.toFixed(0)} B), Codec.protobuf, keyed by session; ${shardCount} shards; default producer options (10,000 buffered, 4 calls in flight, 100 ms linger), aggregates of at most ${aggregateBytes / 1024} KiB.`)
  console.log(`ratio producer / hand loop (medians of ${rounds}, interleaved after ${warmups} warm-up): plain ${ratioOf("producer").toFixed(2)}, aggregated ${ratioOf("producerAggregated").toFixed(2)}.`)
  console.log(`total ${totalSeconds.toFixed(1)} s`)
  const results: ReadonlyArray<Result> = cases.map((c) => ({ id: c.id, name: c.name, records, runsMs: c.runsMs }))
  console.log(JSON.stringify({
    bench: "shardline/producer",
    node: process.version,
    cpus: os.cpus().length,
    records,
    cases: results.map((r) => ({
      id: r.id,
      name: r.name,
      recordsPerSecond: Math.round(records / (median(r.runsMs) / 1000)),
      ratio: Number(ratioOf(r.id).toFixed(3)),
      entriesPerCall: Number((byId(r.id).served.entries / Math.max(1, byId(r.id).served.calls)).toFixed(1)),
      runsMs: r.runsMs.map((ms) => Number(ms.toFixed(1)))
    })),
    ratio: { plain: Number(ratioOf("producer").toFixed(3)), aggregated: Number(ratioOf("producerAggregated").toFixed(3)) },
    totalSeconds: Number(totalSeconds.toFixed(1)),
    checksum: blackholeValue()
  }))
}

runMain(main)
