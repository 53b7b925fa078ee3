import { Context, Data, Effect, Layer } from "effect"
import { Kinesis, type KinesisError } from "../kinesis/index.js"
import { type RetryOption, RetryPolicy } from "../retry/index.js"
import { encodeDeadLetter } from "./jsonl.js"
import { makeFileDeadLetter, type FileDeadLetterOptions } from "./FileDeadLetter.js"
import { putEntries } from "./putEntries.js"

/**
 * A record that could not be processed, with everything needed to look at it and to replay it:
 * where it came from, its raw bytes, and why it failed.
 */
export interface DeadLetterRecord {
  readonly streamName: string
  readonly shardId: string
  readonly sequenceNumber: string
  /** Inside a KPL aggregate, the user record's position; 0 otherwise. */
  readonly subSequenceNumber: number
  readonly partitionKey: string
  readonly approximateArrivalTimestamp: Date | undefined
  readonly data: Uint8Array
  readonly reason: DeadLetterReason
  readonly failedAt: Date
}

/** Why a record was given up: which step failed, its message, and how many attempts were made. */
export interface DeadLetterReason {
  /** e.g. `decode`, `sink`, `deaggregate`. */
  readonly kind: string
  readonly message: string
  readonly attempts: number
}

/** A dead-letter destination refused or failed to take records. */
export class DeadLetterError extends Data.TaggedError("DeadLetterError")<{
  /** e.g. `file:/var/lib/app/dead-letters.jsonl`, `kinesis:orders-dlq`. */
  readonly destination: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Dead-letter destination ${this.destination}: ${this.reason}`
  }
}

/** Where dead letters go. `send` returns once the records are durably handed over. */
export interface DeadLetterApi {
  readonly name: string
  readonly send: (records: ReadonlyArray<DeadLetterRecord>) => Effect.Effect<void, DeadLetterError>
}

/**
 * The dead-letter destination service.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(DeadLetter.layerFile({ path: ".shardline/dead-letters.jsonl" })))
 * ```
 */
export class DeadLetter extends Context.Tag("shardline/DeadLetter")<DeadLetter, DeadLetterApi>() {
  /** Appends one JSON line per record to a file (the embedded default); `replay` reads it back. */
  static readonly layerFile = (options: FileDeadLetterOptions): Layer.Layer<DeadLetter> =>
    Layer.effect(DeadLetter, makeFileDeadLetter(options))

  /**
   * Puts one record per dead letter into another Kinesis stream: the JSON line as the payload (so
   * the reason travels with the bytes), under the original partition key.
   */
  static readonly layerKinesis = (options: {
    readonly streamName: string
    /** Retries of throttled or failed puts, and of entries PutRecords refused. Default {@link RetryPolicy.default}. */
    readonly retry?: RetryOption
  }): Layer.Layer<DeadLetter, never, Kinesis> =>
    Layer.effect(DeadLetter, Effect.map(Kinesis, (kinesis) => kinesisDeadLetter(kinesis, options.streamName, options.retry ?? RetryPolicy.default)))

  /** Hands dead letters to a function of yours (a queue, a table, an alert). */
  static readonly layerFunction = (
    name: string,
    send: (records: ReadonlyArray<DeadLetterRecord>) => Effect.Effect<void, unknown>
  ): Layer.Layer<DeadLetter> =>
    Layer.succeed(DeadLetter, {
      name,
      send: (records) =>
        Effect.mapError(Effect.suspend(() => send(records)), (cause) => new DeadLetterError({ destination: name, reason: String(cause), cause }))
    })
}

const encoder = new TextEncoder()

const kinesisDeadLetter = (kinesis: Context.Tag.Service<Kinesis>, streamName: string, retry: RetryOption): DeadLetterApi => {
  const name = `kinesis:${streamName}`
  return {
    name,
    send: (records) =>
      putEntries(
        kinesis,
        streamName,
        records.map((r) => ({ partitionKey: r.partitionKey || "dead-letter", data: encoder.encode(encodeDeadLetter(r)) })),
        retry,
        name
      ).pipe(Effect.catchIf((e): e is KinesisError => e._tag !== "DeadLetterError", (e) =>
        Effect.fail(new DeadLetterError({ destination: name, reason: e.message, cause: e }))))
  }
}
