import { create, toBinary } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { PageViewSchema } from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Kinesis } from "../../src/index.js"

/** A record as written: where it landed and what it held. */
export interface Written {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly url: string
}

/**
 * Writes `count` page views (url `/page/<from + i>`) with varied partition keys in PutRecords calls
 * of up to 500, and answers where each landed, in write order.
 */
export const writePageViews = (streamName: string, count: number, from = 0) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const written: Array<Written> = []
    for (let offset = 0; offset < count; offset += 500) {
      const urls = Array.from({ length: Math.min(500, count - offset) }, (_, i) => `/page/${from + offset + i}`)
      const result = yield* kinesis.putRecords({
        StreamName: streamName,
        Records: urls.map((url, i) => ({
          PartitionKey: `session-${(from + offset + i) * 7919}`,
          Data: toBinary(PageViewSchema, create(PageViewSchema, { url, loadTimeMs: offset + i }))
        }))
      })
      if ((result.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage("PutRecords refused records")
      result.Records!.forEach((entry, i) =>
        written.push({ shardId: entry.ShardId!, sequenceNumber: entry.SequenceNumber!, url: urls[i]! })
      )
    }
    return written
  })

/** Groups records by shard, keeping order. */
export const byShard = <A extends { readonly shardId: string }>(records: ReadonlyArray<A>): Map<string, Array<A>> => {
  const out = new Map<string, Array<A>>()
  for (const r of records) {
    const list = out.get(r.shardId) ?? []
    list.push(r)
    out.set(r.shardId, list)
  }
  return out
}
