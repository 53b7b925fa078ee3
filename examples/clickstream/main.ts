/**
 * The demo: a producer writes clickstream events (protobuf) into a 4-shard stream while a pipeline
 * counts page views per page and purchases per currency in 1 s batches, one line per batch.
 *
 *   npm start                          local emulator, 20 s
 *   npm start -- --seconds 60          longer (0 = until Ctrl-C)
 *   npm start -- --rate 1000           events per second
 *   npm start -- --aws                 real AWS: stream $SHARDLINE_STREAM in $AWS_REGION
 */
import { parseArgs } from "node:util"
import { Clock, type ConfigError, Console, Duration, Effect, Layer } from "effect"
import {
  type ClickstreamEvent,
  ClickstreamEventSchema
} from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import {
  type Batch,
  CheckpointStore,
  Codec,
  Kinesis,
  LocalKinesis,
  type LocalKinesisError,
  onSignal,
  Pipeline
} from "../../src/index.js"
import { produce } from "./producer.js"

// The AWS SDK warns about Node 20 on every start; the demo's output is about the stream.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const usage = () => {
  console.error("usage: npm start -- [--seconds N (0 = until Ctrl-C)] [--rate EVENTS_PER_S] [--aws] [--stream NAME] [--no-produce]")
  process.exit(2)
}

const parse = () => {
  try {
    return parseArgs({
      options: {
        seconds: { type: "string", default: process.env.SHARDLINE_DEMO_SECONDS ?? "20" },
        rate: { type: "string", default: process.env.SHARDLINE_DEMO_RATE ?? "400" },
        aws: { type: "boolean", default: process.env.SHARDLINE_TARGET === "aws" },
        stream: { type: "string", default: process.env.SHARDLINE_STREAM ?? "shardline-clickstream" },
        "no-produce": { type: "boolean", default: false }
      }
    }).values
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    return usage()
  }
}
const args = parse()
const seconds = Number(args.seconds)
const rate = Number(args.rate)
if (!Number.isFinite(seconds) || seconds < 0 || !Number.isFinite(rate) || rate <= 0) usage()
const streamName = args.stream

/** What one batch says: counts, the slowest lag, the top pages. */
const describe = (batch: Batch<ClickstreamEvent>, now: number): string => {
  const views = new Map<string, number>()
  const purchases = new Map<string, number>()
  let newestArrival = 0
  for (const record of batch.records) {
    const arrival = record.approximateArrivalTimestamp?.getTime() ?? 0
    if (arrival > newestArrival) newestArrival = arrival
    const event = record.value.event
    if (event.case === "pageView") views.set(event.value.url, (views.get(event.value.url) ?? 0) + 1)
    if (event.case === "purchase") purchases.set(event.value.currency, (purchases.get(event.value.currency) ?? 0) + 1)
  }
  const top = [...views].sort((a, b) => b[1] - a[1]).slice(0, 3)
  const viewCount = [...views.values()].reduce((a, b) => a + b, 0)
  const lag = newestArrival === 0 ? "    -" : `${String(now - newestArrival).padStart(5)}`
  return [
    `batch ${String(batch.batchId).padStart(3)}`,
    `${String(batch.records.length).padStart(5)} records`,
    `lag ${lag} ms`,
    `views ${String(viewCount).padStart(4)} [${top.map(([url, n]) => `${url} ${n}`).join(", ")}]`,
    `purchases ${[...purchases].sort().map(([c, n]) => `${c} ${n}`).join(", ") || "-"}`
  ].join(" | ")
}

const pipeline = Pipeline.fromKinesis({
  streamName,
  applicationName: "clickstream-demo",
  codec: Codec.protobuf(ClickstreamEventSchema),
  batchInterval: "1 second",
  maxBatchRecords: 10_000,
  startAt: "TRIM_HORIZON"
})

const stopWhen = seconds === 0 ? onSignal() : Effect.race(onSignal(), Effect.sleep(Duration.seconds(seconds)))

const main = Effect.gen(function* () {
  const started = yield* Clock.currentTimeMillis
  if (!args["no-produce"]) yield* Effect.forkScoped(produce(streamName, rate))
  const summary = yield* pipeline.pipe(
    Pipeline.foreachBatch(
      (batch) => Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(describe(batch, now))),
      { stopWhen }
    )
  )
  const elapsed = ((yield* Clock.currentTimeMillis) - started) / 1000
  yield* Console.log(
    `done: ${summary.batches} batches, ${summary.records} records in ${elapsed.toFixed(1)} s ` +
      `(${Math.round(summary.records / elapsed)} records/s consumed), checkpoints written`
  )
})

const local = Layer.unwrapEffect(
  Effect.gen(function* () {
    yield* Console.log(`shardline demo: embedded Kinesis emulator, stream ${streamName} with 4 shards`)
    return LocalKinesis.layer({ streams: [{ name: streamName, shardCount: 4 }] })
  })
)
const environment: Layer.Layer<Kinesis | CheckpointStore, ConfigError.ConfigError | LocalKinesisError> = args.aws
  ? Layer.merge(Kinesis.layerConfig(), CheckpointStore.layerFile({ path: ".shardline/checkpoints.json" }))
  : Layer.merge(local, CheckpointStore.layerMemory)

const intro = Console.log(
  `producing ${args["no-produce"] ? 0 : rate} events/s, 1 s batches, ` +
    `${seconds === 0 ? "until Ctrl-C" : `for ${seconds} s (Ctrl-C stops early)`}`
)

Effect.runPromiseExit(Effect.scoped(Effect.zipRight(intro, main)).pipe(Effect.provide(environment))).then((exit) => {
  if (exit._tag === "Failure") {
    console.error(`demo failed: ${exit.cause.toString()}`)
    process.exitCode = 1
  }
})
