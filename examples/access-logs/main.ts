/**
 * Real-time log analysis: a producer writes access-log events (protobuf) into a 4-shard stream;
 * a pipeline keeps, per endpoint, requests, 5xx errors and a latency histogram over a 10 s window
 * sliding every 2 s, prints a line per endpoint per slide (requests, 5xx rate, p95) and an ALERT
 * line when an endpoint's 5xx rate crosses 5%. One endpoint has a burst of 5xx partway through.
 *
 *   npm run example:logs                         local emulator, 20 s
 *   npm run example:logs -- --seconds 60         longer (0 = until Ctrl-C)
 *   npm run example:logs -- --rate 1000          requests per second
 */
import { Clock, Console, Effect, Layer } from "effect"
import { CheckpointStore, LocalKinesis, Pipeline } from "../../src/index.js"
import { parseOptions, runDemo, stopAfter } from "../shared/cli.js"
import { endpoints } from "./events.js"
import { endpointWindows } from "./pipeline.js"
import { produce } from "./producer.js"
import { windowReporter } from "./report.js"
import { defaultAlertRule } from "./summary.js"

// The AWS SDK warns about Node 20 on every start; the demo's output is about the logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const { values: args, usage } = parseOptions(
  "usage: npm run example:logs -- [--seconds N (0 = until Ctrl-C)] [--rate REQUESTS_PER_S] [--seed N]",
  {
    seconds: { type: "string", default: process.env.SHARDLINE_LOGS_SECONDS ?? "20" },
    rate: { type: "string", default: process.env.SHARDLINE_LOGS_RATE ?? "300" },
    seed: { type: "string", default: "7" }
  }
)
const seconds = Number(args.seconds)
const rate = Number(args.rate)
const seed = Number(args.seed)
if (!Number.isFinite(seconds) || seconds < 0 || !Number.isFinite(rate) || rate <= 0 || !Number.isInteger(seed)) usage()

const streamName = "shardline-access-logs"
const burstEndpoint = "POST /api/checkout"
// The burst starts at a fifth of the run and lasts a quarter of it, so a 20 s run shows the ALERT
// and (once the burst has slid out of the 10 s window) the RESOLVED line. Until Ctrl-C: 4 s to 9 s.
const burstFrom = seconds === 0 ? 4 : seconds * 0.2
const burstTo = seconds === 0 ? 9 : seconds * 0.45

const stopWhen = stopAfter(seconds)

const main = Effect.gen(function* () {
  const started = yield* Clock.currentTimeMillis
  const burst = { endpoint: burstEndpoint, fromMs: started + burstFrom * 1000, toMs: started + burstTo * 1000, errorRate: 0.35 }
  yield* Effect.forkScoped(produce(streamName, { requestsPerSecond: rate, seed, burst }))
  const report = windowReporter({ rule: defaultAlertRule, window: "10 s" })
  let windows = 0
  const alerted = new Set<string>()
  const summary = yield* endpointWindows({ streamName }).pipe(
    Pipeline.foreachBatch(
      (batch) =>
        Effect.suspend(() => {
          const window = report(batch)
          if (window === undefined) return Effect.void
          windows++
          for (const row of window.fired) alerted.add(row.endpoint)
          return Console.log(window.lines.join("\n"))
        }),
      { stopWhen }
    )
  )
  const elapsed = ((yield* Clock.currentTimeMillis) - started) / 1000
  yield* Console.log(
    `done: ${summary.batches} batches, ${summary.records} requests in ${elapsed.toFixed(1)} s, ${windows} windows, ` +
      `alerts: ${alerted.size === 0 ? "none" : [...alerted].sort().join(", ")}; checkpoints written`
  )
})

const environment = Layer.merge(
  Layer.unwrapEffect(
    Effect.gen(function* () {
      yield* Console.log(`shardline access-logs demo: embedded Kinesis emulator, stream ${streamName} with 4 shards`)
      return LocalKinesis.layer({ streams: [{ name: streamName, shardCount: 4 }] })
    })
  ),
  CheckpointStore.layerMemory
)

const intro = Console.log(
  `producing ${rate} requests/s over ${endpoints.length} endpoints, ` +
    `${seconds === 0 ? "until Ctrl-C" : `for ${seconds} s (Ctrl-C stops early)`}; ` +
    `5xx burst on ${burstEndpoint} from ${burstFrom.toFixed(1)} s to ${burstTo.toFixed(1)} s\n` +
    `per endpoint over the last 10 s, every 2 s: requests, 5xx rate, p95 latency; ` +
    `ALERT above ${(defaultAlertRule.maxErrorRate * 100).toFixed(1)}% 5xx over at least ${defaultAlertRule.minRequests} requests`
)

runDemo(Effect.scoped(Effect.zipRight(intro, main)).pipe(Effect.provide(environment)))
