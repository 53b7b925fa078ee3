/**
 * Enhanced fan-out against kinesis-local (kinesis-mock): consumer registration and reuse,
 * SubscribeToShard reads with resubscription, error paths, and the end of a split shard.
 *
 * What kinesis-mock does (and Kinesis does not), read from its source and checked here:
 * - it pushes an event every second (Kinesis pushes as records arrive), each with every record
 *   since the last one;
 * - a subscription lasts 5 minutes and that is not configurable: tests end subscriptions early
 *   through a wrapper of the real, kinesis-local-backed api;
 * - on a closed shard it never sends the last event (ContinuationSequenceNumber null, ChildShards):
 *   the split-shard test adds that event the way Kinesis sends it (see `endingClosedShards`);
 * - a second subscription to a shard while one is open fails with ResourceInUseException, also for
 *   a moment after the first one's connection closed.
 */
import type { SubscribeToShardEvent } from "@aws-sdk/client-kinesis"
import { expect, layer } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import {
  acquireStreamConsumer,
  type FanOutReaderSettings,
  type FanOutReadTarget,
  type KinesisRecord,
  readShardFanOut,
  resolveReaderOptions,
  type ShardChunk,
  ShardPosition
} from "../src/consumer/index.js"
import { fromAwsError, Kinesis, type KinesisApi, type KinesisError } from "../src/kinesis/index.js"
import { RetryPolicy } from "../src/retry/index.js"
import { CheckpointStore, Codec, LeaseStore, makeMemoryStore, Pipeline } from "../src/index.js"
import { collect, sourceCount } from "./support/collect.js"
import { allShards, bytes, freshStream, shardId, split } from "./support/kinesisContract.js"
import { KinesisLocal } from "./support/kinesisLocal.js"

const decoder = new TextDecoder()
const textOf = (r: KinesisRecord) => decoder.decode(r.data)

let consumers = 0
const consumerName = () => `fanout-consumer-${++consumers}`

const put = (streamName: string, values: ReadonlyArray<string>) =>
  Effect.flatMap(Kinesis, (k) =>
    k.putRecords({ StreamName: streamName, Records: values.map((v) => ({ PartitionKey: `key-${v}`, Data: bytes(v) })) })).pipe(
      Effect.tap((out) => expect(out.FailedRecordCount ?? 0).toBe(0))
    )

const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

const settings = (overrides: Partial<FanOutReaderSettings> = {}) =>
  Effect.map(resolveReaderOptions({ retry: RetryPolicy.aggressive }), (s): FanOutReaderSettings => ({ ...s, ...overrides }))

/** One SubscribeToShard call as the wrapper saw it. */
interface Call {
  readonly at: number
  readonly position: string
}

/**
 * The real api with its subscribeToShard passed through `change` (call index, the real events),
 * recording each call's time and starting position.
 */
const wrapped = (
  api: KinesisApi,
  change: (index: number, events: Stream.Stream<SubscribeToShardEvent, KinesisError>) => Stream.Stream<SubscribeToShardEvent, KinesisError>
) => {
  const calls: Array<Call> = []
  const withCalls: KinesisApi = {
    ...api,
    subscribeToShard: (input, target) =>
      Stream.suspend(() => {
        const p = input.StartingPosition!
        calls.push({ at: Date.now(), position: p.SequenceNumber === undefined ? p.Type! : `${p.Type}:${p.SequenceNumber}` })
        return change(calls.length - 1, api.subscribeToShard!(input, target))
      })
  }
  return { api: withCalls, calls }
}

/** Reads `n` records (the stream is then interrupted), with the whole test bounded. */
const readRecords = (chunks: Stream.Stream<ShardChunk, KinesisError, Kinesis>, n: number) =>
  chunks.pipe(
    Stream.mapConcat((chunk) => chunk.records),
    Stream.take(n),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.timeout("20 seconds")
  )

/** Spacing of consecutive calls, in ms. */
const gaps = (calls: ReadonlyArray<Call>) => calls.slice(1).map((c, i) => c.at - calls[i]!.at)

/** A service error as the SDK throws it, mapped as the client maps it. */
const serviceError = (name: string, shard: string) =>
  fromAwsError("SubscribeToShard", { shardId: shard }, Object.assign(new Error(`${name} (injected)`), {
    name,
    $metadata: { httpStatusCode: 400 }
  }))

const streamWithConsumer = Effect.gen(function* () {
  const streamName = yield* freshStream(1)
  const consumer = yield* acquireStreamConsumer({ streamName, consumerName: consumerName(), pollInterval: "20 millis" })
  const target = (position: ShardPosition = ShardPosition.trimHorizon): FanOutReadTarget => ({
    streamName,
    shardId: shardId(0),
    position,
    consumerArn: consumer.consumerArn
  })
  return { streamName, consumer, target }
})

layer(KinesisLocal.layer(), { excludeTestServices: true, timeout: "60 seconds" })("enhanced fan-out on kinesis-local", (it) => {
  it.scoped("acquireStreamConsumer registers, reuses by name, and deregisters only what it created", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const streamName = yield* freshStream(1)
      const name = consumerName()
      const owner = yield* Scope.make()
      const first = yield* acquireStreamConsumer({ streamName, consumerName: name, pollInterval: "20 millis" }).pipe(
        Scope.extend(owner)
      )
      expect(first.created).toBe(true)
      expect(first.consumerArn).toContain(`/consumer/${name}:`)
      const active = yield* kinesis.describeStreamConsumer!({ ConsumerARN: first.consumerArn })
      expect(active.ConsumerDescription?.ConsumerStatus).toBe("ACTIVE")

      // A second acquisition of the name reuses it, and leaves it registered when its scope closes.
      const second = yield* Effect.scoped(acquireStreamConsumer({ streamName, consumerName: name, pollInterval: "20 millis" }))
      expect(second).toEqual({ ...first, created: false })
      const still = yield* kinesis.describeStreamConsumer!({ ConsumerARN: first.consumerArn })
      expect(still.ConsumerDescription?.ConsumerStatus).toBe("ACTIVE")

      // The creator's scope deregisters it.
      yield* Scope.close(owner, Exit.void)
      const gone = yield* kinesis.describeStreamConsumer!({ ConsumerARN: first.consumerArn }).pipe(
        Effect.map((out) => out.ConsumerDescription?.ConsumerStatus ?? "none"),
        Effect.catchTag("KinesisResourceNotFound", () => Effect.succeed("gone")),
        Effect.repeat({ until: (status) => status === "gone", times: 50 }),
        Effect.delay("20 millis")
      )
      expect(gone).toBe("gone")
    }))

  it.scoped("reads every record once, in order, from TRIM_HORIZON, also records put while it reads", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const before = values("before", 30)
      const during = values("during", 20)
      yield* put(streamName, before)
      const reader = yield* readRecords(readShardFanOut(target(), yield* settings()), 50).pipe(Effect.fork)
      yield* Effect.sleep("1500 millis")
      yield* put(streamName, during)
      const records = yield* Fiber.join(reader)
      expect(records.map(textOf)).toEqual([...before, ...during])
      const first = records[0]!
      expect(first.shardId).toBe(shardId(0))
      expect(first.partitionKey).toBe("key-before-0")
      expect(first.approximateArrivalTimestamp).toBeInstanceOf(Date)
      expect(first.data).toBeInstanceOf(Uint8Array)
      const seqs = records.map((r) => BigInt(r.sequenceNumber))
      expect(seqs.every((s, i) => i === 0 || seqs[i - 1]! < s)).toBe(true)
    }))

  it.scoped("resubscribes after the continuation sequence number when a subscription ends: nothing lost or repeated", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const real = yield* Kinesis
      // Each subscription ends after 2 events, as the service ends one after 5 minutes.
      const { api, calls } = wrapped(real, (_, events) => Stream.take(events, 2))
      const batches = [values("a", 5), values("b", 5), values("c", 5), values("d", 5)]
      yield* put(streamName, batches[0]!)
      const reader = yield* readRecords(readShardFanOut(target(), yield* settings()), 20).pipe(
        Effect.provideService(Kinesis, api),
        Effect.fork
      )
      for (const batch of batches.slice(1)) {
        yield* Effect.sleep("1200 millis")
        yield* put(streamName, batch)
      }
      const records = yield* Fiber.join(reader)
      expect(records.map(textOf)).toEqual(batches.flat())
      expect(calls.length).toBeGreaterThanOrEqual(2)
      expect(calls[0]!.position).toBe("TRIM_HORIZON")
      expect(calls.slice(1).every((c) => c.position.startsWith("AFTER_SEQUENCE_NUMBER:"))).toBe(true)
      expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(995)
    }))

  it.scoped("ResourceInUse on SubscribeToShard: retried no sooner than 1 s apart, then reads everything", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const real = yield* Kinesis
      const { api, calls } = wrapped(real, (index, events) =>
        index < 2 ? Stream.fail(serviceError("ResourceInUseException", shardId(0))) : events)
      const written = values("r", 10)
      yield* put(streamName, written)
      const records = yield* readRecords(readShardFanOut(target(), yield* settings()), 10).pipe(
        Effect.provideService(Kinesis, api)
      )
      expect(records.map(textOf)).toEqual(written)
      expect(calls.map((c) => c.position)).toEqual(["TRIM_HORIZON", "TRIM_HORIZON", "TRIM_HORIZON"])
      expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(995)
    }))

  it.scoped("a renewal refused with ResourceInUse (the old subscription still held) is waited out even with RetryPolicy.none", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const real = yield* Kinesis
      // The first subscription ends after 1 event; its first two renewals are refused as still in use.
      const { api, calls } = wrapped(real, (index, events) =>
        index === 0 ? Stream.take(events, 1) : index <= 2 ? Stream.fail(serviceError("ResourceInUseException", shardId(0))) : events)
      const [first, second] = [values("x", 4), values("y", 4)]
      yield* put(streamName, first)
      const reader = yield* readRecords(readShardFanOut(target(), yield* settings({ retry: RetryPolicy.none })), 8).pipe(
        Effect.provideService(Kinesis, api),
        Effect.fork
      )
      yield* Effect.sleep("1500 millis")
      yield* put(streamName, second)
      const records = yield* Fiber.join(reader)
      expect(records.map(textOf)).toEqual([...first, ...second])
      expect(calls.length).toBe(4)
      expect(calls.slice(1).every((c) => c.position.startsWith("AFTER_SEQUENCE_NUMBER:"))).toBe(true)
      expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(995)
    }))

  it.scoped("ResourceInUse from kinesis-local itself (another subscription open) is waited out", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const kinesis = yield* Kinesis
      const written = values("held", 5)
      yield* put(streamName, written)
      // Another subscription holds the shard for 2 s.
      const holder = yield* kinesis.subscribeToShard!({
        ConsumerARN: target().consumerArn,
        ShardId: shardId(0),
        StartingPosition: { Type: "LATEST" }
      }).pipe(Stream.runDrain, Effect.timeout("2 seconds"), Effect.ignore, Effect.fork)
      yield* Effect.sleep("300 millis")
      const { api, calls } = wrapped(kinesis, (_, events) => events)
      const records = yield* readRecords(readShardFanOut(target(), yield* settings()), 5).pipe(
        Effect.provideService(Kinesis, api)
      )
      yield* Fiber.join(holder)
      expect(records.map(textOf)).toEqual(written)
      expect(calls.length).toBeGreaterThanOrEqual(2)
    }))

  it.scoped("a subscription dropped mid-stream resubscribes after >= 1 s from the last continuation", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const real = yield* Kinesis
      const dropped = fromAwsError("SubscribeToShard", { shardId: shardId(0) }, Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))
      expect(dropped._tag === "KinesisRequestError" && dropped.retryable).toBe(true)
      // The first subscription's connection drops right after its first event.
      const { api, calls } = wrapped(real, (index, events) =>
        index === 0 ? Stream.concat(Stream.take(events, 1), Stream.fail(dropped)) : events)
      const first = values("first", 8)
      const second = values("second", 8)
      yield* put(streamName, first)
      // No retries of transient faults: the drop after an event is renewed without counting as one.
      // (Throttles keep their retries: kinesis-local answers ResourceInUse until it sees the old connection closed.)
      const retry = RetryPolicy.byClass({ transient: RetryPolicy.none, throttled: RetryPolicy.aggressive })
      const reader = yield* readRecords(readShardFanOut(target(), yield* settings({ retry })), 16).pipe(
        Effect.provideService(Kinesis, api),
        Effect.fork
      )
      yield* Effect.sleep("1300 millis")
      yield* put(streamName, second)
      const records = yield* Fiber.join(reader)
      expect(records.map(textOf)).toEqual([...first, ...second])
      expect(calls[1]!.position).toBe(`AFTER_SEQUENCE_NUMBER:${records[first.length - 1]!.sequenceNumber}`)
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(995)
    }))

  it.scoped("a fatal error fails the stream with the typed error, and a retryable one after the policy is spent", () =>
    Effect.gen(function* () {
      const { target } = yield* streamWithConsumer
      const real = yield* Kinesis
      const denied = wrapped(real, () => Stream.fail(serviceError("AccessDeniedException", shardId(0))))
      const fatal = yield* readShardFanOut(target(), yield* settings()).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, denied.api),
        Effect.flip
      )
      expect(fatal._tag).toBe("KinesisAccessDenied")
      expect(denied.calls.length).toBe(1)

      const busy = wrapped(real, () => Stream.fail(serviceError("ResourceInUseException", shardId(0))))
      const spent = yield* readShardFanOut(target(), yield* settings({ retry: RetryPolicy.none })).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, busy.api),
        Effect.flip
      )
      expect(spent._tag).toBe("KinesisThrottled")
      expect(busy.calls.length).toBe(1)
    }))

  it.scoped("an api without subscribeToShard fails with a clear, fatal request error", () =>
    Effect.gen(function* () {
      const real = yield* Kinesis
      const { subscribeToShard: _, ...withoutFanOut } = real
      const error = yield* readShardFanOut(
        { streamName: "s", shardId: shardId(0), position: ShardPosition.latest, consumerArn: "arn" },
        yield* settings()
      ).pipe(Stream.runDrain, Effect.provideService(Kinesis, withoutFanOut), Effect.flip)
      expect(error._tag).toBe("KinesisRequestError")
      expect(error.message).toContain("has no SubscribeToShard")
    }))

  it.scoped("interrupting the stream aborts the subscription: the shard can be subscribed again", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      yield* put(streamName, values("x", 3))
      const first = yield* readRecords(readShardFanOut(target(), yield* settings()), 3)
      expect(first.map(textOf)).toEqual(values("x", 3))
      // A subscription left open would hold the shard (ResourceInUse) for its 5 minutes.
      const again = yield* readRecords(readShardFanOut(target(), yield* settings({ retry: RetryPolicy.default })), 3)
      expect(again.map(textOf)).toEqual(values("x", 3))
    }))

  it.scoped("a split shard ends with shardEnded and its children (with Kinesis' last event added)", () =>
    Effect.gen(function* () {
      const { streamName, target } = yield* streamWithConsumer
      const real = yield* Kinesis
      const before = values("pre", 6)
      yield* put(streamName, before)
      const parent = (yield* allShards(streamName))[0]!
      yield* split(streamName, parent)
      const shards = yield* allShards(streamName)
      const children = shards.filter((s) => s.ParentShardId === shardId(0)).map((s) => s.ShardId!)
      expect(children).toHaveLength(2)
      const { api } = wrapped(real, (_, events) => endingClosedShards(real, streamName, shardId(0), events))
      const chunks = yield* readShardFanOut(target(), yield* settings()).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.provideService(Kinesis, api),
        Effect.timeout("20 seconds")
      )
      expect(chunks.flatMap((c) => c.records).map(textOf)).toEqual(before)
      const last = chunks[chunks.length - 1]!
      expect(last.shardEnded).toBe(true)
      expect(chunks.slice(0, -1).every((c) => !c.shardEnded)).toBe(true)
      expect(last.childShards?.map((c) => c.shardId).sort()).toEqual([...children].sort())
      expect(last.childShards?.every((c) => c.parentShardIds.includes(shardId(0)))).toBe(true)
    }))

  it.scoped("a pipeline with retrieval: \"fanout\" reads every shard through its own consumer, checkpoints, and deregisters the consumer it registered", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const streamName = yield* freshStream(2)
      const name = consumerName()
      const written = values("fan", 40)
      yield* put(streamName, written)
      const store = yield* makeMemoryStore()
      const pipeline = Pipeline.fromKinesis({
        streamName,
        codec: Codec.utf8,
        batchInterval: "200 millis",
        retrieval: "fanout",
        consumerName: name,
        reader: { retry: RetryPolicy.aggressive }
      })
      // Counts how the shards were read: by subscription, never by GetRecords.
      const used = { subscribeToShard: 0, getRecords: 0 }
      const counting: KinesisApi = {
        ...kinesis,
        subscribeToShard: (input, target) => Stream.suspend(() => (used.subscribeToShard++, kinesis.subscribeToShard!(input, target))),
        getRecords: (input, target) => Effect.suspend(() => (used.getRecords++, kinesis.getRecords(input, target)))
      }
      const { records } = yield* collect(pipeline, (batches) => sourceCount(batches) >= written.length).pipe(
        Effect.provideService(CheckpointStore, store),
        Effect.provideService(Kinesis, counting)
      )
      expect(used.subscribeToShard).toBeGreaterThanOrEqual(2)
      expect(used.getRecords).toBe(0)
      expect(records.map((r) => r.value).sort()).toEqual([...written].sort())
      // Per shard in sequence order, each once.
      for (const shard of new Set(records.map((r) => r.shardId))) {
        const sequence = records.filter((r) => r.shardId === shard).map((r) => BigInt(r.sequenceNumber))
        expect(sequence).toEqual([...sequence].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
      }
      expect((yield* store.load({ applicationName: "shardline", streamName })).size).toBe(2)
      const summary = yield* kinesis.describeStreamSummary({ StreamName: streamName })
      const left = yield* kinesis.listStreamConsumers!({ StreamARN: summary.StreamDescriptionSummary!.StreamARN! })
      expect((left.Consumers ?? []).filter((c) => c.ConsumerName === name && c.ConsumerStatus !== "DELETING")).toEqual([])
    }))

  it.scoped("two leased workers share one consumer: each reads the shards it holds, and the consumer stays registered for the others", () =>
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const streamName = yield* freshStream(2)
      const name = consumerName()
      const written = values("lease", 30)
      yield* put(streamName, written)
      const worker = (workerId: string) =>
        Pipeline.fromKinesis({
          streamName,
          codec: Codec.utf8,
          batchInterval: "200 millis",
          retrieval: "fanout",
          consumerName: name,
          reader: { retry: RetryPolicy.aggressive },
          leases: { workerId, failoverTime: "3 seconds" }
        })
      const seen: Array<string> = []
      const done = yield* Deferred.make<void>()
      const run = (workerId: string) =>
        worker(workerId).pipe(
          Pipeline.foreachBatch((batch) => Effect.sync(() => {
            for (const r of batch.records) seen.push(r.value)
            if (seen.length >= written.length) Deferred.unsafeDone(done, Effect.void)
          }), { stopWhen: Deferred.await(done) })
        )
      yield* Effect.all([run("w1"), run("w2")], { concurrency: 2 }).pipe(
        Effect.provide(LeaseStore.layerMemory),
        Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => new Error("the workers did not read every record") })
      )
      expect([...seen].sort()).toEqual([...written].sort())
      const summary = yield* kinesis.describeStreamSummary({ StreamName: streamName })
      const consumers = yield* kinesis.listStreamConsumers!({ StreamARN: summary.StreamDescriptionSummary!.StreamARN! })
      expect((consumers.Consumers ?? []).filter((c) => c.ConsumerName === name).map((c) => c.ConsumerStatus)).toEqual(["ACTIVE"])
    }))

  it.effect("retrieval must be \"polling\" or \"fanout\"", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Pipeline.fromKinesis({ streamName: "x", codec: Codec.utf8, batchInterval: "1 second", retrieval: "push" as "fanout" }).pipe(
          Pipeline.foreachBatch(() => Effect.void),
          Effect.provide(CheckpointStore.layerMemory)
        )
      )
      expect(error).toMatchObject({ _tag: "InvalidOption", option: "retrieval" })
    }))
})

/**
 * kinesis-mock keeps pushing empty events on a closed shard. Kinesis instead sends, once every
 * record is delivered, an event with no ContinuationSequenceNumber and the ChildShards, and ends
 * the subscription: this adds that event after the first empty one on a shard ListShards says is closed.
 */
const endingClosedShards = (
  api: KinesisApi,
  streamName: string,
  shard: string,
  events: Stream.Stream<SubscribeToShardEvent, KinesisError>
): Stream.Stream<SubscribeToShardEvent, KinesisError> =>
  Stream.unwrap(
    Effect.map(api.listShards({ StreamName: streamName }), (out) => {
      const shards = out.Shards ?? []
      const closed = shards.some((s) => s.ShardId === shard && s.SequenceNumberRange?.EndingSequenceNumber !== undefined)
      const childShards = shards
        .filter((s) => s.ParentShardId === shard || s.AdjacentParentShardId === shard)
        .map((s) => ({
          ShardId: s.ShardId!,
          ParentShards: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined),
          HashKeyRange: s.HashKeyRange!
        }))
      return events.pipe(
        Stream.map((event): SubscribeToShardEvent =>
          closed && (event.Records ?? []).length === 0
            ? { Records: [], ContinuationSequenceNumber: undefined, MillisBehindLatest: 0, ChildShards: childShards }
            : event
        ),
        Stream.takeUntil((event) => event.ContinuationSequenceNumber === undefined)
      )
    })
  )
