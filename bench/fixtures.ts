import { create, toBinary } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect } from "effect"
import { partitionKeyOf, randomEvent, seededRandom } from "../examples/clickstream/events.js"
import {
  ClickstreamEventSchema,
  DeviceType,
  SessionSnapshotSchema
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Kinesis } from "../src/index.js"
import type { SourceChunk, StreamRecord } from "../src/pipeline/Batch.js"

/** Clickstream events encoded once, up front, so no case pays for encoding. */
export interface Encoded {
  readonly bytes: ReadonlyArray<Uint8Array>
  readonly partitionKeys: ReadonlyArray<string>
  readonly totalBytes: number
}

// A fixed clock and seed: every run decodes the same bytes.
const epochMs = Date.UTC(2025, 0, 1)

export const encodeEvents = (count: number, seed = 42): Encoded => {
  const random = seededRandom(seed)
  const bytes = new Array<Uint8Array>(count)
  const partitionKeys = new Array<string>(count)
  let totalBytes = 0
  for (let i = 0; i < count; i++) {
    const event = randomEvent(random, epochMs + i, i)
    bytes[i] = toBinary(ClickstreamEventSchema, event)
    partitionKeys[i] = partitionKeyOf(event)
    totalBytes += bytes[i]!.byteLength
  }
  return { bytes, partitionKeys, totalBytes }
}

/**
 * Session snapshots (the larger, nested event): 5 to 30 clickstream events each, with counters
 * and tags, encoded once.
 */
export const encodeSessions = (count: number, seed = 7): ReadonlyArray<Uint8Array> => {
  const random = seededRandom(seed)
  const out = new Array<Uint8Array>(count)
  let sequence = 0
  for (let i = 0; i < count; i++) {
    const started = epochMs + i * 1000
    const events = Array.from({ length: 5 + Math.floor(random() * 26) }, (_, k) =>
      randomEvent(random, started + k * 50, sequence++))
    const session = create(SessionSnapshotSchema, {
      sessionId: `session-${i}`,
      userId: `user-${Math.floor(random() * 500)}`,
      device: DeviceType.MOBILE,
      startedAt: timestampFromMs(started),
      endedAt: timestampFromMs(started + events.length * 50),
      events,
      counters: { page_views: BigInt(events.length), errors: BigInt(Math.floor(random() * 3)) },
      tags: random() < 0.5 ? ["returning"] : ["new", "campaign"]
    })
    out[i] = toBinary(SessionSnapshotSchema, session)
  }
  return out
}

/** Splits `items` into arrays of `size` (the last may be shorter). */
export const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const shardIdOf = (i: number) => `shardId-${String(i).padStart(12, "0")}`

/**
 * Values as source chunks of `chunkSize` records, dealt round-robin over `shards` shards, with
 * increasing sequence numbers per shard: what the batcher sees from a running source.
 */
export const toSourceChunks = <A>(
  values: ReadonlyArray<A>,
  chunkSize: number,
  shards: number
): Array<SourceChunk<A>> => {
  const sequence = new Array<number>(shards).fill(0)
  return chunksOf(values, chunkSize).map((chunk, c) => {
    const shard = c % shards
    const shardId = shardIdOf(shard)
    const records = chunk.map((value): StreamRecord<A> => ({
      value,
      shardId,
      sequenceNumber: String(++sequence[shard]!).padStart(20, "0"),
      subSequenceNumber: 0,
      partitionKey: "bench",
      approximateArrivalTimestamp: undefined
    }))
    return { shardId, records, millisBehindLatest: 0, shardEnded: false }
  })
}

/** Writes the first `count` encoded events with PutRecords calls of 500, as a producer would. */
export const preload = (streamName: string, events: Encoded, count: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    for (let offset = 0; offset < count; offset += 500) {
      const end = Math.min(count, offset + 500)
      const records = []
      for (let i = offset; i < end; i++) records.push({ PartitionKey: events.partitionKeys[i]!, Data: events.bytes[i]! })
      const result = yield* kinesis.putRecords({ StreamName: streamName, Records: records })
      if ((result.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage(`preload: PutRecords refused records`)
    }
  })
