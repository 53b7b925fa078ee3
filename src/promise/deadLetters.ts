import { Effect, Exit } from "effect"
import { type DeadLetterRecord, readDeadLetters as readEffect } from "../deadletter/index.js"
import { errorOf } from "./errors.js"

/**
 * Reads a dead-letter file (`{ file }` destination) back: each record with its bytes, where it
 * came from and why it was given up. Rejects with `DeadLetterError` on a file that cannot be read.
 *
 * @example
 * ```ts
 * for (const letter of await readDeadLetters("./dead-letters.jsonl")) {
 *   console.log(letter.shardId, letter.sequenceNumber, letter.reason.message)
 * }
 * ```
 */
export const readDeadLetters = (path: string): Promise<ReadonlyArray<DeadLetterRecord>> =>
  Effect.runPromiseExit(readEffect(path)).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(errorOf(exit.cause))))
