import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer } from "effect"
import { CheckpointStore, Codec, Kinesis, LocalKinesis, Pipeline, type StreamRecord } from "../src/index.js"
import {
  type FaultPlan,
  type FaultRule,
  Faults,
  KinesisCalls,
  PipelineTest,
  type RecordedCall
} from "../src/testing/index.js"
import { collect } from "./support/collect.js"

const streamName = "expiring"
const shardIds = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"] as const
const [shard0, shard1, shard2] = shardIds
const perShard = 20
const total = perShard * shardIds.length
const encoder = new TextEncoder()

/** The middle of shard `i`'s third of the hash key space, on every backend that splits it evenly. */
const hashKeyOf = (i: number) => (((2n * BigInt(i) + 1n) << 128n) / 6n).toString()

/** 20 records per shard, written round robin; the value names its shard and its place on it. */
const records = Array.from({ length: total }, (_, i) => ({
  value: `s${i % 3}-${Math.floor(i / 3)}`,
  partitionKey: `k${i}`,
  explicitHashKey: hashKeyOf(i % 3)
}))

const expired = { _tag: "ExpiredIterator" } as const

/**
 * Reads 5 records per call (20 per shard). Call indexes count every GetRecords on the shard, the
 * failed ones and the fresh tries after a renewal included.
 */
const plan: FaultPlan = {
  seed: 1,
  faults: [
    // Mid-stream, two in a row: the call and its fresh try with the renewed iterator both expire.
    { operation: "GetRecords", kind: expired, shardId: shard0, at: [2, 3] },
    // Right after the shard's first records (call 0 brought them), and once more later.
    { operation: "GetRecords", kind: expired, shardId: shard1, at: [1, 4] },
    // Before anything was delivered, and at the tip once all 20 were.
    { operation: "GetRecords", kind: expired, shardId: shard2, at: [0, 5] }
  ]
}

const reader = { limit: 5, pollDelay: "200 millis", noRecordsPollDelay: "200 millis" } as const

interface Placed {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly value: string
}

type IteratorRequest = readonly [type: string, startingSequenceNumber?: string]

/** Records what each GetShardIterator asked for, by shard in call order: the call log keeps no inputs. */
const iteratorRequests = () => {
  const byShard = new Map<string, Array<IteratorRequest>>()
  const rule: FaultRule = (call) => {
    if (call.operation !== "GetShardIterator") return undefined
    const input = call.input as { readonly ShardIteratorType: string; readonly StartingSequenceNumber?: string }
    const request: IteratorRequest = input.StartingSequenceNumber === undefined
      ? [input.ShardIteratorType]
      : [input.ShardIteratorType, input.StartingSequenceNumber]
    byShard.set(call.shardId ?? "", [...(byShard.get(call.shardId ?? "") ?? []), request])
    return undefined
  }
  return { byShard, rule }
}

const step = (c: RecordedCall) =>
  c.operation === "GetRecords" && c.outcome === "ok" ? `GetRecords:${c.records}` : `${c.operation}:${c.outcome}`

/** A shard's reads and renewals, in order, up to its first empty read after its last planned expiry. */
const traceOf = (calls: ReadonlyArray<RecordedCall>, shardId: string): ReadonlyArray<string> => {
  const steps = calls.filter((c) => c.shardId === shardId).map(step)
  const lastExpiry = steps.lastIndexOf("GetRecords:injected")
  const caughtUp = steps.indexOf("GetRecords:0", lastExpiry)
  return caughtUp < 0 ? steps : steps.slice(0, caughtUp + 1)
}

/** Every shard saw its two expiries and then read from the tip: what is delivered by now is all there will be. */
const caughtUp = (calls: ReadonlyArray<RecordedCall>) =>
  shardIds.every((shardId) => {
    const trace = traceOf(calls, shardId)
    return trace.filter((s) => s === "GetRecords:injected").length === 2 && trace.at(-1) === "GetRecords:0"
  })

const byShard = <A extends { readonly shardId: string }>(xs: ReadonlyArray<A>, shardId: string) =>
  xs.filter((x) => x.shardId === shardId)

/** What both backends must show: exactly once, in order, and renewals from the last delivered record. */
const verify = (
  placed: ReadonlyArray<Placed>,
  delivered: ReadonlyArray<StreamRecord<string>>,
  calls: ReadonlyArray<RecordedCall>,
  requests: ReadonlyMap<string, ReadonlyArray<IteratorRequest>>
) => {
  expect(delivered).toHaveLength(total)
  for (const shardId of shardIds) {
    const want = byShard(placed, shardId).map((p) => [p.sequenceNumber, p.value])
    expect(want).toHaveLength(perShard)
    expect(byShard(delivered, shardId).map((r) => [r.sequenceNumber, r.value]), shardId).toEqual(want)
  }

  const R = (n: number) => `GetRecords:${n}`
  const [X, Renew] = ["GetRecords:injected", "GetShardIterator:ok"]
  expect(traceOf(calls, shard0)).toEqual([Renew, R(5), R(5), X, Renew, X, Renew, R(5), R(5), R(0)])
  expect(traceOf(calls, shard1)).toEqual([Renew, R(5), X, Renew, R(5), R(5), X, Renew, R(5), R(0)])
  expect(traceOf(calls, shard2)).toEqual([Renew, X, Renew, R(5), R(5), R(5), R(5), X, Renew, R(0)])

  // Each renewal starts after the last record delivered before the expiry (nothing delivered yet:
  // where the shard started).
  const after = (shardId: string, n: number): IteratorRequest => [
    "AFTER_SEQUENCE_NUMBER",
    byShard(placed, shardId)[n - 1]!.sequenceNumber
  ]
  const start: IteratorRequest = ["TRIM_HORIZON"]
  expect(requests.get(shard0)).toEqual([start, after(shard0, 10), after(shard0, 10)])
  expect(requests.get(shard1)).toEqual([start, after(shard1, 5), after(shard1, 15)])
  expect(requests.get(shard2)).toEqual([start, start, after(shard2, 20)])
}

const pipeline = (batchInterval: Duration.DurationInput) =>
  Pipeline.fromKinesis({ streamName, codec: Codec.utf8, batchInterval, reader })

describe("expired iterators mid-stream", () => {
  it.scoped("on 3 shards, 6 expiries: every record once, in shard order; renewals start after the last delivered record", () =>
    Effect.gen(function* () {
      const requests = iteratorRequests()
      // Each shard's first iterator comes 1 ms late, so the records below are in before the first read.
      const firstIteratorLate: FaultRule = (call) => {
        const first = call.indexOf({ operation: "GetShardIterator", shardId: call.shardId }) === 0
        return first ? { _tag: "Latency", ms: 1 } : undefined
      }
      const test = yield* PipelineTest.make(pipeline("1 second"), undefined, {
        shardCount: 3,
        faults: [requests.rule, firstIteratorLate, ...(yield* Faults.fromPlan(plan))]
      })
      const where = yield* test.put(records.map(({ value, ...r }) => ({ ...r, data: encoder.encode(value) })))
      const placed = where.map((w, i) => ({ ...w, value: records[i]!.value }))
      yield* test.drain({ maxIntervals: 30 })
      // Past the drain until every planned expiry happened and each shard read at its tip.
      for (let i = 0; i < 30 && !caughtUp(yield* test.calls); i++) yield* test.advance(1)
      yield* test.advance(2)
      yield* test.stop
      const delivered = (yield* test.batches).flatMap((b) => b.records)
      const calls = yield* test.calls
      verify(placed, delivered, calls, requests.byShard)
      for (const shardId of shardIds) {
        const own = calls.filter((c) => c.shardId === shardId)
        // On the TestClock a renewal happens at the very instant of its expiry...
        own.forEach((c, i) => {
          if (c.outcome === "injected") expect(own[i + 1]).toMatchObject({ operation: "GetShardIterator", at: c.at })
        })
        // ...and the fresh tries keep the shard's 5 reads a second: two expiries in a row included.
        const reads = own.filter((c) => c.operation === "GetRecords").map((c) => c.at)
        reads.slice(1).forEach((at, i) =>
          expect(at - reads[i]!, `${shardId} read ${i + 1}`).toBeGreaterThanOrEqual(200))
      }
    }))

  // The same plan against kinesalite over HTTP, on the live clock: the Faults layer wraps the real client.
  it.live("against kinesalite, with Faults around the real client: the same outcome", () =>
    Effect.gen(function* () {
      const requests = iteratorRequests()
      const backend = Faults.layer([requests.rule, ...(yield* Faults.fromPlan(plan))]).pipe(
        Layer.provide(LocalKinesis.layer({ streams: [{ name: streamName, shardCount: 3 }] }))
      )
      const run = Effect.gen(function* () {
        const out = yield* (yield* Kinesis).putRecords({
          StreamName: streamName,
          Records: records.map((r) => ({
            PartitionKey: r.partitionKey,
            ExplicitHashKey: r.explicitHashKey,
            Data: encoder.encode(r.value)
          }))
        })
        expect(out.FailedRecordCount ?? 0).toBe(0)
        const placed = out.Records!.map((entry, i) => ({
          shardId: entry.ShardId!,
          sequenceNumber: entry.SequenceNumber!,
          value: records[i]!.value
        }))
        const log = (yield* KinesisCalls).calls
        const { records: delivered } = yield* collect(pipeline("200 millis"), () => Effect.map(log, caughtUp), {
          timeout: "20 seconds"
        })
        return { placed, delivered, calls: yield* log }
      })
      const { calls, delivered, placed } = yield* run.pipe(
        Effect.provide(Layer.merge(backend, CheckpointStore.layerMemory))
      )
      verify(placed, delivered, calls, requests.byShard)
    }), 30_000)
})
