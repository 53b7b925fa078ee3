import { describe, expect, it } from "@effect/vitest"
import { createServer } from "node:net"
import { Deferred, Effect, Layer } from "effect"
import {
  type Batch,
  CheckpointStore,
  Codec,
  DeadLetter,
  type DeadLetterRecord,
  InvalidOption,
  Kinesis,
  KinesisAccessDenied,
  KinesisConfigError,
  KinesisResourceNotFound,
  makeMemoryStore,
  Pipeline
} from "../src/index.js"
import { Faults, MemoryKinesis, PipelineTest } from "../src/testing/index.js"

const encoder = new TextEncoder()
const SHARD_0 = "shardId-000000000000"
const SHARD_1 = "shardId-000000000001"
const hashKeyOf = [ "0", (2n ** 128n - 1n).toString() ]

const orders = Pipeline.fromKinesis({ streamName: "orders", codec: Codec.utf8, batchInterval: "1 second" })

/** A port on 127.0.0.1 that nothing listens on (taken, then released). */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  }))

describe("a fatal error stops the pipeline", () => {
  it.scoped("access denied on one shard: the run fails with KinesisAccessDenied, not retried, after what was read before it is processed and checkpointed", () =>
    Effect.gen(function* () {
      const seen: Array<Batch<string>> = []
      const test = yield* PipelineTest.make(orders, (batch) => Effect.sync(() => void seen.push(batch)), {
        shardCount: 2,
        // The second shard's first read goes through; its second is refused.
        faults: { seed: 1, faults: [{ operation: "GetRecords", shardId: SHARD_1, kind: { _tag: "AccessDenied" }, at: [1] }] }
      })
      const placed = yield* test.put(Array.from({ length: 8 }, (_, i) => ({
        partitionKey: "k",
        explicitHashKey: hashKeyOf[i % 2]!,
        data: encoder.encode(`v${i}`)
      })))
      const error = yield* Effect.flip(test.drain({ maxIntervals: 20 }))
      expect(error).toBeInstanceOf(KinesisAccessDenied)
      expect(error.message).toContain("orders")
      expect(error.message).toContain("GetRecords")
      // Every record read before the refusal reached the sink, in a last batch closed by the failure.
      expect(seen.flatMap((b) => b.records.map((r) => r.value)).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `v${i}`))
      expect(seen.at(-1)!.closedBy).toBe("failure")
      // ... and was checkpointed before the run failed.
      const checkpoints = yield* test.checkpoints
      expect(checkpoints.get(SHARD_0)).toMatchObject({ sequenceNumber: placed[6]!.sequenceNumber })
      expect(checkpoints.get(SHARD_1)).toMatchObject({ sequenceNumber: placed[7]!.sequenceNumber })
      const refused = (yield* test.calls).filter((c) => c.operation === "GetRecords" && c.outcome === "injected")
      expect(refused).toHaveLength(1)
    }))

  it.effect("a stream that does not exist fails at start with InvalidOption naming it, before any shard is read", () =>
    Effect.gen(function* () {
      const run = Pipeline.fromKinesis({ streamName: "oders", codec: Codec.utf8, batchInterval: "1 second" }).pipe(
        Pipeline.foreachBatch(() => Effect.void)
      )
      const error = yield* Effect.flip(run).pipe(
        Effect.provide(Layer.merge(MemoryKinesis.layer({ streams: [{ name: "orders", shardCount: 1 }] }), CheckpointStore.layerMemory))
      )
      expect(error).toBeInstanceOf(InvalidOption)
      expect((error as InvalidOption).option).toBe("streamName")
      expect(error.message).toContain("\"oders\"")
    }))

  it.live("a wrong endpoint fails the pipeline at start with KinesisConfigError naming it, at once, although the reader would retry transient faults", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const endpoint = `http://127.0.0.1:${port}`
      const started = Date.now()
      const error = yield* Effect.flip(orders.pipe(Pipeline.foreachBatch(() => Effect.void))).pipe(
        Effect.provide(Layer.merge(
          Kinesis.layer({ endpoint, region: "eu-west-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-secret" } }),
          CheckpointStore.layerMemory
        ))
      )
      expect(error).toBeInstanceOf(KinesisConfigError)
      expect((error as KinesisConfigError).setting).toBe("endpoint")
      expect(error.message).toContain(endpoint)
      // Not retried: RetryPolicy.default would take over a minute on a transient fault.
      expect(Date.now() - started).toBeLessThan(5_000)
    }))
})

describe("dead letters of a merged pipeline", () => {
  it.scoped("name the stream and shard each record came from, not the merged shard id", () =>
    Effect.gen(function* () {
      const letters: Array<DeadLetterRecord> = []
      const web = Pipeline.fromKinesis({ streamName: "web", codec: Codec.utf8, batchInterval: "1 second" })
      const app = Pipeline.fromKinesis({ streamName: "app", codec: Codec.utf8, batchInterval: "1 second" })
      const test = yield* PipelineTest.make(Pipeline.merge(web, app), undefined, {
        streams: [{ name: "web", shardCount: 1 }, { name: "app", shardCount: 1 }]
      }).pipe(Effect.provide(DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records)))))
      // 0xff never appears in UTF-8: these do not decode.
      const [webBad] = yield* test.put([{ partitionKey: "w", data: new Uint8Array([0xff]) }], "web")
      const [appBad] = yield* test.put([{ partitionKey: "a", data: new Uint8Array([0xfe, 0xff]) }], "app")
      yield* test.put([{ partitionKey: "w", data: encoder.encode("fine") }], "web")
      yield* test.advance(3)
      expect(letters.map((l) => [l.streamName, l.shardId, l.sequenceNumber]).sort()).toEqual([
        ["app", appBad!.shardId, appBad!.sequenceNumber],
        ["web", webBad!.shardId, webBad!.sequenceNumber]
      ])
    }))
})

describe("a closed shard the service no longer knows (its records outlived the retention period)", () => {
  const readAfterSplit = (notFound: "parent" | "child") =>
    Effect.gen(function* () {
      const memory = yield* MemoryKinesis.make({ streams: [{ name: "orders", shardCount: 1 }] })
      const putAll = (values: ReadonlyArray<string>) =>
        memory.api.putRecords({ StreamName: "orders", Records: values.map((v) => ({ PartitionKey: v, Data: encoder.encode(v) })) })
      yield* putAll(["old0", "old1", "old2"])
      const [left] = yield* memory.splitShard("orders", SHARD_0)
      yield* putAll(Array.from({ length: 6 }, (_, i) => `new${i}`))
      const gone = notFound === "parent" ? SHARD_0 : left!
      const faulty = yield* Faults.wrap(memory.api, {
        seed: 1,
        faults: [{ operation: "GetShardIterator", shardId: gone, kind: { _tag: "AwsError", name: "ResourceNotFoundException" } }]
      })
      const store = yield* makeMemoryStore()
      const seen: Array<string> = []
      const done = yield* Deferred.make<void>()
      const summary = yield* orders.pipe(
        Pipeline.foreachBatch((batch) => Effect.sync(() => {
          for (const r of batch.records) seen.push(r.value)
          if (seen.filter((v) => v.startsWith("new")).length === 6) Deferred.unsafeDone(done, Effect.void)
        }), { stopWhen: Deferred.await(done) }),
        Effect.provideService(Kinesis, faulty.api),
        Effect.provideService(CheckpointStore, store),
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the children were never read") }),
        Effect.either
      )
      return { seen, summary, checkpoints: yield* store.load({ applicationName: "shardline", streamName: "orders" }) }
    })

  it.live("is read as ended: SHARD_END is checkpointed and its children are read", () =>
    Effect.gen(function* () {
      const { checkpoints, seen, summary } = yield* readAfterSplit("parent")
      expect(summary._tag).toBe("Right")
      expect(seen.sort()).toEqual(Array.from({ length: 6 }, (_, i) => `new${i}`))
      expect(checkpoints.get(SHARD_0)).toEqual({ _tag: "ShardEnd" })
    }), 30_000)

  it.live("an open shard that is not found is an error, not an end", () =>
    Effect.gen(function* () {
      const { summary } = yield* readAfterSplit("child")
      expect(summary._tag).toBe("Left")
      expect((summary as { left: unknown }).left).toBeInstanceOf(KinesisResourceNotFound)
    }), 30_000)
})
