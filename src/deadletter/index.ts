/**
 * Dead letters: records that could not be processed, kept with their bytes and the reason, to be
 * looked at and replayed.
 * @module
 */
export { DeadLetter, type DeadLetterApi, DeadLetterError, type DeadLetterReason, type DeadLetterRecord } from "./DeadLetter.js"
export { type FileDeadLetterOptions, readDeadLetters } from "./FileDeadLetter.js"
export { replay, type ReplayOptions } from "./replay.js"
