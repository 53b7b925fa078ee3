import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { ClickstreamEventSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Codec, DecodeError, Pipeline } from "../src/index.js"
import { PipelineTest } from "../src/testing/index.js"
import { arbitraryScript, effectProperty, parseEvent, play } from "./support/stateful.js"

const source = () => Pipeline.fromKinesis({ streamName: "events", codec: Codec.utf8, batchInterval: "1 second" })

describe("per-record steps fused into the decode loop", () => {
  it("give the same batches as the same steps run after a non-fusable operator", () =>
    effectProperty([arbitraryScript({ keys: 4 }), fc.integer({ min: -5, max: 5 })], (script, threshold) =>
      Effect.gen(function* () {
        const steps = <E, R>(p: Pipeline.Pipeline<string, E, R>) =>
          p.pipe(
            Pipeline.map(parseEvent),
            Pipeline.filter((e) => e.n > threshold),
            Pipeline.keyBy((e, record) => `${e.key}@${record.shardId}`),
            Pipeline.map(([k, e], record) => `${k}:${e.n}:${record.sequenceNumber}`)
          )
        // mapEffect is never fused: what follows it runs as plain operators on the decoded batch.
        const fused = yield* PipelineTest.make(steps(source()))
        const apart = yield* PipelineTest.make(steps(source().pipe(Pipeline.mapEffect((v) => Effect.succeed(v)))))
        yield* play(fused, script)
        yield* fused.drain()
        yield* play(apart, script)
        yield* apart.drain()
        const outputs = (batches: ReadonlyArray<{ readonly records: ReadonlyArray<{ readonly value: string }> }>) =>
          batches.flatMap((b) => b.records.map((r) => r.value))
        // Same per-shard sequence numbers in both worlds (each has its own stream, same puts in order).
        expect(outputs(yield* fused.batches).sort()).toEqual(outputs(yield* apart.batches).sort())
      }), 15))

  it.scoped("a record that does not decode fails the run with DecodeError naming shard and sequence number; its batch is not checkpointed", () =>
    Effect.gen(function* () {
      const pipeline = Pipeline.fromKinesis({ streamName: "events", codec: Codec.protobuf(ClickstreamEventSchema), batchInterval: "1 second" }).pipe(
        Pipeline.map((e) => e.eventId)
      )
      const test = yield* PipelineTest.make(pipeline, undefined, { shardCount: 1 })
      const [bad] = yield* test.put([{ partitionKey: "k", data: new Uint8Array([0xff, 0xff, 0xff]) }])
      const error = yield* Effect.flip(test.drain({ maxIntervals: 5 }))
      expect(error).toBeInstanceOf(DecodeError)
      expect(error).toMatchObject({ shardId: bad!.shardId, sequenceNumber: bad!.sequenceNumber })
      expect((yield* test.checkpoints).size).toBe(0)
    }))
})
