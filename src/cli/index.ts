/**
 * The `shardline` command line: tail a stream, list leases, replay dead letters, run the demo.
 * @module
 */
import { Command, ValidationError } from "@effect/cli"
import { formatWithOptions } from "node:util"
import { Cause, Console, Effect, Exit, Layer, Option } from "effect"
import { oneLine } from "./common.js"
import { demoCommand } from "./demo.js"
import { leasesCommand } from "./leases.js"
import { nodeContext } from "./nodeContext.js"
import { CliOutput, type Writer } from "./progress.js"
import { replayCommand } from "./replay.js"
import { tailCommand } from "./tail.js"

export { CliOutput, type Writer } from "./progress.js"

// Set by tsup from package.json; running from source (tsx), "dev".
declare const __SHARDLINE_VERSION__: string | undefined
const version = typeof __SHARDLINE_VERSION__ === "string" ? __SHARDLINE_VERSION__ : "dev"

/** The command tree. */
export const shardline = Command.make("shardline").pipe(
  Command.withDescription("Look at Kinesis streams and shardline's lease tables by hand"),
  Command.withSubcommands([tailCommand, leasesCommand, replayCommand, demoCommand])
)

const cli = Command.run(shardline, { name: "shardline", version, executable: "shardline" })

/** The command's error as the one line printed for it; undefined for usage errors (@effect/cli printed them). */
export const errorLine = (error: unknown): string | undefined => {
  if (ValidationError.isValidationError(error)) return undefined
  const message = error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
    ? String((error as { message: unknown }).message)
    : String(error)
  return `shardline: ${oneLine(message)}`
}

// eslint-disable-next-line no-control-regex
const ansi = /\x1b\[[0-9;]*m/g

/** @effect/cli prints help and usage errors with Console: to the writers, without colors when piped. */
const consoleFor = (output: { readonly out: Writer; readonly err: Writer }): Effect.Effect<Console.Console> =>
  Effect.map(Effect.console, (base) => {
    const to = (writer: Writer) => (...args: ReadonlyArray<unknown>) =>
      Effect.sync(() => {
        const text = formatWithOptions({ colors: false }, ...args)
        writer.write(`${writer.isTTY ? text : text.replace(ansi, "")}\n`)
      })
    return { ...base, log: to(output.out), info: to(output.out), error: to(output.err), warn: to(output.err) }
  })

/**
 * Runs the CLI on `args` (without `node` and the script) writing to `output`, and answers the exit
 * code: 0, 1 for a failed command (one line on stderr, no stack trace), 2 for a usage error,
 * 130 when interrupted.
 */
export const main = (args: ReadonlyArray<string>, output: { readonly out: Writer; readonly err: Writer }): Promise<number> =>
  Effect.runPromiseExit(
    Effect.flatMap(consoleFor(output), (console) => Effect.withConsole(Effect.suspend(() => cli(["node", "shardline", ...args])), console)).pipe(
      Effect.provide(Layer.merge(nodeContext, Layer.succeed(CliOutput, output)))
    )
  ).then((exit) => {
    if (Exit.isSuccess(exit)) return 0
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      const line = errorLine(failure.value)
      if (line === undefined) return 2
      output.err.write(`${line}\n`)
      return 1
    }
    if (Cause.isInterruptedOnly(exit.cause)) return 130
    output.err.write(`shardline: unexpected error\n${Cause.pretty(exit.cause)}\n`)
    return 1
  })
