/** The stateful bench's input: a fixed pool of access-log events and an in-memory source cycling it. */
import { create, toBinary } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Duration, Effect, Option, Stream } from "effect"
import { seededRandom } from "../examples/clickstream/events.js"
import { AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import type { Codec } from "../src/index.js"
import type { KinesisRecord, ShardChunk } from "../src/consumer/index.js"
import { decodeRecords, rawChunk } from "../src/pipeline/decodeChunk.js"
import type { ResolvedSource, SourceRun } from "../src/pipeline/KinesisSource.js"

const endpoints = [
  "GET /api/orders/:id", "GET /api/orders", "POST /api/orders", "GET /api/users/:id", "PUT /api/users/:id",
  "GET /api/cart", "POST /api/cart/items", "DELETE /api/cart/items", "GET /api/products", "GET /api/products/:id",
  "GET /api/search", "POST /api/checkout", "GET /api/inventory/:sku", "POST /api/login", "POST /api/logout",
  "GET /health", "GET /api/recommendations", "POST /api/reviews", "GET /api/reviews/:id", "GET /static/app.js"
]
const regions = ["eu-west-1", "us-east-1", "ap-south-1", "eu-central-1"]
const clients = ["ios-app", "android-app", "web", "partner-api"]
const statuses = [200, 200, 200, 200, 200, 201, 204, 301, 404, 500]
const hex = (random: () => number, digits: number) => {
  let s = ""
  for (let i = 0; i < digits; i++) s += "0123456789abcdef"[Math.floor(random() * 16)]
  return s
}

/** The encoded pool: every record the bench reads is one of these, cycled. */
export interface Pool {
  readonly bytes: ReadonlyArray<Uint8Array>
  readonly meanBytes: number
  readonly endpoints: number
}

/**
 * `size` access-log events from a seeded PRNG (20 endpoints, 2 or 3 labels each), encoded once
 * with `toBinary`: the same bytes in every run.
 */
export const makePool = (size = 4096, seed = 8): Pool => {
  const random = seededRandom(seed)
  const epochMs = Date.UTC(2025, 0, 1)
  const bytes = new Array<Uint8Array>(size)
  let total = 0
  for (let i = 0; i < size; i++) {
    const labels: Record<string, string> = {
      region: regions[Math.floor(random() * regions.length)]!,
      client: clients[Math.floor(random() * clients.length)]!
    }
    if (random() < 0.9) labels.trace_id = hex(random, 16)
    const event = create(AccessLogEventSchema, {
      time: timestampFromMs(epochMs + i * 37 + Math.floor(random() * 1000)),
      endpoint: endpoints[Math.floor(random() * endpoints.length)]!,
      status: statuses[Math.floor(random() * statuses.length)]!,
      latencyMs: 1 + Math.floor(random() * random() * 2000),
      host: `web-${regions[i % regions.length]}-${String(Math.floor(random() * 64)).padStart(4, "0")}`,
      labels
    })
    bytes[i] = toBinary(AccessLogEventSchema, event)
    total += bytes[i]!.byteLength
  }
  return { bytes, meanBytes: total / size, endpoints: endpoints.length }
}

/** How the source cuts its input. */
export interface SourceShape {
  readonly records: number
  readonly shards: number
  readonly chunkRecords: number
}

const shardIdOf = (i: number) => `shardId-${String(i).padStart(12, "0")}`

/**
 * One shard's raw records: the pool with this shard's metadata, built once so that making a chunk
 * is only picking references (the input costs neither time nor memory that grows with N).
 * Sequence numbers repeat every pool length; nothing in the pipeline compares them.
 */
const shardRecords = (pool: Pool, shard: number): ReadonlyArray<KinesisRecord> => {
  const shardId = shardIdOf(shard)
  const arrival = new Date(Date.UTC(2025, 0, 1))
  return pool.bytes.map((data, i) => ({
    shardId,
    sequenceNumber: String(4960000000000 + i).padStart(56, "0"),
    partitionKey: `pk-${i % 64}`,
    approximateArrivalTimestamp: arrival,
    data
  }))
}

/** Records of shard `shard` out of `total`: dealt as evenly as possible. */
const shareOf = (total: number, shards: number, shard: number) =>
  Math.floor(total / shards) + (shard < total % shards ? 1 : 0)

/**
 * One shard's chunks, made lazily as the pipeline pulls them: `count` records cycled from the pool
 * (each shard starting at its own offset), the last chunk marked `shardEnded` so the run ends by itself.
 */
const shardChunks = (pool: Pool, shard: number, shards: number, count: number, chunkRecords: number) => {
  const raw = shardRecords(pool, shard)
  const size = raw.length
  // A fixed ring of chunks cycling the pool, made once: the source costs the same per chunk as a
  // reader handing over a response it already holds, and its memory does not grow with the count.
  const ring: Array<Array<KinesisRecord>> = []
  let position = Math.floor((shard * size) / shards)
  for (let c = 0; c < chunksInRing; c++) {
    const records = new Array<KinesisRecord>(chunkRecords)
    for (let i = 0; i < chunkRecords; i++) {
      records[i] = raw[position]!
      if (++position === size) position = 0
    }
    ring.push(records)
  }
  const bytesOf = (records: ReadonlyArray<KinesisRecord>) => records.reduce((sum, r) => sum + r.data.byteLength, 0)
  const ringBytes = ring.map(bytesOf)
  let next = 0
  let left = count
  return Stream.repeatEffectOption(
    Effect.suspend(() => {
      if (left === 0) return Effect.fail(Option.none())
      const whole = ring[next]!
      const bytes = ringBytes[next]!
      next = (next + 1) % chunksInRing
      const records = left >= chunkRecords ? whole : whole.slice(0, left)
      left -= records.length
      const chunk: ShardChunk = {
        shardId: raw[0]!.shardId,
        records,
        bytes: records === whole ? bytes : bytesOf(records),
        millisBehindLatest: 0,
        shardEnded: left === 0
      }
      return Effect.succeed(chunk)
    })
  )
}

const chunksInRing = 8

/** What the source's commit was asked to write: states and their bytes (it keeps nothing). */
export interface CommitCount {
  batches: number
  states: number
  stateBytes: number
}

/**
 * An in-memory source of `shape.records` pool records over `shape.shards` shards, decoded with
 * `codec` when each batch runs, exactly as the Kinesis source does; commits are counted, not kept.
 */
export const memorySource = <A>(
  pool: Pool,
  codec: Codec<A>,
  shape: SourceShape,
  options: { readonly batchInterval: Duration.DurationInput; readonly maxBatchRecords: number },
  commits: CommitCount
): Effect.Effect<ResolvedSource<A, never>> =>
  Effect.sync(() => ({
    scope: { applicationName: "bench", streamName: "bench-stateful" },
    batchInterval: Duration.decode(options.batchInterval),
    maxBatchRecords: options.maxBatchRecords,
    start: () => Effect.sync(() => startMemory(pool, codec, shape, commits))
  }))

const startMemory = <A>(pool: Pool, codec: Codec<A>, shape: SourceShape, commits: CommitCount): SourceRun<A> => {
  // Shards being read, kept as the Kinesis source keeps them: until their end is committed.
  const reading = new Map<string, undefined>(Array.from({ length: shape.shards }, (_, s) => [shardIdOf(s), undefined]))
  const shardStreams = Array.from({ length: shape.shards }, (_, shard) =>
    shardChunks(pool, shard, shape.shards, shareOf(shape.records, shape.shards, shard), shape.chunkRecords).pipe(
      Stream.map((chunk) => rawChunk(chunk))
    ))
  return {
    // As the Kinesis source merges its shard readers.
    chunks: Stream.mergeAll(shardStreams, { concurrency: "unbounded", bufferSize: 2 }),
    // As the Kinesis source: raw records through the batcher, decoded when their batch runs.
    decode: (records, options) => decodeRecords(codec, records, options),
    deliverable: (draft) => draft,
    origin: (shardId) => ({ streamName: "bench", shardId }),
    fencingTokens: () => new Map(),
    commit: (draft, states) =>
      Effect.sync(() => {
        commits.batches++
        for (const [shardId, c] of draft.checkpoints) if (c._tag === "ShardEnd") reading.delete(shardId)
        for (const bytes of states.values()) {
          commits.states++
          commits.stateBytes += bytes.byteLength
        }
        return new Set(states.keys())
      }),
    activeShards: () => reading,
    loadState: () => Effect.succeed({ _tag: "Own", bytes: undefined }),
    shutdown: Effect.void,
    finishInFlightOnInterrupt: false
  }
}
