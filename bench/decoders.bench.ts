// The SDK reads this when a client is built (never at import), so setting it here is early enough.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"

import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { type DescMessage, fromBinary } from "@bufbuild/protobuf"
import protobuf from "protobufjs"
import {
  ClickstreamEventSchema,
  SessionSnapshotSchema
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import {
  ClickstreamEventCodec,
  decodeClickstreamEvent,
  decodeSessionSnapshot
} from "../gen/shardline/examples/clickstream/v1/clickstream_shardline.js"
import { Codec } from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { encodeEvents, encodeSessions } from "./fixtures.js"
import { blackholeValue, measureInterleaved, median, rateOf, renderTable, type Result, type SyncCase, runMain } from "./harness.js"
import { log, measurePipelines, reader } from "./pipelineRun.js"

// Generated decoders (protoc-gen-shardline) against protobuf-es's fromBinary and protobufjs, on the
// same bytes, interleaved; then the whole pipeline with each codec. Issue 8's targets, as ratios:
// decoder >= 2.5x fromBinary and >= 1.0x protobufjs; pipeline >= 2x.

const eventRecords = Number(process.env.BENCH_DECODE_RECORDS ?? 60_000)
const sessionRecords = Number(process.env.BENCH_SESSION_RECORDS ?? 4_000)
const pipelineRecords = Number(process.env.BENCH_RECORDS ?? 200_000)
const pipelineShards = 16
const benchStarted = performance.now()

/** protobufjs reads the same .proto at run time (its reflection compiles a decoder per type). */
const protobufjsType = (typeName: string): protobuf.Type => {
  const root = new protobuf.Root()
  // google/protobuf/*.proto come bundled with protobufjs; everything else from proto/.
  const protoDir = fileURLToPath(new URL("../proto/", import.meta.url))
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : protoDir + target)
  root.loadSync("shardline/examples/clickstream/v1/clickstream.proto")
  return root.lookupType(typeName)
}

/** The three decoders over `bytes`; each run answers a checksum so nothing is optimised away. */
const decoderCases = <Desc extends DescMessage>(
  label: string,
  schema: Desc,
  generated: (bytes: Uint8Array) => unknown,
  bytes: ReadonlyArray<Uint8Array>
): Array<SyncCase> => {
  const type = protobufjsType(schema.typeName)
  const loop = (decode: (b: Uint8Array) => unknown) => () => {
    let check = 0
    for (let i = 0; i < bytes.length; i++) if (decode(bytes[i]!) !== undefined) check++
    return check
  }
  return [
    { id: `${label}.fromBinary`, name: `${label}: fromBinary (baseline)`, records: bytes.length, run: loop((b) => fromBinary(schema, b)) },
    { id: `${label}.generated`, name: `${label}: generated decoder`, records: bytes.length, run: loop(generated) },
    { id: `${label}.protobufjs`, name: `${label}: protobufjs decode`, records: bytes.length, run: loop((b) => type.decode(b)) }
  ]
}

const ratioOf = (results: ReadonlyArray<Result>, id: string, baseline: string) =>
  rateOf(results.find((r) => r.id === id)!) / rateOf(results.find((r) => r.id === baseline)!)

const main = async () => {
  const events = encodeEvents(Math.max(eventRecords, pipelineRecords))
  const eventBytes = events.bytes.slice(0, eventRecords)
  const sessions = encodeSessions(sessionRecords)
  const avg = (all: ReadonlyArray<Uint8Array>) => all.reduce((n, b) => n + b.byteLength, 0) / all.length
  log(`decoder bench: node ${process.version}, ${os.cpus().length} cpus`)
  log(`  ClickstreamEvent x ${eventBytes.length} (avg ${avg(eventBytes).toFixed(0)} B), SessionSnapshot x ${sessions.length} (avg ${avg(sessions).toFixed(0)} B)`)

  log("  decoders, interleaved: 1 warm-up + 5 rounds")
  const eventResults = measureInterleaved(decoderCases("event", ClickstreamEventSchema, decodeClickstreamEvent, eventBytes), 5, 1)
  const sessionResults = measureInterleaved(decoderCases("session", SessionSnapshotSchema, decodeSessionSnapshot, sessions), 5, 1)

  const [pipelineBaseline, pipelineGenerated] = await measurePipelines({
    stream: "bench-codecs",
    records: pipelineRecords,
    warmUp: 20_000,
    events,
    layer: (streams) => MemoryKinesis.layer({ streams }),
    cases: [
      { id: "pipeline.fromBinary", name: "pipeline over MemoryKinesis, Codec.protobuf", codec: Codec.protobuf(ClickstreamEventSchema) },
      { id: "pipeline.generated", name: "pipeline over MemoryKinesis, generated codec", codec: ClickstreamEventCodec }
    ],
    rounds: 5,
    // Enough shards that the poll delay (shards x limit / pollDelay) is not what limits the rate.
    shardCount: pipelineShards
  })
  if (pipelineBaseline === undefined || pipelineGenerated === undefined) throw new Error("pipeline cases missing")

  log("done")
  const eventBaseline = rateOf(eventResults[0]!)
  console.log(renderTable(eventResults, eventBaseline))
  console.log("")
  console.log(renderTable(sessionResults, rateOf(sessionResults[0]!)))
  console.log("")
  console.log(renderTable([pipelineBaseline, pipelineGenerated], rateOf(pipelineBaseline)))
  console.log("")
  const targets = [
    ["event: generated / fromBinary", ratioOf(eventResults, "event.generated", "event.fromBinary"), 2.5],
    ["event: generated / protobufjs", ratioOf(eventResults, "event.generated", "event.protobufjs"), 1.0],
    ["session: generated / fromBinary", ratioOf(sessionResults, "session.generated", "session.fromBinary"), 2.5],
    ["session: generated / protobufjs", ratioOf(sessionResults, "session.generated", "session.protobufjs"), 1.0],
    ["pipeline: generated / Codec.protobuf", rateOf(pipelineGenerated) / rateOf(pipelineBaseline), 2.0]
  ] as const
  for (const [what, ratio, target] of targets) {
    console.log(`${what.padEnd(38)} ${ratio.toFixed(2)}x (target >= ${target}x: ${ratio >= target ? "met" : "NOT met"})`)
  }
  console.log(
    `pipeline: ${pipelineShards} shards, reader limit ${reader.limit} / ${reader.pollDelay}; protobufjs reads int64 as JS numbers (no long.js), protobuf-es as bigint.`
  )
  const totalSeconds = (performance.now() - benchStarted) / 1000
  console.log(`total ${totalSeconds.toFixed(1)} s`)
  console.log(JSON.stringify({
    bench: "shardline/decoders",
    node: process.version,
    cpus: os.cpus().length,
    cases: [...eventResults, ...sessionResults, pipelineBaseline, pipelineGenerated].map((r) => ({
      id: r.id,
      records: r.records,
      recordsPerSecond: Math.round(rateOf(r)),
      medianMs: Number(median(r.runsMs).toFixed(1)),
      runsMs: r.runsMs.map((ms) => Number(ms.toFixed(1)))
    })),
    ratios: Object.fromEntries(targets.map(([what, ratio]) => [what, Number(ratio.toFixed(3))])),
    totalSeconds: Number(totalSeconds.toFixed(1)),
    checksum: blackholeValue()
  }))
}

runMain(main)
