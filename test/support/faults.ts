import { Effect, Fiber, Schedule, TestClock } from "effect"
import { expect } from "vitest"
import type { KinesisApi } from "../../src/kinesis/index.js"
import { isRetryable } from "../../src/retry/index.js"
import { type FaultKind, type FaultPlan, type FaultSpec } from "../../src/testing/faultPlan.js"
import { type FaultRule, Faults, MemoryKinesis } from "../../src/testing/index.js"

export const shard0 = "shardId-000000000000"

/** Calls as "Operation:outcome", for comparing call logs at a glance. */
export const outcomes = (calls: ReadonlyArray<{ readonly operation: string; readonly outcome: string }>) =>
  calls.map((c) => `${c.operation}:${c.outcome}`)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A plan of `faults` with seed 1. */
export const planOf = (...faults: ReadonlyArray<FaultSpec>): FaultPlan => ({ seed: 1, faults })

/** MemoryKinesis with "s" (2 shards) and "t" (1 shard) behind a plan or rules; `memory.api` reads behind the faults. */
export const setup = (faults: FaultPlan | ReadonlyArray<FaultRule>) =>
  Effect.gen(function* () {
    const memory = yield* MemoryKinesis.make({ streams: [{ name: "s", shardCount: 2 }, { name: "t", shardCount: 1 }] })
    const wrapped = yield* Effect.orDie(Faults.wrap(memory.api, faults))
    return { memory, ...wrapped }
  })

/** Puts one record holding `value` (also its key) into stream "t". */
export const putOne = (api: KinesisApi, value = "a") =>
  api.putRecord({ StreamName: "t", PartitionKey: value, Data: encoder.encode(value) })

/** Every record of stream "t" (one shard), read straight from the service. */
export const storedIn = (api: KinesisApi) =>
  Effect.gen(function* () {
    const { ShardIterator } = yield* api.getShardIterator({
      StreamName: "t",
      ShardId: shard0,
      ShardIteratorType: "TRIM_HORIZON"
    })
    const out = yield* api.getRecords({ ShardIterator })
    return (out.Records ?? []).map((r) => decoder.decode(r.Data))
  }).pipe(Effect.orDie)

/**
 * A PutRecord whose answer is lost (`kind`: a time-out or reset after the service wrote it): the
 * record is in the stream at once, and the producer's retry (1 s later) writes it a second time.
 * Answers the first call's error for further checks.
 */
export const expectWrittenTwice = (kind: FaultKind, failsAt: number, errorName: string) =>
  Effect.gen(function* () {
    const { api, calls, memory } = yield* setup(planOf({ operation: "PutRecord", kind, times: 1 }))
    const fiber = yield* putOne(api).pipe(Effect.retry({ schedule: Schedule.spaced("1 second"), while: isRetryable }), Effect.fork)
    yield* TestClock.adjust("1 millis")
    // In the stream at once, while the caller still waits for an answer that will never come.
    expect(yield* storedIn(memory.api)).toEqual(["a"])
    yield* TestClock.adjust("10 seconds")
    yield* Fiber.join(fiber)
    expect(yield* storedIn(memory.api)).toEqual(["a", "a"])
    const log = yield* calls
    expect(log.map((c) => [c.at, c.outcome])).toEqual([[0, "injected"], [failsAt + 1000, "ok"]])
    expect(log[0]!.error).toMatchObject({ errorName, retryable: true })
    return log[0]!.error!
  })
