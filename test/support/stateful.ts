/** Helpers for the stateful operators' reference-model tests: inputs as data, batches' inputs reconstructed. */
import { Effect, type Scope, TestContext } from "effect"
import fc from "fast-check"
import type { Batch } from "../../src/index.js"
import type { PipelineTest, TestRecord } from "../../src/testing/index.js"

/** A test event: key (also the partition key), a small number, an event time (ms). */
export interface Event {
  readonly key: string
  readonly n: number
  readonly time: number
}

const encoder = new TextEncoder()
export const encodeEvent = (e: Event): TestRecord => ({ partitionKey: e.key, data: encoder.encode(`${e.key}|${e.n}|${e.time}`) })
export const parseEvent = (text: string): Event => {
  const [key, n, time] = text.split("|")
  return { key: key!, n: Number(n), time: Number(time) }
}

/** An event put, with where it went. */
export interface Placed {
  readonly event: Event
  readonly shardId: string
  readonly sequenceNumber: bigint
}

/** A script: groups of events, each put and then followed by some batch intervals. */
export type Script = ReadonlyArray<{ readonly events: ReadonlyArray<Event>; readonly intervals: number }>

export const arbitraryScript = (options: { readonly keys?: number; readonly maxTime?: number; readonly steps?: number } = {}) =>
  fc.array(
    fc.record({
      events: fc.array(
        fc.record({
          key: fc.integer({ min: 0, max: (options.keys ?? 5) - 1 }).map((k) => `k${k}`),
          n: fc.integer({ min: -20, max: 20 }),
          time: fc.integer({ min: 0, max: options.maxTime ?? 20_000 })
        }),
        { maxLength: 12 }
      ),
      intervals: fc.integer({ min: 1, max: 3 })
    }),
    { minLength: 1, maxLength: options.steps ?? 10 }
  )

/** Plays a script: puts each group and advances; answers every event as placed. */
export const play = <A, E>(test: PipelineTest<A, E>, script: Script) =>
  Effect.gen(function* () {
    const placed: Array<Placed> = []
    for (const step of script) {
      const where = yield* test.put(step.events.map(encodeEvent))
      where.forEach((w, i) => placed.push({ event: step.events[i]!, shardId: w.shardId, sequenceNumber: BigInt(w.sequenceNumber) }))
      yield* test.advance(step.intervals)
    }
    return placed
  })

/**
 * Which events each batch read, from the batches' checkpoints: per shard, a batch holds the
 * records after the previous batch's position up to its own. (Only for runs without restarts.)
 */
export const inputsOf = (batches: ReadonlyArray<Batch<unknown>>, placed: ReadonlyArray<Placed>): Array<Array<Placed>> => {
  const position = new Map<string, bigint>()
  return batches.map((batch) => {
    const inputs: Array<Placed> = []
    for (const [shardId, checkpoint] of batch.checkpoints) {
      const from = position.get(shardId) ?? -1n
      const to = checkpoint._tag === "Sequence" ? BigInt(checkpoint.sequenceNumber) : BigInt(Number.MAX_SAFE_INTEGER) ** 3n
      for (const p of placed) if (p.shardId === shardId && p.sequenceNumber > from && p.sequenceNumber <= to) inputs.push(p)
      position.set(shardId, to)
    }
    return inputs
  })
}

/** A multiset as sorted JSON lines, for order-free comparison. */
export const bag = (xs: Iterable<unknown>): Array<string> => [...xs].map((x) => JSON.stringify(x, (_, v) => (typeof v === "bigint" ? `${v}n` : v))).sort()

/**
 * A fast-check property whose body is an Effect run on a fresh test clock and scope (the
 * PipelineTests it makes live as long as one case).
 */
export const effectProperty = <Ts extends [unknown, ...Array<unknown>]>(
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  body: (...values: Ts) => Effect.Effect<void, unknown, Scope.Scope>,
  numRuns: number
) =>
  fc.assert(
    (fc.asyncProperty as unknown as (...args: Array<unknown>) => fc.IAsyncProperty<Ts>)(...arbitraries, (...values: Ts) =>
      Effect.runPromise(body(...values).pipe(Effect.scoped, Effect.provide(TestContext.TestContext)))
    ),
    { numRuns }
  )
