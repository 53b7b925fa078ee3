// The SDK reads this when a client is built (never at import), so setting it here is early enough.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"

import * as os from "node:os"
import { fromBinary } from "@bufbuild/protobuf"
import { Duration, Effect, Either, Schedule, Stream } from "effect"
import { type ClickstreamEvent, ClickstreamEventSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Codec, type DecodeError, LocalKinesis } from "../src/index.js"
import type { ShardChunk } from "../src/consumer/index.js"
import type { SourceChunk } from "../src/pipeline/Batch.js"
import { decodeChunk } from "../src/pipeline/decodeChunk.js"
import { batchChunks } from "../src/pipeline/batcher.js"
import { MemoryKinesis } from "../src/testing/index.js"
import { chunksOf, encodeEvents, toSourceChunks } from "./fixtures.js"
import { log, measurePipeline, reader, shards } from "./pipelineRun.js"
import { blackholeValue, measureAsync, measureInterleaved, median, rateOf, renderTable, type Result, runMain } from "./harness.js"

// Sizes can be changed for a quick look, e.g. BENCH_RECORDS=50000 npm run bench. The decode loops
// take 60k records a pass (about 0.4 s on a small VM) so 5 cases x 6 rounds fit the 60 s budget.
const inProcessRecords = Number(process.env.BENCH_RECORDS ?? 200_000)
const decodeRecords = Number(process.env.BENCH_DECODE_RECORDS ?? Math.min(inProcessRecords, 60_000))
const emulatorRecords = Number(process.env.BENCH_EMULATOR_RECORDS ?? 20_000)
const chunkSize = 500
const pollCeiling = (shards * reader.limit) / Duration.toSeconds(Duration.decode(reader.pollDelay))

const codec = Codec.protobuf(ClickstreamEventSchema)
const benchStarted = performance.now()

// ---- decode in a plain loop, per chunk, per record --------------------------------------------

/** The plain loop the source runs per chunk (as `decodeChunk` does), without the metadata copy. */
const decodeLoop = (chunk: ReadonlyArray<Uint8Array>): Either.Either<Array<ClickstreamEvent>, DecodeError> => {
  const out = new Array<ClickstreamEvent>(chunk.length)
  for (let i = 0; i < chunk.length; i++) {
    const decoded = codec.decode(chunk[i]!)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    out[i] = decoded.right
  }
  return Either.right(out)
}

/**
 * Runs `decode` on every chunk inside one Effect, keeping only a count: each chunk's values are
 * dropped once counted, as a pipeline drops a batch after its sink, so no case pays for holding them all.
 */
const decodeAll = <E>(
  chunks: ReadonlyArray<ReadonlyArray<Uint8Array>>,
  decode: (chunk: ReadonlyArray<Uint8Array>) => Effect.Effect<ReadonlyArray<unknown>, E>
): number => {
  let n = 0
  Effect.runSync(
    Effect.forEach(chunks, (chunk) => Effect.map(decode(chunk), (values) => {
      n += values.length
    }), { discard: true })
  )
  return n
}

const decodeCases = (bytes: ReadonlyArray<Uint8Array>) => {
  const chunks = chunksOf(bytes, chunkSize)
  const records = bytes.length
  return [
    {
      id: "fromBinary",
      name: "1 fromBinary loop (baseline)",
      records,
      run: () => {
        let check = 0
        for (let i = 0; i < bytes.length; i++) check += fromBinary(ClickstreamEventSchema, bytes[i]!).eventId.length
        return check
      }
    },
    {
      id: "codec",
      name: "2 Codec.protobuf.decode loop",
      records,
      run: () => {
        let check = 0
        for (let i = 0; i < bytes.length; i++) {
          const decoded = codec.decode(bytes[i]!)
          if (Either.isRight(decoded)) check += decoded.right.eventId.length
        }
        return check
      }
    },
    {
      id: "effectPerChunk",
      name: "6a Effect per chunk (plain loop inside)",
      records,
      run: () => decodeAll(chunks, decodeLoop)
    },
    {
      id: "effectPerRecord",
      name: "6b Effect per record (Effect.forEach, Either)",
      records,
      run: () => decodeAll(chunks, (chunk) => Effect.forEach(chunk, (b) => codec.decode(b)))
    },
    {
      id: "effectTryPerRecord",
      name: "6c Effect per record (Effect.try fromBinary)",
      records,
      run: () =>
        decodeAll(chunks, (chunk) =>
          Effect.forEach(chunk, (b) => Effect.try({ try: () => fromBinary(ClickstreamEventSchema, b), catch: (cause) => cause }))
        )
    }
  ]
}

// ---- the batcher alone, and decode + batcher ---------------------------------------------------

const countBatched = <A, E>(source: Stream.Stream<SourceChunk<A>, E>) =>
  batchChunks(source, { batchInterval: Duration.hours(1), maxBatchRecords: 10_000 }).pipe(
    Stream.runFold(0, (n, draft) => n + draft.records.length)
  )

const timed = <A, E>(effect: Effect.Effect<A, E>, expected: number, what: string): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const started = performance.now()
      const count = yield* effect
      const ms = performance.now() - started
      if (count !== expected) return yield* Effect.dieMessage(`${what}: saw ${count} records, expected ${expected}`)
      return ms
    })
  )

/** A source chunk as the shard reader hands it over: raw bytes, not yet decoded. */
const asShardChunk = (chunk: SourceChunk<Uint8Array>): ShardChunk => ({
  shardId: chunk.shardId,
  records: chunk.records.map((r) => ({ ...r, data: r.value })),
  bytes: chunk.records.reduce((n, r) => n + r.value.byteLength, 0),
  millisBehindLatest: chunk.millisBehindLatest,
  shardEnded: chunk.shardEnded
})

// The batcher alone is fast: the same chunks go through it 5 times a pass so a pass lasts long enough to time.
const batcherPasses = 5

/** Cases 3 and 3b; their decoded values are dropped when this returns. */
const measureBatcher = async (bytes: ReadonlyArray<Uint8Array>, decodeBytes: ReadonlyArray<Uint8Array>) => {
  const decodedChunks = toSourceChunks(bytes.map((b) => fromBinary(ClickstreamEventSchema, b)), chunkSize, shards)
  const batcherRecords = bytes.length * batcherPasses
  const batcher = await measureAsync(
    { id: "batcher", name: "3 batchChunks (pre-decoded, 4 shards x 500)", records: batcherRecords },
    5,
    1,
    () =>
      timed(
        countBatched(Stream.fromIterable(decodedChunks).pipe(Stream.repeat(Schedule.recurs(batcherPasses - 1)))),
        batcherRecords,
        "batcher"
      )
  )
  const rawChunks = toSourceChunks(decodeBytes, chunkSize, shards).map(asShardChunk)
  const decodeBatcher = await measureAsync(
    { id: "decodeBatcher", name: "3b decode chunk + batchChunks", records: decodeBytes.length },
    3,
    1,
    () =>
      timed(
        countBatched(Stream.fromIterable(rawChunks).pipe(Stream.mapEffect((chunk) => decodeChunk(codec, chunk)))),
        decodeBytes.length,
        "decode+batcher"
      )
  )
  return [batcher, decodeBatcher] as const
}

// ---- main --------------------------------------------------------------------------------------

const main = async () => {
  log(`encoding ${Math.max(inProcessRecords, emulatorRecords).toLocaleString("en-US")} clickstream events`)
  const events = encodeEvents(Math.max(inProcessRecords, emulatorRecords))
  const bytes = events.bytes.slice(0, inProcessRecords)
  const avgBytes = events.totalBytes / events.bytes.length
  log(`shardline bench: node ${process.version}, ${os.cpus().length} cpus, ${bytes.length.toLocaleString("en-US")} clickstream events (avg ${avgBytes.toFixed(0)} B)`)

  log("  decode loops (1, 2, 6a-c), interleaved: 1 warm-up + 5 rounds")
  const decode = measureInterleaved(decodeCases(bytes.slice(0, decodeRecords)), 5, 1)
  const baselineRate = rateOf(decode[0]!)

  log("  batcher over pre-decoded chunks (3) and decode + batcher (3b)")
  const [batcher, decodeBatcher] = await measureBatcher(bytes, bytes.slice(0, decodeRecords))

  const memory = await measurePipeline({
    id: "memoryKinesis",
    name: "4 Pipeline over MemoryKinesis (4 shards)",
    stream: "bench-memory",
    records: inProcessRecords,
    warmUp: 20_000,
    events,
    layer: (streams) => MemoryKinesis.layer({ streams }),
    codec,
    note: `poll floor: ${shards} shards x limit ${reader.limit} / ${reader.pollDelay} = ${pollCeiling.toLocaleString("en-US")} records/s`
  })
  const emulator = await measurePipeline({
    id: "kinesalite",
    name: "5 Pipeline over kinesalite (4 shards)",
    stream: "bench-local",
    records: emulatorRecords,
    warmUp: 2_000,
    events,
    layer: (streams) => LocalKinesis.layer({ streams }),
    codec
  })

  const byId = (id: string) => decode.find((r) => r.id === id)!
  const results: Array<Result> = [
    byId("fromBinary"),
    byId("codec"),
    batcher,
    decodeBatcher,
    memory,
    emulator,
    byId("effectPerChunk"),
    byId("effectPerRecord"),
    byId("effectTryPerRecord")
  ]
  const perRecordCost = rateOf(byId("effectPerChunk")) / rateOf(byId("effectPerRecord"))
  const tryPerRecordCost = rateOf(byId("effectPerChunk")) / rateOf(byId("effectTryPerRecord"))

  log("done")
  console.log(renderTable(results, baselineRate))
  console.log("")
  console.log(`ratio = records/s of the case / records/s of the fromBinary loop, medians, same run.`)
  console.log(`4: ${memory.note}; it is ${(rateOf(memory) / pollCeiling).toFixed(2)}x that floor.`)
  console.log(
    `6: an Effect per record costs ${perRecordCost.toFixed(2)}x (Either) / ${tryPerRecordCost.toFixed(2)}x (Effect.try) the time of the per-chunk loop (style guide: ~2x).`
  )
  const totalSeconds = (performance.now() - benchStarted) / 1000
  console.log(`total ${totalSeconds.toFixed(1)} s`)

  const summary = {
    bench: "shardline/pipeline",
    node: process.version,
    cpus: os.cpus().length,
    avgRecordBytes: Math.round(avgBytes),
    baselineRecordsPerSecond: Math.round(baselineRate),
    cases: results.map((r) => ({
      id: r.id,
      name: r.name,
      records: r.records,
      recordsPerSecond: Math.round(rateOf(r)),
      ratio: Number((rateOf(r) / baselineRate).toFixed(3)),
      medianMs: Number(median(r.runsMs).toFixed(1)),
      runsMs: r.runsMs.map((ms) => Number(ms.toFixed(1)))
    })),
    memoryPollCeilingRecordsPerSecond: pollCeiling,
    effectPerRecordCost: Number(perRecordCost.toFixed(3)),
    effectTryPerRecordCost: Number(tryPerRecordCost.toFixed(3)),
    totalSeconds: Number(totalSeconds.toFixed(1)),
    checksum: blackholeValue()
  }
  console.log(JSON.stringify(summary))
}

runMain(main)
