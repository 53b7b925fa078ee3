import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { readDeadLetters } from "../deadletter/index.js"
import { putEntries } from "../deadletter/putEntries.js"
import { Kinesis, verifyStream } from "../kinesis/index.js"
import { RetryPolicy } from "../retry/index.js"
import { connectionOptions, kinesisLayer } from "./common.js"
import { CliOutput, makeProgress } from "./progress.js"

export interface ReplayArgs {
  readonly deadLetter: string
  readonly stream: string
  readonly filterKind: Option.Option<string>
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
}

// Records per progress step: one full PutRecords call.
const slice = 500

/**
 * Puts a dead-letter file's records back into a stream (what `replay` does), a PutRecords call's
 * worth at a time so the progress line can count them.
 */
export const replayDeadLetters = (args: ReplayArgs) =>
  Effect.gen(function* () {
    const progress = makeProgress(yield* CliOutput)
    const kind = Option.getOrUndefined(args.filterKind)
    const letters = (yield* readDeadLetters(args.deadLetter)).filter((l) => kind === undefined || l.reason.kind === kind)
    yield* verifyStream(args.stream)
    const kinesis = yield* Kinesis
    let done = 0
    progress.status(`replaying 0/${letters.length} records into ${args.stream}`, true)
    for (let i = 0; i < letters.length; i += slice) {
      const part = letters.slice(i, i + slice)
      yield* putEntries(kinesis, args.stream, part, RetryPolicy.default, `kinesis:${args.stream}`)
      done += part.length
      progress.status(`replaying ${done}/${letters.length} records into ${args.stream}`)
    }
    progress.done()
    progress.line(`replayed ${done} records${kind === undefined ? "" : ` (reason ${kind})`} from ${args.deadLetter} into ${args.stream}`)
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
