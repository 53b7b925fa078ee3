import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
// The demo `npm start` runs; bundled into dist/shardline.js (generated clickstream code included).
import { clickstreamDemo } from "../../examples/clickstream/demo.js"
import { InvalidOption } from "../config/index.js"
import { MissingDependency } from "../internal/optionalDependency.js"
import { CliOutput, makeProgress } from "./progress.js"

export interface DemoArgs {
  readonly seconds: number
  readonly rate: number
  readonly stream: string
  readonly aws: boolean
  readonly noProduce: boolean
  readonly dashboard: Option.Option<number>
}

/** The clickstream demo, with a progress line on a terminal. */
export const demo = (args: DemoArgs) =>
  Effect.gen(function* () {
    if (!(args.seconds >= 0)) return yield* new InvalidOption({ option: "--seconds", given: String(args.seconds), expected: "a whole number >= 0 (0: until Ctrl-C)" })
    if (!(args.rate >= 1)) return yield* new InvalidOption({ option: "--rate", given: String(args.rate), expected: "a whole number >= 1" })
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"
    const progress = makeProgress(yield* CliOutput)
    let records = 0
    yield* clickstreamDemo({
      seconds: args.seconds,
      rate: args.rate,
      aws: args.aws,
      streamName: args.stream,
      produce: !args.noProduce,
      dashboardPort: Option.getOrUndefined(args.dashboard),
      print: (line) => Effect.sync(() => progress.line(line)),
      onBatch: (n, elapsed) =>
        Effect.sync(() => {
          records += n
          const of = args.seconds === 0 ? "Ctrl-C stops" : `of ${args.seconds} s`
          progress.status(`demo: ${elapsed.toFixed(0)} s ${of}, ${records} records`)
        })
    }).pipe(
      Effect.catchIf(
        (e): e is MissingDependency => e instanceof MissingDependency,
        (e) => Effect.fail(new MissingDependency({ packageName: e.packageName, feature: "shardline demo (the embedded Kinesis emulator)", cause: e.cause }))
      )
    )
    progress.done()
  })

export const demoCommand = Command.make("demo", {
  seconds: Options.integer("seconds").pipe(Options.withDescription("How long to run; 0 runs until Ctrl-C"), Options.withDefault(20)),
  rate: Options.integer("rate").pipe(Options.withDescription("Events produced per second"), Options.withDefault(400)),
  stream: Options.text("stream").pipe(Options.withDescription("The stream"), Options.withDefault("shardline-clickstream")),
  aws: Options.boolean("aws").pipe(Options.withDescription("Use real AWS ($AWS_REGION; the stream must exist) instead of the embedded emulator")),
  noProduce: Options.boolean("no-produce").pipe(Options.withDescription("Only consume (another process produces)")),
  dashboard: Options.integer("dashboard").pipe(Options.withDescription("Serve the live dashboard on this port of 127.0.0.1 (0: any free port)"), Options.optional)
}, demo).pipe(
  Command.withDescription("Run the clickstream demo (what npm start runs): a producer and a pipeline on an embedded Kinesis emulator (needs kinesalite)")
)
