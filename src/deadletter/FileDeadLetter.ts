import { mkdir, open, readFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect } from "effect"
import { type DeadLetterApi, DeadLetterError, type DeadLetterRecord } from "./DeadLetter.js"
import { decodeDeadLetter, encodeDeadLetter } from "./jsonl.js"

/** Where the JSON Lines dead-letter file lives. */
export interface FileDeadLetterOptions {
  /** Created (with its folder) if missing; appended to otherwise. */
  readonly path: string
}

/**
 * A JSON Lines file of dead letters. Each `send` appends its lines in one write and flushes them
 * to disk before it returns, one send at a time, so lines never interleave and a crash loses at
 * most the send in progress (whose records are then not checkpointed either).
 */
export const makeFileDeadLetter = (options: FileDeadLetterOptions): Effect.Effect<DeadLetterApi> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    const path = resolve(options.path)
    const name = `file:${path}`
    const send = (records: ReadonlyArray<DeadLetterRecord>) =>
      records.length === 0
        ? Effect.void
        : lock.withPermits(1)(
            Effect.tryPromise({
              try: async () => {
                await mkdir(dirname(path), { recursive: true })
                const handle = await open(path, "a")
                try {
                  await handle.writeFile(records.map((r) => `${encodeDeadLetter(r)}\n`).join(""), "utf8")
                  await handle.datasync()
                } finally {
                  await handle.close()
                }
              },
              catch: (cause) => new DeadLetterError({ destination: name, reason: `cannot append to the file: ${String(cause)}`, cause })
            })
          )
    return { name, send }
  })

/**
 * Reads a JSON Lines dead-letter file back. A line that is not a dead letter fails with
 * {@link DeadLetterError} naming its line number.
 *
 * @example
 * ```ts
 * const letters = yield* readDeadLetters(".shardline/dead-letters.jsonl")
 * ```
 */
export const readDeadLetters = (path: string): Effect.Effect<ReadonlyArray<DeadLetterRecord>, DeadLetterError> =>
  Effect.gen(function* () {
    const name = `file:${resolve(path)}`
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (cause) => new DeadLetterError({ destination: name, reason: `cannot read the file: ${String(cause)}`, cause })
    })
    const out: Array<DeadLetterRecord> = []
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line.trim() === "") continue
      const letter = decodeDeadLetter(line)
      if (typeof letter === "string") {
        return yield* new DeadLetterError({ destination: name, reason: `line ${i + 1} is not a dead letter: ${letter}` })
      }
      out.push(letter)
    }
    return out
  })
