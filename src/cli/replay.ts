import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { replay } from "../deadletter/index.js"
import { verifyStream } from "../kinesis/index.js"
import { connectionOptions, kinesisLayer } from "./common.js"
import { CliOutput, makeProgress } from "./progress.js"

export interface ReplayArgs {
  readonly deadLetter: string
  readonly stream: string
  readonly filterKind: Option.Option<string>
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
}

/** Puts a dead-letter file's records back into a stream (the core's `replay`), with a progress line. */
export const replayDeadLetters = (args: ReplayArgs) =>
  Effect.gen(function* () {
    const progress = makeProgress(yield* CliOutput)
    const kind = Option.getOrUndefined(args.filterKind)
    yield* verifyStream(args.stream)
    progress.status(`replaying records into ${args.stream}`, true)
    const { replayed } = yield* replay({
      path: args.deadLetter,
      streamName: args.stream,
      ...(kind === undefined ? {} : { filter: (letter) => letter.reason.kind === kind }),
      onProgress: (done, total) => progress.status(`replaying ${done}/${total} records into ${args.stream}`)
    })
    progress.done()
    progress.line(`replayed ${replayed} records${kind === undefined ? "" : ` (reason ${kind})`} from ${args.deadLetter} into ${args.stream}`)
  }).pipe(Effect.provide(kinesisLayer(args)))

export const replayCommand = Command.make("replay", {
  deadLetter: Options.file("dead-letter", { exists: "yes" }).pipe(Options.withDescription("The JSON Lines dead-letter file (DeadLetter.layerFile)")),
  stream: Options.text("stream").pipe(Options.withDescription("The stream to put the records into")),
  filterKind: Options.choice("filter-kind", ["decode", "sink", "deaggregate"]).pipe(
    Options.withDescription("Replay only the records given up for this reason"),
    Options.optional
  ),
  ...connectionOptions
}, replayDeadLetters).pipe(
  Command.withDescription("Put the records of a dead-letter file back into a stream, with their partition keys and bytes")
)
