import { Context } from "effect"

/** Somewhere to write text: stdout or stderr, or a test's buffer. */
export interface Writer {
  readonly write: (text: string) => void
  /** A terminal (status lines are redrawn in place), not a pipe or a file. */
  readonly isTTY: boolean
  /** The terminal's width, when known: a status line is cut to fit it. */
  readonly columns?: number | undefined
}

/** Where the CLI's commands write: data lines to `out`, status, warnings and summaries to `err`. */
export class CliOutput extends Context.Tag("shardline/cli/Output")<CliOutput, { readonly out: Writer; readonly err: Writer }>() {}

/**
 * Output of a long-running command. On a terminal (stderr is a TTY) `status` keeps one line on
 * stderr up to date, rewritten in place (`\r` and clear-to-end); data lines printed meanwhile go
 * above it. Piped, `status` writes nothing: the output stays whole lines, ready for grep and jq.
 */
export interface Progress {
  /** A data line on stdout. */
  readonly line: (text: string) => void
  /** A line on stderr (a warning, a note). */
  readonly note: (text: string) => void
  /** The current status (TTY only; redrawn at most every `minIntervalMs` unless `force`). */
  readonly status: (text: string, force?: boolean) => void
  /** Clears the status line; `final`, if given, is written on stderr as a line of its own. */
  readonly done: (final?: string) => void
}

export interface ProgressOptions {
  readonly out: Writer
  readonly err: Writer
  /** The clock, for throttling redraws. Default `Date.now`. */
  readonly now?: () => number
  /** Least time between two redraws of the status line. Default 100 ms. */
  readonly minIntervalMs?: number
}

const clearLine = "\r\x1b[K"

/** A {@link Progress} over two writers; TTY mode when `err.isTTY`. */
export const makeProgress = (options: ProgressOptions): Progress => {
  const { err, out } = options
  const now = options.now ?? Date.now
  const minInterval = options.minIntervalMs ?? 100
  const tty = err.isTTY
  // What the status line shows now ("" when none is drawn), and the latest text asked for.
  let shown = ""
  let latest = ""
  let drawnAt = -Infinity
  const fit = (text: string) => {
    const width = err.columns
    return width === undefined || width <= 1 || text.length < width ? text : `${text.slice(0, width - 2)}…`
  }
  const draw = (text: string) => {
    err.write(`${clearLine}${text}`)
    shown = text
  }
  const clear = () => {
    if (shown !== "") err.write(clearLine)
    shown = ""
  }
  // A data line goes above the status line, which is drawn again below it, with the newest status.
  const around = (write: () => void) => {
    if (!tty || shown === "") return write()
    clear()
    write()
    draw(latest)
  }
  return {
    line: (text) => around(() => out.write(`${text}\n`)),
    note: (text) => around(() => err.write(`${text}\n`)),
    status: (text, force = false) => {
      if (!tty) return
      latest = fit(text)
      if (latest !== shown && (force || now() - drawnAt >= minInterval)) {
        draw(latest)
        drawnAt = now()
      }
    },
    done: (final) => {
      if (tty) clear()
      latest = ""
      if (final !== undefined) err.write(`${final}\n`)
    }
  }
}
