import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { CheckpointStore, Codec, GracefulStopTimeout, onSignal, Pipeline } from "../src/index.js"
import { Faults, KinesisCalls, MemoryKinesis } from "../src/testing/index.js"

const encoder = new TextEncoder()

/** A 2-shard in-memory stream with a call log; everything runs on the test clock. */
const kinesis = Faults.layer([]).pipe(Layer.provideMerge(MemoryKinesis.layer({ streams: [{ name: "s", shardCount: 2 }] })))
const environment = Layer.merge(kinesis, CheckpointStore.layerMemory)

const write = (count: number) =>
  Effect.flatMap(MemoryKinesis, ({ api }) =>
    api.putRecords({
      StreamName: "s",
      Records: Array.from({ length: count }, (_, i) => ({ PartitionKey: `k${i}`, Data: encoder.encode(`v${i}`) }))
    })
  ).pipe(Effect.orDie)

const callCount = Effect.flatMap(KinesisCalls, ({ calls }) => Effect.map(calls, (all) => all.length))

const pipeline = Pipeline.fromKinesis({ streamName: "s", codec: Codec.utf8, batchInterval: "1 second" })

describe("pipeline lifecycle on the test clock", () => {
  it.effect("runs on virtual time: one batch per interval, records in the batch after they are read", () =>
    Effect.gen(function* () {
      yield* write(10)
      const seen: Array<number> = []
      const fiber = yield* pipeline.pipe(
        Pipeline.foreachBatch((batch) => Effect.sync(() => seen.push(batch.records.length))),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      expect(seen).toEqual([10, 0, 0])
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(environment)))

  it.effect("interruption stops every reader and timer: no call is made afterwards", () =>
    Effect.gen(function* () {
      yield* write(10)
      const fiber = yield* pipeline.pipe(Pipeline.foreachBatch(() => Effect.void), Effect.fork)
      yield* TestClock.adjust("5 seconds")
      const before = yield* callCount
      expect(before).toBeGreaterThan(4)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* TestClock.adjust("1 hour")
      expect(yield* callCount).toBe(before)
    }).pipe(Effect.provide(environment)))

  it.effect("a graceful stop that cannot drain in time fails with GracefulStopTimeout and checkpoints nothing of it", () =>
    Effect.gen(function* () {
      yield* write(10)
      const stop = yield* Deferred.make<void>()
      const fiber = yield* pipeline.pipe(
        // A sink that never finishes: the stop cannot complete.
        Pipeline.foreachBatch(() => Effect.never, { stopWhen: Deferred.await(stop), gracefulStopTimeout: "3 seconds" }),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      yield* Deferred.succeed(stop, undefined)
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toEqual(new GracefulStopTimeout({ timeout: Duration.seconds(3) }))
      const store = yield* CheckpointStore
      expect((yield* store.load({ applicationName: "shardline", streamName: "s" })).size).toBe(0)
    }).pipe(Effect.provide(environment)))

  it.effect("the default graceful stop timeout is 10 batch intervals", () =>
    Effect.gen(function* () {
      yield* write(1)
      const stop = yield* Deferred.make<void>()
      const fiber = yield* pipeline.pipe(
        Pipeline.foreachBatch(() => Effect.never, { stopWhen: Deferred.await(stop) }),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      yield* Deferred.succeed(stop, undefined)
      yield* TestClock.adjust("9999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(GracefulStopTimeout)
      expect(error.message).toContain("10s")
    }).pipe(Effect.provide(environment)))
})

describe("onSignal", () => {
  it.effect("completes with the signal received and removes its handlers", () =>
    Effect.gen(function* () {
      const before = process.listenerCount("SIGUSR2")
      const fiber = yield* Effect.fork(onSignal(["SIGUSR2", "SIGHUP"]))
      yield* Effect.yieldNow()
      expect(process.listenerCount("SIGUSR2")).toBe(before + 1)
      process.emit("SIGUSR2")
      expect(yield* Fiber.join(fiber)).toBe("SIGUSR2")
      expect(process.listenerCount("SIGUSR2")).toBe(before)
      expect(process.listenerCount("SIGHUP")).toBe(0)
    }))

  it.effect("removes its handlers when interrupted", () =>
    Effect.gen(function* () {
      const before = process.listenerCount("SIGUSR2")
      const fiber = yield* Effect.fork(onSignal(["SIGUSR2"]))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect(process.listenerCount("SIGUSR2")).toBe(before)
    }))
})
