import { Data } from "effect"

/**
 * A record that starts with the KPL magic bytes is not a valid aggregate: too short for its
 * MD5 trailer, a checksum that does not match, a protobuf body that does not decode, or a user
 * record pointing outside the aggregate's key tables. Carries where the record came from and
 * how long it was, never its bytes (records may hold personal data and this ends up in logs).
 * Named so it does not shadow the global `AggregateError`.
 *
 * @example
 * ```ts
 * const error = new DeaggregateError({ sequenceNumber: "4959", reason: "MD5 checksum mismatch", byteLength: 120 })
 * error.message // "Cannot de-aggregate KPL record 4959 (120 bytes): MD5 checksum mismatch"
 * ```
 */
export class DeaggregateError extends Data.TaggedError("DeaggregateError")<{
  readonly sequenceNumber: string
  /** Why the aggregate was rejected; never quotes the payload. */
  readonly reason: string
  /** Size of the whole Kinesis record (magic, body and trailer). */
  readonly byteLength: number
  readonly cause?: unknown
}> {
  override get message() {
    return `Cannot de-aggregate KPL record ${this.sequenceNumber} (${this.byteLength} bytes): ${this.reason}`
  }
}
