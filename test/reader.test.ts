import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { InvalidOption } from "../src/config/index.js"
import {
  type KinesisRecord,
  listShards,
  readShard,
  resolveReaderOptions,
  type ShardChunk,
  ShardPosition,
  type ShardReaderOptions
} from "../src/consumer/index.js"
import { ExpiredIterator, Kinesis, type KinesisApi, KinesisThrottled } from "../src/kinesis/index.js"
import { backoff } from "../src/retry/index.js"
import { type FaultRule, Faults, KinesisCalls, MemoryKinesis, type RecordedCall } from "../src/testing/index.js"

const streamName = "s"
const shard0 = "shardId-000000000000"
const target = (position: ShardPosition = ShardPosition.trimHorizon) => ({ streamName, shardId: shard0, position })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const textOf = (record: KinesisRecord) => decoder.decode(record.data)
const names = (prefix: string, count: number, from = 0) => Array.from({ length: count }, (_, i) => `${prefix}${from + i}`)

/** One single-shard in-memory stream, wrapped by `rules` and logged. */
const kinesisLayer = (rules: ReadonlyArray<FaultRule> = []) =>
  Faults.layer(rules).pipe(Layer.provideMerge(MemoryKinesis.layer({ streams: [{ name: streamName, shardCount: 1 }] })))

/** Puts one record per value, in order; answers their sequence numbers. */
const writeTo = (api: KinesisApi, values: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const seqs: Array<string> = []
    for (let i = 0; i < values.length; i += 500) {
      const Records = values.slice(i, i + 500).map((v) => ({ PartitionKey: v, Data: encoder.encode(v) }))
      const out = yield* api.putRecords({ StreamName: streamName, Records })
      for (const r of out.Records ?? []) seqs.push(r.SequenceNumber!)
    }
    return seqs
  }).pipe(Effect.orDie)

/** Writes straight to the in-memory service, so the writes stay out of the call log. */
const write = (values: ReadonlyArray<string>) => Effect.flatMap(MemoryKinesis, ({ api }) => writeTo(api, values))

const isGetRecords = (c: RecordedCall) => c.operation === "GetRecords" && c.shardId === shard0
const getRecordsLog = Effect.flatMap(KinesisCalls, ({ calls }) => Effect.map(calls, (log) => log.filter(isGetRecords)))
const gaps = (calls: ReadonlyArray<RecordedCall>) => calls.slice(1).map((c, i) => c.at - calls[i]!.at)
const fetched = (calls: ReadonlyArray<RecordedCall>) => calls.reduce((n, c) => n + (c.records ?? 0), 0)

const settingsOf = (options: ShardReaderOptions) => Effect.orDie(resolveReaderOptions(options))

/** Runs a reader in the background; every chunk it delivers is kept. */
const startReader = (options: ShardReaderOptions = {}, position: ShardPosition = ShardPosition.trimHorizon) =>
  Effect.gen(function* () {
    const settings = yield* settingsOf(options)
    const chunks: Array<ShardChunk> = []
    const fiber = yield* readShard(target(position), settings).pipe(
      Stream.runForEach((chunk) => Effect.sync(() => chunks.push(chunk))),
      Effect.fork
    )
    return { chunks, fiber, values: () => chunks.flatMap((c) => c.records.map(textOf)) }
  })

/** A rule that never fails a call and remembers what GetShardIterator was asked. */
const iteratorSpy = () => {
  const requests: Array<{ ShardIteratorType?: string; StartingSequenceNumber?: string }> = []
  const rule: FaultRule = (call) => {
    if (call.operation === "GetShardIterator") {
      const { ShardIteratorType, StartingSequenceNumber } = call.input as Record<string, string | undefined>
      requests.push({
        ...(ShardIteratorType === undefined ? {} : { ShardIteratorType }),
        ...(StartingSequenceNumber === undefined ? {} : { StartingSequenceNumber })
      })
    }
    return undefined
  }
  return { requests, rule }
}

/** Pulls from a reader (made with `Stream.toPull`) until `count` more records came, letting `within` of virtual time pass. */
const pullRecords = <E, R>(
  pull: Effect.Effect<Chunk.Chunk<ShardChunk>, Option.Option<E>, R>,
  into: Array<string>,
  count: number,
  within: Duration.DurationInput
) =>
  Effect.gen(function* () {
    const goal = into.length + count
    const fiber = yield* Effect.fork(
      Effect.whileLoop({
        while: () => into.length < goal,
        body: () => pull,
        step: (chunk) => Chunk.forEach(chunk, (c) => c.records.forEach((r) => into.push(textOf(r))))
      })
    )
    yield* TestClock.adjust(within)
    yield* Fiber.join(fiber)
  })

describe("readShard", () => {
  describe("start positions", () => {
    it.effect("reads every record of the shard once, in order, from TRIM_HORIZON", () =>
      Effect.gen(function* () {
        const seqs = yield* write(names("r", 25))
        const reader = yield* startReader({ limit: 10 })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 25))
        expect(reader.chunks.map((c) => c.records.length)).toEqual([10, 10, 5])
        expect(reader.chunks.flatMap((c) => c.records.map((r) => r.sequenceNumber))).toEqual(seqs)
        for (const chunk of reader.chunks) {
          expect(chunk.shardId).toBe(shard0)
          expect(chunk.shardEnded).toBe(false)
          expect(chunk.bytes).toBe(chunk.records.reduce((n, r) => n + r.data.byteLength, 0))
          for (const r of chunk.records) expect(r).toMatchObject({ shardId: shard0, partitionKey: textOf(r) })
        }
        yield* Fiber.interrupt(reader.fiber)
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("AFTER_SEQUENCE_NUMBER starts after the record, AT_SEQUENCE_NUMBER at it", () =>
      Effect.gen(function* () {
        const seqs = yield* write(names("r", 25))
        const after = yield* startReader({ limit: 10 }, ShardPosition.afterSequenceNumber(seqs[9]!))
        const at = yield* startReader({ limit: 10 }, ShardPosition.atSequenceNumber(seqs[9]!))
        yield* TestClock.adjust("10 seconds")
        expect(after.values()).toEqual(names("r", 15, 10))
        expect(at.values()).toEqual(names("r", 16, 9))
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("AT_TIMESTAMP starts at the first record that arrived at or after the time", () =>
      Effect.gen(function* () {
        yield* write(names("t0-", 3))
        yield* TestClock.adjust("10 seconds")
        yield* write(names("t10-", 3))
        yield* TestClock.adjust("10 seconds")
        yield* write(names("t20-", 3))
        const reader = yield* startReader({}, ShardPosition.atTimestamp(new Date(10_000)))
        yield* TestClock.adjust("5 seconds")
        expect(reader.values()).toEqual([...names("t10-", 3), ...names("t20-", 3)])
        expect(reader.chunks[0]!.records[0]!.approximateArrivalTimestamp).toEqual(new Date(10_000))
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("LATEST reads only what is written after the reader started", () =>
      Effect.gen(function* () {
        yield* write(names("old", 5))
        const reader = yield* startReader({}, ShardPosition.latest)
        yield* TestClock.adjust("1 second")
        const { calls } = yield* KinesisCalls
        expect((yield* calls).map((c) => c.operation)).toContain("GetShardIterator")
        yield* write(names("new", 5))
        yield* TestClock.adjust("5 seconds")
        expect(reader.values()).toEqual(names("new", 5))
      }).pipe(Effect.provide(kinesisLayer())))
  })

  describe("poll rate", () => {
    it.effect("keeps >= 200 ms between GetRecords calls on a shard that keeps receiving records", () =>
      Effect.gen(function* () {
        let produced = 0
        const producer = yield* Effect.fork(
          Effect.forever(Effect.zipRight(Effect.suspend(() => write([`p${produced++}`])), Effect.sleep("330 millis")))
        )
        const reader = yield* startReader()
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.interrupt(producer)
        yield* TestClock.adjust("3 seconds")
        expect(reader.values()).toEqual(names("p", produced))

        const calls = yield* getRecordsLog
        expect(calls.length).toBeGreaterThan(20)
        for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(200)
        // The default pollDelay (250 ms) after records, noRecordsPollDelay (1 s) after an empty response.
        calls.slice(1).forEach((call, i) => {
          const before = calls[i]!
          expect(call.at - before.at).toBeGreaterThanOrEqual(before.records === 0 ? 1000 : 250)
        })
        expect(calls.some((c) => c.records === 0)).toBe(true)
        expect(calls.some((c) => (c.records ?? 0) > 0)).toBe(true)
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("keeps >= 200 ms between calls with pollDelay and noRecordsPollDelay at their minimum", () =>
      Effect.gen(function* () {
        let produced = 0
        const producer = yield* Effect.fork(
          Effect.forever(
            Effect.zipRight(
              Effect.suspend(() => write(names("p", 3, (produced += 3) - 3))),
              Effect.sleep("400 millis")
            )
          )
        )
        // Limit 2 < 3 records per 400 ms: a backlog builds, so most calls return records.
        const reader = yield* startReader({ limit: 2, pollDelay: "200 millis", noRecordsPollDelay: "200 millis" })
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.interrupt(producer)
        yield* TestClock.adjust("3 seconds")
        expect(reader.values()).toEqual(names("p", produced))
        const calls = yield* getRecordsLog
        expect(calls.length).toBeGreaterThanOrEqual(100)
        expect(calls.filter((c) => c.records === 0).length).toBeGreaterThan(0)
        for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(200)
        // Never more than 5 calls in any one-second window.
        for (const call of calls) {
          expect(calls.filter((c) => c.at >= call.at && c.at < call.at + 1000).length).toBeLessThanOrEqual(5)
        }
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("polls an idle shard once per noRecordsPollDelay", () =>
      Effect.gen(function* () {
        const reader = yield* startReader()
        yield* TestClock.adjust("20 seconds")
        const calls = yield* getRecordsLog
        expect(calls.map((c) => c.records)).toEqual(Array.from({ length: 21 }, () => 0))
        for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(1000)
        expect(reader.chunks).toEqual([])
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("waits pollDelay after records and noRecordsPollDelay after an empty response", () =>
      Effect.gen(function* () {
        yield* write(names("r", 25))
        yield* startReader({ limit: 10, pollDelay: "200 millis", noRecordsPollDelay: "3 seconds" })
        yield* TestClock.adjust("7 seconds")
        const calls = yield* getRecordsLog
        expect(calls.map((c) => [c.at, c.records])).toEqual([
          [0, 10],
          [200, 10],
          [400, 5],
          [600, 0],
          [3600, 0],
          [6600, 0]
        ])
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("keeps >= 200 ms between calls across retries of a throttled or expired GetRecords", () =>
      Effect.gen(function* () {
        let produced = 0
        const producer = yield* Effect.fork(
          Effect.forever(Effect.zipRight(Effect.suspend(() => write([`p${produced++}`])), Effect.sleep("100 millis")))
        )
        const reader = yield* startReader({ limit: 2 })
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.interrupt(producer)
        const calls = yield* getRecordsLog
        expect(calls.filter((c) => c.outcome === "injected")).toHaveLength(4)
        expect(reader.values()).toEqual(names("p", reader.values().length))
        for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(200)
      }).pipe(
        Effect.provide(
          kinesisLayer([
            Faults.throttle("GetRecords", { times: 2 }),
            (call) =>
              call.operation === "GetRecords" && (call.index === 10 || call.index === 20)
                ? new ExpiredIterator({ streamName: call.streamName, shardId: call.shardId, cause: "test" })
                : undefined
          ])
        )
      ))
  })

  describe("options", () => {
    it.effect("invalid options fail with InvalidOption naming the option", () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [ShardReaderOptions, string]> = [
          [{ pollDelay: "199 millis" }, "pollDelay"],
          [{ pollDelay: 0 }, "pollDelay"],
          [{ noRecordsPollDelay: "100 millis" }, "noRecordsPollDelay"],
          [{ limit: 0 }, "limit"],
          [{ limit: 10_001 }, "limit"],
          [{ limit: 2.5 }, "limit"],
          [{ maxPrefetchRecords: 0 }, "maxPrefetchRecords"],
          [{ maxPrefetchBytes: 0 }, "maxPrefetchBytes"],
          [{ maxRecordsPerSecond: 0 }, "maxRecordsPerSecond"]
        ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(resolveReaderOptions(options))
          expect(error).toBeInstanceOf(InvalidOption)
          expect(error.option).toBe(option)
          expect(error.message).toContain(option)
        }
      }))

    it.effect("the edges of the valid ranges are accepted, and the defaults are the documented ones", () =>
      Effect.gen(function* () {
        const edges = yield* resolveReaderOptions({
          pollDelay: "200 millis",
          noRecordsPollDelay: 200,
          limit: 10_000,
          maxPrefetchRecords: 1,
          maxRecordsPerSecond: 1
        })
        expect(edges).toMatchObject({ limit: 10_000, maxPrefetchRecords: 1, maxRecordsPerSecond: 1 })
        expect(edges.pollDelay.toJSON()).toEqual({ _id: "Duration", _tag: "Millis", millis: 200 })
        expect((yield* resolveReaderOptions({ limit: 1 })).limit).toBe(1)
        const defaults = yield* resolveReaderOptions()
        expect(defaults).toMatchObject({
          limit: 10_000,
          maxPrefetchRecords: 10_000,
          maxPrefetchBytes: 16 * 1024 * 1024,
          maxRecordsPerSecond: undefined
        })
      }))
  })

  describe("throttling", () => {
    it.effect("a throttled GetRecords is retried on the schedule; nothing is lost or repeated", () =>
      Effect.gen(function* () {
        yield* write(names("r", 25))
        const reader = yield* startReader({ limit: 10 })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 25))
        const calls = yield* getRecordsLog
        expect(calls.slice(0, 5).map((c) => c.outcome)).toEqual(["injected", "injected", "injected", "ok", "ok"])
        expect(calls[0]!.error).toMatchObject({ _tag: "KinesisThrottled", streamName, shardId: shard0 })
        // RetryPolicy.default (100 ms doubling, jitter 80-120%), never faster than 200 ms a call.
        const [first, second, third] = gaps(calls.slice(0, 4))
        expect(first).toBe(200)
        expect(second).toBeGreaterThanOrEqual(200)
        expect(second).toBeLessThanOrEqual(240)
        expect(third).toBeGreaterThanOrEqual(320)
        expect(third).toBeLessThanOrEqual(480)
      }).pipe(Effect.provide(kinesisLayer([Faults.throttle("GetRecords", { times: 3 })]))))

    it.effect("when the retries run out the stream fails with KinesisThrottled naming the stream and shard", () =>
      Effect.gen(function* () {
        yield* write(names("r", 25))
        const reader = yield* startReader({
          limit: 10,
          retry: backoff({ base: "100 millis", cap: "1 second", maxRetries: 2 })
        })
        yield* TestClock.adjust("1 minute")
        const exit = yield* Fiber.await(reader.fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(exit)
        expect(error).toBeInstanceOf(KinesisThrottled)
        expect(error).toMatchObject({ operation: "GetRecords", streamName, shardId: shard0 })
        // The first call's records were delivered before the shard's calls kept failing.
        expect(reader.values()).toEqual(names("r", 10))
        const calls = yield* getRecordsLog
        expect(calls.map((c) => c.outcome)).toEqual(["ok", "injected", "injected", "injected"])
      }).pipe(
        Effect.provide(
          kinesisLayer([
            (call) =>
              call.operation === "GetRecords" && call.index >= 1
                ? new KinesisThrottled({
                  operation: "GetRecords",
                  streamName: call.streamName,
                  shardId: call.shardId,
                  errorName: "ProvisionedThroughputExceededException",
                  cause: "test"
                })
                : undefined
          ])
        )
      ))
  })

  describe("expired iterators", () => {
    const expireCall = (index: number): FaultRule => (call) =>
      call.operation === "GetRecords" && call.index === index
        ? new ExpiredIterator({ streamName: call.streamName, shardId: call.shardId, cause: "test" })
        : undefined

    it.effect("resumes AFTER_SEQUENCE_NUMBER of the last delivered record", () => {
      const spy = iteratorSpy()
      return Effect.gen(function* () {
        const seqs = yield* write(names("r", 35))
        const reader = yield* startReader({ limit: 10 })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 35))
        expect(spy.requests).toEqual([
          { ShardIteratorType: "TRIM_HORIZON" },
          { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber: seqs[19] }
        ])
        const calls = yield* getRecordsLog
        expect(calls.map((c) => c.outcome).slice(0, 4)).toEqual(["ok", "ok", "injected", "ok"])
      }).pipe(Effect.provide(kinesisLayer([spy.rule, expireCall(2)])))
    })

    it.effect("refreshes an expired iterator even when the retry policy allows no retries", () =>
      Effect.gen(function* () {
        yield* write(names("r", 30))
        const reader = yield* startReader({ limit: 10, retry: backoff({ base: "10 millis", cap: "10 millis", maxRetries: 0 }) })
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("r", 30))
        expect(reader.fiber.unsafePoll()).toBeNull()
      }).pipe(Effect.provide(kinesisLayer([expireCall(1)]))))

    it.effect("a LATEST reader that expires before any record resumes from when it started, skipping nothing", () => {
      const spy = iteratorSpy()
      return Effect.gen(function* () {
        yield* TestClock.adjust("1 hour")
        yield* write(names("old", 3))
        yield* TestClock.adjust("10 seconds")
        const reader = yield* startReader({}, ShardPosition.latest)
        // Written after the start but before the refresh (200 ms after the expired call).
        yield* TestClock.adjust("100 millis")
        yield* write(names("new", 4))
        yield* TestClock.adjust("10 seconds")
        expect(reader.values()).toEqual(names("new", 4))
        expect(spy.requests.map((r) => r.ShardIteratorType)).toEqual(["LATEST", "AT_TIMESTAMP"])
      }).pipe(Effect.provide(kinesisLayer([spy.rule, expireCall(0)])))
    })

    for (const start of ["TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER"] as const) {
      it.effect(`expiring before anything was delivered restarts at the original ${start} position`, () => {
        const spy = iteratorSpy()
        return Effect.gen(function* () {
          const seqs = yield* write(names("r", 20))
          const position = start === "TRIM_HORIZON"
            ? ShardPosition.trimHorizon
            : ShardPosition.afterSequenceNumber(seqs[4]!)
          const reader = yield* startReader({ limit: 10 }, position)
          yield* TestClock.adjust("10 seconds")
          expect(reader.values()).toEqual(start === "TRIM_HORIZON" ? names("r", 20) : names("r", 15, 5))
          expect(spy.requests).toHaveLength(2)
          expect(spy.requests[1]).toEqual(spy.requests[0])
          expect(spy.requests[0]!.ShardIteratorType).toBe(start)
        }).pipe(Effect.provide(kinesisLayer([spy.rule, expireCall(0)])))
      })
    }

    it.scoped("an iterator that really expires while the budget is full is renewed: no loss, no repeat", () => {
      const spy = iteratorSpy()
      return Effect.gen(function* () {
        const seqs = yield* write(names("r", 100))
        const settings = yield* settingsOf({ limit: 10, maxPrefetchRecords: 10 })
        const pull = yield* Stream.toPull(readShard(target(), settings))
        const pulled: Array<string> = []
        yield* pullRecords(pull, pulled, 10, "1 second")
        // Nobody pulls for 6 minutes: the reader holds 10 records and waits with its old iterator.
        yield* TestClock.adjust("6 minutes")
        const blocked = yield* getRecordsLog
        expect(blocked.map((c) => [c.outcome, c.records])).toEqual([["ok", 10], ["ok", 10]])
        yield* pullRecords(pull, pulled, 90, "1 minute")
        expect(pulled).toEqual(names("r", 100))
        const calls = yield* getRecordsLog
        const expired = calls.filter((c) => c.outcome === "failed")
        expect(expired.map((c) => c.error?._tag)).toEqual(["ExpiredIterator"])
        expect(spy.requests[1]).toEqual({ ShardIteratorType: "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber: seqs[19] })
      }).pipe(Effect.provide(kinesisLayer([spy.rule])))
    })
  })

  describe("back-pressure", () => {
    it.scoped("never holds more than maxPrefetchRecords unpulled; pulling frees room and reading goes on", () =>
      Effect.gen(function* () {
        const max = 50
        yield* write(names("r", 500))
        const settings = yield* settingsOf({ limit: 20, maxPrefetchRecords: max })
        const pull = yield* Stream.toPull(readShard(target(), settings))
        const pulled: Array<string> = []
        const heldAhead = Effect.map(getRecordsLog, (calls) => fetched(calls) - pulled.length)

        yield* pullRecords(pull, pulled, 1, "0 millis")
        for (let second = 0; second < 30; second++) {
          yield* TestClock.adjust("1 second")
          expect(yield* heldAhead).toBeLessThanOrEqual(max)
        }
        // The budget filled to exactly the limit (20 + 20 + 10), then reading stopped.
        expect(yield* heldAhead).toBe(max)
        const stalled = (yield* getRecordsLog).length
        yield* TestClock.adjust("30 seconds")
        expect((yield* getRecordsLog).length).toBe(stalled)
        expect(pulled.length).toBeLessThan(60)

        // Pulling a few chunks frees room; the reader tops up to the limit again, and no further.
        yield* pullRecords(pull, pulled, 30, "0 millis")
        for (let second = 0; second < 10; second++) {
          yield* TestClock.adjust("1 second")
          expect(yield* heldAhead).toBeLessThanOrEqual(max)
        }
        expect(yield* heldAhead).toBe(max)
        expect((yield* getRecordsLog).length).toBeGreaterThan(stalled)

        yield* pullRecords(pull, pulled, 500 - pulled.length, "2 minutes")
        expect(pulled).toEqual(names("r", 500))
        for (const call of yield* getRecordsLog) expect(call.records ?? 0).toBeLessThanOrEqual(20)
      }).pipe(Effect.provide(kinesisLayer())))
  })

  describe("maxRecordsPerSecond", () => {
    it.effect("caps the read rate of a shard", () =>
      Effect.gen(function* () {
        yield* write(names("r", 5000))
        const reader = yield* startReader({ maxRecordsPerSecond: 100 })
        yield* TestClock.adjust("10 seconds")
        // Calls may start at 0 s and at 10 s inclusive: 10 seconds' worth (1000) plus the call at
        // the end of the window (at most 100, since a call never asks for more than the rate).
        const delivered = reader.values()
        expect(delivered.length).toBeLessThanOrEqual(100 * 10 + 100)
        expect(delivered.length).toBeGreaterThanOrEqual(100 * 10)
        expect(delivered).toEqual(names("r", delivered.length))
        const calls = yield* getRecordsLog
        for (const call of calls) {
          expect(call.records ?? 0).toBeLessThanOrEqual(100)
          const window = calls.filter((c) => c.at >= call.at && c.at < call.at + 1000)
          expect(fetched(window)).toBeLessThanOrEqual(100)
        }
      }).pipe(Effect.provide(kinesisLayer())))
  })

  describe("interruption", () => {
    it.effect("interrupting the consumer aborts the GetRecords in flight; nothing runs afterwards", () =>
      Effect.gen(function* () {
        const memory = yield* MemoryKinesis.make({ streams: [{ name: streamName, shardCount: 1 }] })
        let started = 0
        let aborted = false
        const hanging: KinesisApi = {
          ...memory.api,
          getRecords: (input, where) =>
            Effect.suspend(() =>
              started++ < 2
                ? memory.api.getRecords(input, where)
                : Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (aborted = true))))
            )
        }
        const { api, calls } = yield* Faults.wrap(hanging, [])
        yield* writeTo(memory.api, names("r", 30))
        yield* Effect.gen(function* () {
          const reader = yield* startReader({ limit: 10 })
          yield* TestClock.adjust("5 seconds")
          expect(reader.values()).toEqual(names("r", 20))
          expect(started).toBe(3)
          expect(aborted).toBe(false)

          yield* Fiber.interrupt(reader.fiber)
          expect(aborted).toBe(true)
          const after = yield* calls
          expect(after.filter(isGetRecords).map((c) => c.outcome)).toEqual(["ok", "ok", "interrupted"])

          yield* TestClock.adjust("1 hour")
          expect(yield* calls).toEqual(after)
          expect(started).toBe(3)
          expect(reader.values()).toHaveLength(20)
        }).pipe(Effect.provideService(Kinesis, api))
      }))

    it.effect("interrupting the consumer between polls cancels the wait for the next call", () =>
      Effect.gen(function* () {
        yield* write(names("r", 5))
        const reader = yield* startReader({ noRecordsPollDelay: "5 seconds" })
        yield* TestClock.adjust("6 seconds")
        const before = yield* getRecordsLog
        expect(before.map((c) => [c.at, c.records])).toEqual([[0, 5], [250, 0], [5250, 0]])
        yield* Fiber.interrupt(reader.fiber)
        yield* write(names("late", 5))
        yield* TestClock.adjust("1 hour")
        expect(yield* getRecordsLog).toEqual(before)
        expect(reader.values()).toEqual(names("r", 5))
      }).pipe(Effect.provide(kinesisLayer())))
  })

  describe("closed shards", () => {
    it.effect("a split shard ends the stream after its records, the last chunk marked shardEnded", () =>
      Effect.gen(function* () {
        const seqs = yield* write(names("r", 25))
        const memory = yield* MemoryKinesis
        const children = yield* memory.splitShard(streamName, shard0)
        yield* write(names("child", 5))
        const reader = yield* startReader({ limit: 10 })
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(reader.fiber)
        expect(reader.values()).toEqual(names("r", 25))
        expect(reader.chunks.map((c) => c.shardEnded)).toEqual([false, false, true])
        expect(reader.chunks.at(-1)!.records.at(-1)!.sequenceNumber).toBe(seqs[24])

        const shards = yield* listShards(streamName)
        expect(shards.map((s) => [s.shardId, s.parentShardId, s.closed])).toEqual([
          [shard0, undefined, true],
          [children[0], shard0, false],
          [children[1], shard0, false]
        ])
      }).pipe(Effect.provide(kinesisLayer())))

    it.effect("a shard closed while the reader is idle ends with an empty shardEnded chunk", () =>
      Effect.gen(function* () {
        yield* write(names("r", 5))
        const reader = yield* startReader()
        yield* TestClock.adjust("3 seconds")
        expect(reader.chunks.map((c) => c.shardEnded)).toEqual([false])
        const memory = yield* MemoryKinesis
        yield* memory.splitShard(streamName, shard0)
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(reader.fiber)
        expect(reader.values()).toEqual(names("r", 5))
        expect(reader.chunks.map((c) => [c.records.length, c.shardEnded])).toEqual([[5, false], [0, true]])
      }).pipe(Effect.provide(kinesisLayer())))
  })
})
