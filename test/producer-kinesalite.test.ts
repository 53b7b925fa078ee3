import { create } from "@bufbuild/protobuf"
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { type AccessLogEvent, AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { Codec, deaggregate, isAggregated, Kinesis, LocalKinesis, Producer } from "../src/index.js"

const codec = Codec.protobuf(AccessLogEventSchema)
const events = Array.from({ length: 600 }, (_, i) =>
  create(AccessLogEventSchema, { host: `host-${i % 17}`, endpoint: `/item/${i}`, status: 200 + (i % 3), latencyMs: i }))

/** Every user record of the stream (de-aggregated), read with GetRecords, shard by shard. */
const readBack = (streamName: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards = (yield* kinesis.listShards({ StreamName: streamName })).Shards ?? []
    const out: Array<{ partitionKey: string; event: AccessLogEvent; aggregated: boolean }> = []
    for (const shard of shards) {
      let iterator = (yield* kinesis.getShardIterator({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
      while (iterator !== undefined) {
        const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
        const records = page.Records ?? []
        for (const r of records) {
          const users = deaggregate({ data: r.Data!, partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber! })
          if (Either.isLeft(users)) throw users.left
          for (const u of users.right) {
            out.push({ partitionKey: u.partitionKey, event: Either.getOrThrow(codec.decode(u.data)), aggregated: isAggregated(r.Data!) })
          }
        }
        if (records.length === 0) break
        iterator = page.NextShardIterator
      }
    }
    return out
  })

const perHost = (list: ReadonlyArray<AccessLogEvent>) => {
  const out = new Map<string, Array<string>>()
  for (const e of list) out.set(e.host, [...(out.get(e.host) ?? []), e.endpoint])
  return out
}

layer(LocalKinesis.layer({ streams: [{ name: "logs", shardCount: 3 }, { name: "packed", shardCount: 3 }] }), { excludeTestServices: true })(
  "Producer against kinesalite",
  (it) => {
    for (const aggregate of [false, true]) {
      it.effect(`round trip ${aggregate ? "with" : "without"} KPL aggregation: messages, keys and per-key order`, () =>
        Effect.gen(function* () {
          const streamName = aggregate ? "packed" : "logs"
          const results = yield* Effect.scoped(
            Effect.gen(function* () {
              const producer = yield* Producer.make({ streamName, codec, partitionKey: (e) => e.host, ordered: true, aggregate })
              const first = yield* producer.putAll(events.slice(0, 400))
              const rest = yield* Effect.forEach(events.slice(400), (e) => producer.put(e), { concurrency: "unbounded" })
              return [...first, ...rest]
            })
          )
          expect(results).toHaveLength(600)
          const back = yield* readBack(streamName)
          expect(back).toHaveLength(600)
          for (const r of back) expect(r.partitionKey).toBe(r.event.host)
          expect(perHost(back.map((r) => r.event))).toEqual(perHost(events))
          expect(back.some((r) => r.aggregated)).toBe(aggregate)
          // Where each put says its record is, the stream has it.
          expect(new Set(results.map((r) => r.shardId)).size).toBe(3)
        }))
    }
  }
)
