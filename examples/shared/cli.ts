/** How the example programs read their command line, and how they stop and end. */
import { type ParseArgsConfig, parseArgs } from "node:util"
import { Duration, Effect } from "effect"
import { onSignal } from "../../src/index.js"

type Options = NonNullable<ParseArgsConfig["options"]>

/** The command line's options as parsed, and the way out when their values make no sense. */
export interface Parsed<O extends Options> {
  readonly values: ReturnType<typeof parseArgs<{ options: O }>>["values"]
  readonly usage: () => never
}

/**
 * Parses the command line's `--options`. An unknown or malformed one prints the parser's message
 * and `usageLine` to stderr and exits with 2; `usage()` does the same without a message, for
 * values that parse but make no sense.
 *
 * @example
 * ```ts
 * const { values, usage } = parseOptions("usage: npm start -- [--seconds N]", { seconds: { type: "string", default: "20" } })
 * if (!(Number(values.seconds) >= 0)) usage()
 * ```
 */
export const parseOptions = <O extends Options>(usageLine: string, options: O): Parsed<O> => {
  const usage = (): never => {
    console.error(usageLine)
    return process.exit(2)
  }
  try {
    return { values: parseArgs({ options }).values, usage }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    return usage()
  }
}

/** Completes on Ctrl-C (SIGINT or SIGTERM), or after `seconds` if that comes first; `0` waits for the signal only. */
export const stopAfter = (seconds: number): Effect.Effect<unknown> =>
  seconds === 0 ? onSignal() : Effect.race(onSignal(), Effect.sleep(Duration.seconds(seconds)))

/**
 * Runs a demo program to its end. A failure prints `demo failed: <cause>` to stderr and sets the
 * exit code 1; a number the program answers is the exit code.
 */
export const runDemo = <E>(program: Effect.Effect<number | void, E>): void => {
  Effect.runPromiseExit(program).then((exit) => {
    if (exit._tag === "Failure") {
      console.error(`demo failed: ${exit.cause.toString()}`)
      process.exitCode = 1
    } else if (typeof exit.value === "number") {
      process.exitCode = exit.value
    }
  })
}
