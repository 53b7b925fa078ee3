/**
 * The demo: a producer writes clickstream events (protobuf) into a 4-shard stream while a pipeline
 * counts page views per page and purchases per currency in 1 s batches, one line per batch
 * (demo.ts; `shardline demo` runs the same).
 *
 *   npm start                          local emulator, 20 s
 *   npm start -- --seconds 60          longer (0 = until Ctrl-C)
 *   npm start -- --rate 1000           events per second
 *   npm start -- --aws                 real AWS: stream $SHARDLINE_STREAM in $AWS_REGION
 *   npm start -- --dashboard 9470      the live dashboard at http://127.0.0.1:9470/
 */
import { parseOptions, runDemo } from "../shared/cli.js"
import { clickstreamDemo } from "./demo.js"

// The AWS SDK warns about Node 20 on every start; the demo's output is about the stream.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const { values: args, usage } = parseOptions(
  "usage: npm start -- [--seconds N (0 = until Ctrl-C)] [--rate EVENTS_PER_S] [--aws] [--stream NAME] [--no-produce] [--dashboard PORT]",
  {
    seconds: { type: "string", default: process.env.SHARDLINE_DEMO_SECONDS ?? "20" },
    rate: { type: "string", default: process.env.SHARDLINE_DEMO_RATE ?? "400" },
    aws: { type: "boolean", default: process.env.SHARDLINE_TARGET === "aws" },
    stream: { type: "string", default: process.env.SHARDLINE_STREAM ?? "shardline-clickstream" },
    "no-produce": { type: "boolean", default: false },
    dashboard: { type: "string" }
  }
)
const seconds = Number(args.seconds)
const rate = Number(args.rate)
const dashboardPort = args.dashboard === undefined ? undefined : Number(args.dashboard)
if (!Number.isFinite(seconds) || seconds < 0 || !Number.isFinite(rate) || rate <= 0) usage()
if (dashboardPort !== undefined && !(Number.isInteger(dashboardPort) && dashboardPort >= 0 && dashboardPort <= 65535)) usage()

runDemo(clickstreamDemo({ seconds, rate, aws: args.aws, streamName: args.stream, produce: !args["no-produce"], dashboardPort }))
