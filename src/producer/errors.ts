import { Data } from "effect"
import type { KinesisError } from "../kinesis/index.js"

/**
 * A record that cannot go out in one Kinesis record: data plus partition key over the stream's
 * record size limit, `limit` (1 MiB unless the stream's was raised, up to 10 MiB; see the
 * producer's `maxRecordBytes`). For an aggregated producer, a record that must be wrapped counts
 * with its wrapping. Found before any call.
 *
 * @example
 * ```ts
 * const error = new RecordTooLarge({ bytes: 2_000_000, limit: 1_048_576, partitionKey: "user-1" })
 * error.message // "Record of 2000000 bytes (partition key user-1) is over the 1048576-byte Kinesis limit"
 * ```
 */
export class RecordTooLarge extends Data.TaggedError("RecordTooLarge")<{
  /** Data plus partition key, in bytes. */
  readonly bytes: number
  readonly limit: number
  readonly partitionKey: string
}> {
  override get message() {
    return `Record of ${this.bytes} bytes (partition key ${this.partitionKey}) is over the ${this.limit}-byte Kinesis limit`
  }
}

/**
 * A partition key Kinesis would refuse (empty, or over 256 characters), or an explicit hash key
 * that is not a decimal in [0, 2^128). Found before any call.
 *
 * @example
 * ```ts
 * const error = new InvalidRecordKey({ key: "partitionKey", given: "", reason: "must have 1 to 256 characters" })
 * ```
 */
export class InvalidRecordKey extends Data.TaggedError("InvalidRecordKey")<{
  readonly key: "partitionKey" | "explicitHashKey"
  /** The key as given (cut to 300 characters). */
  readonly given: string
  readonly reason: string
}> {
  override get message() {
    return `Invalid ${this.key} ${JSON.stringify(this.given)}: ${this.reason}`
  }
}

/**
 * The codec threw on a message (or `partitionKey` / `explicitHashKey` threw). Found before any call.
 *
 * @example
 * ```ts
 * const error = new EncodeError({ codec: "json", cause: new TypeError("cannot encode undefined") })
 * ```
 */
export class EncodeError extends Data.TaggedError("EncodeError")<{
  readonly codec: string
  readonly cause: unknown
}> {
  override get message() {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `Codec ${this.codec} could not encode a message${detail}`
  }
}

/**
 * PutRecords kept refusing this record (its entry's `ErrorCode`) until the retry schedule ended,
 * or refused it with a code that is never retried (e.g. a KMS access error).
 *
 * @example
 * ```ts
 * const error = new RecordRejected({ streamName: "orders", partitionKey: "o-1", errorCode: "ProvisionedThroughputExceededException", errorMessage: "Rate exceeded", attempts: 21 })
 * ```
 */
export class RecordRejected extends Data.TaggedError("RecordRejected")<{
  readonly streamName: string
  readonly partitionKey: string
  readonly errorCode: string
  readonly errorMessage: string
  /** PutRecords calls that carried the record. */
  readonly attempts: number
}> {
  override get message() {
    return `PutRecords refused a record (partition key ${this.partitionKey}) to ${this.streamName} ${this.attempts} time(s): ${this.errorCode}: ${this.errorMessage}`
  }
}

/**
 * The producer's scope closed before the record was accepted into its buffer.
 *
 * @example
 * ```ts
 * const error = new ProducerClosed({ streamName: "orders" })
 * ```
 */
export class ProducerClosed extends Data.TaggedError("ProducerClosed")<{
  readonly streamName: string
}> {
  override get message() {
    return `The producer for ${this.streamName} is closed`
  }
}

/**
 * Everything a `put` can fail with: the record was refused before any call (`RecordTooLarge`,
 * `InvalidRecordKey`, `EncodeError`), refused by PutRecords (`RecordRejected`), its whole call
 * failed for good (a {@link KinesisError}), or the producer was closed (`ProducerClosed`).
 *
 * @example
 * ```ts
 * const handled = producer.put(order).pipe(Effect.catchTag("RecordRejected", (e) => Effect.logWarning(e.message)))
 * ```
 */
export type ProducerError = RecordTooLarge | InvalidRecordKey | EncodeError | RecordRejected | ProducerClosed | KinesisError
