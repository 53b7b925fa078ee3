import { describe, expect, it, layer } from "@effect/vitest"
import fc from "fast-check"
import { Deferred, Effect, Layer } from "effect"
import { type Batch, CheckpointStore, Codec, DeadLetter, type DeadLetterRecord, DeaggregateError, Kinesis, LocalKinesis, Pipeline, Producer, SinkRecordsFailed } from "../src/index.js"
import { MemoryKinesis, PipelineTest } from "../src/testing/index.js"
import { type AggregateInput, aggregateWithAws, objectKeySafe } from "./support/awsKinesisAgg.js"
import { effectProperty } from "./support/stateful.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const events = Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" })

/** User records `${prefix}0..n-1`, key `k${i % 3}`. */
const users = (prefix: string, n: number): Array<AggregateInput> =>
  Array.from({ length: n }, (_, i) => ({ partitionKey: `k${i % 3}`, data: encoder.encode(`${prefix}${i}`) }))

/** One Kinesis record per aggregate, under the first user record's key (as the KPL does). */
const carriers = (aggregates: ReadonlyArray<ReadonlyArray<AggregateInput>>) =>
  aggregates.map((records) => ({ partitionKey: records[0]!.partitionKey, data: aggregateWithAws(records) }))

/** What a sink saw, as [value, partition key, sub-sequence number]. */
const seen = (batches: ReadonlyArray<Batch<string>>) => batches.flatMap((b) => b.records.map((r) => [r.value, r.partitionKey, r.subSequenceNumber] as const))

const collectingDeadLetters = () => {
  const letters: Array<DeadLetterRecord> = []
  return { letters, layer: DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records))) }
}

describe("KPL aggregates in a pipeline", () => {
  it.scoped("expand into their user records, with their own keys and sub-sequence numbers, in order, among plain records", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(events, undefined, { shardCount: 1 })
      const [a, b] = [users("a", 5), users("b", 3)]
      yield* test.put([...carriers([a]), { partitionKey: "plain", data: encoder.encode("p0") }, ...carriers([b])])
      yield* test.drain()
      expect(seen(yield* test.batches)).toEqual([
        ...a.map((u, i) => [decoder.decode(u.data), u.partitionKey, i]),
        ["p0", "plain", 0],
        ...b.map((u, i) => [decoder.decode(u.data), u.partitionKey, i])
      ])
    }))

  it("property: any user records aggregated by aws-kinesis-agg come out of the pipeline as they went in", () =>
    effectProperty(
      [fc.array(fc.array(fc.record({ partitionKey: fc.string({ minLength: 1, maxLength: 20 }).filter(objectKeySafe), text: fc.string({ maxLength: 40 }) }), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 })],
      (aggregates) =>
        Effect.gen(function* () {
          const test = yield* PipelineTest.make(events, undefined, { shardCount: 1 })
          const inputs = aggregates.map((records) => records.map((r) => ({ partitionKey: r.partitionKey, data: encoder.encode(r.text) })))
          yield* test.put(carriers(inputs))
          yield* test.drain()
          expect(seen(yield* test.batches)).toEqual(inputs.flatMap((records) => records.map((u, i) => [decoder.decode(u.data), u.partitionKey, i])))
        }),
      30
    ), 60_000)

  it.scoped("a corrupt aggregate goes to the dead letters as one record, bytes and all; the rest is processed", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events, undefined, { shardCount: 1 }).pipe(Effect.provide(dead.layer))
      const [good, bad] = carriers([users("g", 4), users("x", 4)])
      const corrupt = Uint8Array.from(bad!.data)
      corrupt[corrupt.length - 1]! ^= 0xff // the MD5 trailer no longer matches
      const placed = yield* test.put([good!, { partitionKey: bad!.partitionKey, data: corrupt }, { partitionKey: "plain", data: encoder.encode("p") }])
      yield* test.drain()
      expect(seen(yield* test.batches).map(([v]) => v)).toEqual(["g0", "g1", "g2", "g3", "p"])
      expect(dead.letters).toHaveLength(1)
      expect(dead.letters[0]).toMatchObject({ sequenceNumber: placed[1]!.sequenceNumber, subSequenceNumber: 0, data: corrupt, reason: { kind: "deaggregate" } })
      expect(dead.letters[0]!.reason.message).toContain("MD5")
    }))

  it.scoped("without a dead-letter destination a corrupt aggregate fails the run with DeaggregateError", () =>
    Effect.gen(function* () {
      const test = yield* PipelineTest.make(events, undefined, { shardCount: 1 })
      const [bad] = carriers([users("x", 2)])
      yield* test.put([{ partitionKey: "x", data: bad!.data.subarray(0, bad!.data.length - 3) }])
      expect(yield* Effect.flip(test.drain())).toBeInstanceOf(DeaggregateError)
    }))

  it.scoped("a user record that does not decode is a dead letter with its own bytes, key and sub-sequence number", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events, undefined, { shardCount: 1 }).pipe(Effect.provide(dead.layer))
      const records = [...users("u", 2), { partitionKey: "bad-key", data: new Uint8Array([0xff]) }, ...users("v", 1)]
      const placed = yield* test.put(carriers([records]))
      yield* test.drain()
      expect(seen(yield* test.batches).map(([v, , sub]) => [v, sub])).toEqual([["u0", 0], ["u1", 1], ["v0", 3]])
      expect(dead.letters.map((l) => [l.sequenceNumber, l.subSequenceNumber, l.partitionKey, [...l.data], l.reason.kind])).toEqual([
        [placed[0]!.sequenceNumber, 2, "bad-key", [0xff], "decode"]
      ])
    }))

  it.scoped("a sink failing inside an aggregate checkpoints there: the restart goes on from that user record, none skipped, none repeated", () =>
    Effect.gen(function* () {
      let refusing = true
      const accepted: Array<string> = []
      const test = yield* PipelineTest.make(events, (batch: Batch<string>) =>
        Effect.sync(() => {
          const failed = refusing ? batch.records.filter((r) => r.value === "a3") : []
          for (const r of batch.records) if (!failed.includes(r)) accepted.push(r.value)
          return Pipeline.batchItemFailures(failed)
        }), { shardCount: 1 })
      const placed = yield* test.put(carriers([users("a", 6), users("b", 2)]))
      const error = yield* Effect.flip(test.drain())
      expect(error).toBeInstanceOf(SinkRecordsFailed)
      expect((error as SinkRecordsFailed).records).toEqual([{ shardId: placed[0]!.shardId, sequenceNumber: placed[0]!.sequenceNumber, subSequenceNumber: 3 }])
      // a0..a2 are done: the checkpoint is inside the first aggregate, at its user record 3.
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[0]!.sequenceNumber, subSequenceNumber: 3 }])
      expect(accepted.sort()).toEqual(["a0", "a1", "a2", "a4", "a5", "b0", "b1"])
      refusing = false
      accepted.length = 0
      yield* test.restart
      yield* test.drain()
      expect(accepted).toEqual(["a3", "a4", "a5", "b0", "b1"])
    }))

  it.scoped("a user record the sink gives up on is a dead letter with its own bytes and key, ready to replay as itself", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events, (batch: Batch<string>) =>
        Effect.succeed(Pipeline.batchItemFailures(batch.records.filter((r) => r.value === "a4"))), {
        shardCount: 1,
        onSinkError: { maxRetryAttempts: 1 }
      }).pipe(Effect.provide(dead.layer))
      const records = users("a", 6)
      const placed = yield* test.put(carriers([records]))
      yield* test.drain()
      expect(dead.letters.map((l) => [l.sequenceNumber, l.subSequenceNumber, l.partitionKey, decoder.decode(l.data), l.reason.kind, l.reason.attempts])).toEqual([
        [placed[0]!.sequenceNumber, 4, records[4]!.partitionKey, "a4", "sink", 2]
      ])
    }))

  it.scoped("deaggregate: false hands the aggregates on as they are", () =>
    Effect.gen(function* () {
      const raw = Pipeline.fromKinesis({ streamName: "events", codec: Codec.bytes, batchInterval: "1 second", deaggregate: false })
      const test = yield* PipelineTest.make(raw, undefined, { shardCount: 1 })
      const [carrier] = carriers([users("a", 3)])
      yield* test.put([carrier!])
      yield* test.drain()
      const records = (yield* test.batches).flatMap((b) => b.records)
      expect(records.map((r) => [[...r.value], r.subSequenceNumber])).toEqual([[[...carrier!.data], 0]])
    }))
})

// The restart inside an aggregate against the emulator over HTTP (AT_SEQUENCE_NUMBER for real) and the in-memory Kinesis.
const backends: ReadonlyArray<{ readonly name: string; readonly layer: Layer.Layer<Kinesis, unknown> }> = [
  { name: "the kinesalite emulator", layer: LocalKinesis.layer({ streams: [{ name: "kpl", shardCount: 1 }, { name: "produced", shardCount: 2 }] }) },
  { name: "the in-memory Kinesis", layer: MemoryKinesis.layer({ streams: [{ name: "kpl", shardCount: 1 }, { name: "produced", shardCount: 2 }] }) }
]

describe.each(backends)("KPL aggregates against $name", (backend) => {
  layer(Layer.merge(backend.layer, CheckpointStore.layerMemory), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("what the producer aggregates comes out of a pipeline one user record at a time, per key in order", () =>
      Effect.gen(function* () {
        const values = Array.from({ length: 120 }, (_, i) => `m${i}`)
        const keyOf = (v: string) => `key-${Number(v.slice(1)) % 4}`
        yield* Effect.scoped(Effect.gen(function* () {
          const producer = yield* Producer.make({ streamName: "produced", codec: Codec.utf8, partitionKey: keyOf, aggregate: true, ordered: true })
          yield* producer.putAll(values)
        }))
        const seen: Array<readonly [string, string, number]> = []
        const done = yield* Deferred.make<void>()
        yield* Pipeline.fromKinesis({ streamName: "produced", codec: Codec.utf8, batchInterval: "100 millis" }).pipe(
          Pipeline.foreachBatch((batch) => Effect.sync(() => {
            for (const r of batch.records) seen.push([r.value, r.partitionKey, r.subSequenceNumber])
            if (seen.length >= values.length) Deferred.unsafeDone(done, Effect.void)
          }), { stopWhen: Deferred.await(done) })
        )
        expect(seen.map(([v]) => v).sort()).toEqual([...values].sort())
        for (const [v, key] of seen) expect(key).toBe(keyOf(v))
        for (let k = 0; k < 4; k++) {
          expect(seen.filter(([, key]) => key === `key-${k}`).map(([v]) => v)).toEqual(values.filter((v) => keyOf(v) === `key-${k}`))
        }
        // They travelled aggregated: user records inside aggregates have sub-sequence numbers above 0.
        expect(seen.some(([, , sub]) => sub > 0)).toBe(true)
      }))

    it.effect("a run stopped inside an aggregate is resumed by the next at the very next user record", () =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        yield* kinesis.putRecords({ StreamName: "kpl", Records: carriers([users("a", 6), users("b", 3)]).map((c) => ({ PartitionKey: c.partitionKey, Data: c.data })) })
        const run = (refuse: string | undefined) => {
          const accepted: Array<string> = []
          const done = Effect.runSync(Deferred.make<void>())
          const pipeline = Pipeline.fromKinesis({ streamName: "kpl", codec: Codec.utf8, batchInterval: "100 millis" }).pipe(
            Pipeline.foreachBatch((batch) =>
              Effect.sync(() => {
                const failed = batch.records.filter((r) => r.value === refuse)
                for (const r of batch.records) if (!failed.includes(r)) accepted.push(r.value)
                if (accepted.includes("b2")) Deferred.unsafeDone(done, Effect.void)
                return Pipeline.batchItemFailures(failed)
              }), { stopWhen: Deferred.await(done) })
          )
          return Effect.map(Effect.either(pipeline), (result) => ({ result, accepted }))
        }
        const first = yield* run("a4")
        expect(first.result._tag).toBe("Left")
        expect(first.accepted.sort()).toEqual(["a0", "a1", "a2", "a3", "a5", "b0", "b1", "b2"])
        const second = yield* run(undefined)
        expect(second.result._tag).toBe("Right")
        expect(second.accepted).toEqual(["a4", "a5", "b0", "b1", "b2"])
      }))
  })
})
