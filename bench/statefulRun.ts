/** The stateful bench's contenders: the pipeline over the memory source, and the same work written by hand. */
import { fromBinary } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { Codec, Kinesis, type KinesisApi, Pipeline } from "../src/index.js"
import type { ResolvedSource } from "../src/pipeline/KinesisSource.js"
import { fromSource } from "../src/pipeline/Pipeline.js"
import { type CommitCount, memorySource, type Pool, type SourceShape } from "./statefulSource.js"

export const shards = 4
export const chunkRecords = Number(process.env.BENCH_STATEFUL_CHUNK ?? 5_000)
export const maxBatchRecords = Number(process.env.BENCH_STATEFUL_BATCH ?? 10_000)
// The hand loop's window, in its 10k-record slots: the pipeline's 10 s / 2 s over 1 s batches.
const windowSlots = 10
const slideSlots = 2

export const codec = Codec.protobuf(AccessLogEventSchema)

// The memory source never calls Kinesis; the run's type asks for it all the same.
const unusedKinesis = new Proxy({} as KinesisApi, {
  get: (_, name) => {
    if (typeof name === "symbol") return undefined
    throw new Error(`stateful bench: the memory source called Kinesis.${name}`)
  }
})

/** What one run did: its time and what it saw, for the checks. */
export interface RunResult {
  readonly ms: number
  readonly records: number
  readonly emissions: number
  readonly checksum: number
}

/** Where records are decoded: in the source (`decodeChunk`, as `fromKinesis` does), or in the map step. */
export type DecodeIn = "source" | "map"

const fromMemory = <A>(pool: Pool, n: number, decoder: Codec<A>, commits: CommitCount) => {
  const shape: SourceShape = { records: n, shards, chunkRecords }
  const source = memorySource(pool, decoder, shape, { batchInterval: "1 second", maxBatchRecords }, commits)
  // As `fromKinesis` does: the pipeline keeps its source's value type in `A`, not in the source.
  return fromSource<A, never>(source as Effect.Effect<ResolvedSource<unknown, never>>)
}

/**
 * The measured pipeline over `n` pool records; fails if a record went missing. With `decodeIn:
 * "map"` the source hands raw bytes (`Codec.bytes`) and the map step decodes them with `fromBinary`.
 */
export const runPipeline = (
  pool: Pool,
  n: number,
  commits: CommitCount = { batches: 0, states: 0, stateBytes: 0 },
  decodeIn: DecodeIn = "source"
) =>
  Effect.runPromise(
    Effect.gen(function* () {
      let seen = 0
      let emissions = 0
      let checksum = 0
      const started = performance.now()
      const keyed = decodeIn === "source"
        ? fromMemory(pool, n, codec, commits).pipe(Pipeline.map((e) => {
          seen++
          return [e.endpoint, e.latencyMs] as const
        }))
        : fromMemory(pool, n, Codec.bytes, commits).pipe(Pipeline.map((bytes) => {
          const e = fromBinary(AccessLogEventSchema, bytes)
          seen++
          return [e.endpoint, e.latencyMs] as const
        }))
      const summary = yield* keyed.pipe(
        Pipeline.reduceByKeyAndWindow((a: number, b: number) => a + b, {
          length: "10 seconds",
          slide: "2 seconds",
          inverse: (a, b) => a - b
        }),
        Pipeline.foreachBatch((batch) =>
          Effect.sync(() => {
            if (batch.records.length > 0) emissions++
            for (const r of batch.records) checksum += r.value[1]
          })
        ),
        Effect.provideService(Kinesis, unusedKinesis)
      )
      const ms = performance.now() - started
      if (seen !== n || summary.records !== n) {
        return yield* Effect.dieMessage(`pipeline: map saw ${seen}, summary ${summary.records}, expected ${n}`)
      }
      return { ms, records: summary.records, emissions, checksum } satisfies RunResult
    })
  )

/**
 * The same work by hand: `fromBinary` each pool record in turn, sum latency per endpoint in a Map
 * per 10k-record slot, keep the last 10 slots' running total with inverse subtraction, and read the
 * window every 2 slots.
 */
export const handLoop = (pool: Pool, n: number): RunResult => {
  const started = performance.now()
  const bytes = pool.bytes
  const running = new Map<string, { value: number; slots: number }>()
  const ring: Array<Map<string, number>> = []
  let current = new Map<string, number>()
  let inSlot = 0
  let slot = 0
  let emissions = 0
  let checksum = 0
  let position = 0
  for (let i = 0; i < n; i++) {
    const e = fromBinary(AccessLogEventSchema, bytes[position]!)
    if (++position === bytes.length) position = 0
    current.set(e.endpoint, (current.get(e.endpoint) ?? 0) + e.latencyMs)
    if (++inSlot < maxBatchRecords && i < n - 1) continue
    for (const [key, value] of current) {
      const total = running.get(key)
      if (total === undefined) running.set(key, { value, slots: 1 })
      else {
        total.value += value
        total.slots++
      }
    }
    ring.push(current)
    if (ring.length > windowSlots) {
      for (const [key, value] of ring.shift()!) {
        const total = running.get(key)!
        if (--total.slots === 0) running.delete(key)
        else total.value -= value
      }
    }
    if (++slot % slideSlots === 0) {
      emissions++
      for (const total of running.values()) checksum += total.value
    }
    current = new Map()
    inSlot = 0
  }
  return { ms: performance.now() - started, records: n, emissions, checksum }
}
