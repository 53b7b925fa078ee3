/** The whole pipeline over a Kinesis layer, timed: what cases 4 and 5 and the decoder bench's pipeline cases run. */
import { Deferred, Effect, type Layer } from "effect"
import { CheckpointStore, type Codec, type Kinesis, Pipeline } from "../src/index.js"
import { type Encoded, preload } from "./fixtures.js"
import type { Result } from "./harness.js"

export const shards = 4
export const reader = { limit: 10_000, pollDelay: "200 millis" } as const

const started = performance.now()
/** Progress goes to stderr, stamped with the seconds since start, so stdout stays the table and the JSON line. */
export const log = (line: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`)

/** Reads the stream from its start with a fresh checkpoint store until `expected` records were seen; answers ms. */
const consumeAll = <A>(streamName: string, expected: number, codec: Codec<A>) =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<void>()
    let seen = 0
    const started = performance.now()
    const summary = yield* Pipeline.fromKinesis({
      streamName,
      codec,
      batchInterval: "1 second",
      maxBatchRecords: 10_000,
      reader
    }).pipe(
      Pipeline.foreachBatch(
        (batch) =>
          Effect.suspend(() => {
            seen += batch.records.length
            return seen >= expected ? Deferred.succeed(done, undefined) : Effect.void
          }),
        { stopWhen: Deferred.await(done) }
      ),
      Effect.provide(CheckpointStore.layerMemory)
    )
    const ms = performance.now() - started
    if (seen !== expected || summary.records !== expected) {
      return yield* Effect.dieMessage(`pipeline: saw ${seen} (summary ${summary.records}), expected ${expected}`)
    }
    return ms
  })

/** The streams a Kinesis layer is started with: the measured one and a small one to warm up on. */
const pipelineStreams = (name: string, shardCount = shards) => [
  { name, shardCount },
  { name: `${name}-warmup`, shardCount }
]

/** One way of decoding to time the pipeline with. */
export interface PipelineCase {
  readonly id: string
  readonly name: string
  readonly codec: Codec<any>
  readonly note?: string
}

/**
 * Warms the read path up on a small stream (`warmupCount` records) with every codec, preloads
 * `count` records, then reads them all `rounds` times per codec, interleaved (a b, b a, ...) so
 * drift falls on all codecs alike, each read with a fresh checkpoint store; answers ms per codec.
 */
const pipelineRuns = (
  name: string,
  events: Encoded,
  count: number,
  warmupCount: number,
  rounds: number,
  cases: ReadonlyArray<PipelineCase>
) =>
  Effect.gen(function* () {
    yield* preload(`${name}-warmup`, events, warmupCount)
    for (const c of cases) yield* consumeAll(`${name}-warmup`, warmupCount, c.codec)
    const preloadStarted = performance.now()
    yield* preload(name, events, count)
    log(`    preloaded ${count.toLocaleString("en-US")} records in ${(performance.now() - preloadStarted).toFixed(0)} ms`)
    const runsMs = cases.map((): Array<number> => [])
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (round + k) % cases.length
        runsMs[i]!.push(yield* consumeAll(name, count, cases[i]!.codec))
      }
    }
    return runsMs
  })

/**
 * The whole pipeline over the Kinesis layer that `layer` builds, once per case (codec), `rounds`
 * rounds (default 3) interleaved after a warm-up.
 */
export const measurePipelines = async (spec: {
  readonly stream: string
  readonly records: number
  readonly warmUp: number
  readonly events: Encoded
  readonly layer: (streams: ReturnType<typeof pipelineStreams>) => Layer.Layer<Kinesis, unknown>
  readonly cases: ReadonlyArray<PipelineCase>
  readonly rounds?: number
  /** Shards of the stream; default {@link shards}. */
  readonly shardCount?: number
}): Promise<Array<Result>> => {
  const warmUp = Math.min(spec.records, spec.warmUp)
  const rounds = spec.rounds ?? 3
  log(`  ${spec.cases.map((c) => c.name).join(" / ")}: warm-up on ${warmUp.toLocaleString("en-US")} records, then ${rounds} rounds`)
  const runsMs = await Effect.runPromise(
    pipelineRuns(spec.stream, spec.events, spec.records, warmUp, rounds, spec.cases).pipe(
      Effect.provide(spec.layer(pipelineStreams(spec.stream, spec.shardCount)))
    )
  )
  return spec.cases.map((c, i) => ({
    id: c.id,
    name: c.name,
    records: spec.records,
    runsMs: runsMs[i]!,
    ...(c.note === undefined ? {} : { note: c.note })
  }))
}

/** {@link measurePipelines} for one codec. */
export const measurePipeline = async <A>(spec: {
  readonly id: string
  readonly name: string
  readonly stream: string
  readonly records: number
  readonly warmUp: number
  readonly events: Encoded
  readonly layer: (streams: ReturnType<typeof pipelineStreams>) => Layer.Layer<Kinesis, unknown>
  readonly codec: Codec<A>
  readonly shardCount?: number
  readonly note?: string
}): Promise<Result> => {
  const { codec, id, name, note, ...rest } = spec
  const [result] = await measurePipelines({ ...rest, cases: [{ id, name, codec, ...(note === undefined ? {} : { note }) }] })
  return result!
}
