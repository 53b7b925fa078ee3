import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import type { Deferred } from "effect"
import { hashKeyOf } from "../state/routing.js"
import { AggregateBuilder } from "./aggregate.js"
import { EncodeError, InvalidRecordKey, type ProducerError, RecordTooLarge } from "./errors.js"
import { utf8Length } from "../kinesis/limits.js"
import { isAggregated } from "../kpl/index.js"
import { validHashKey } from "./limits.js"
import type { ProducerOptions } from "./options.js"

// A message's way through the producer: checked and encoded (Prepared), buffered (Pending), sent
// alone or in an aggregate (Outgoing), answered (PutResult).

/**
 * Where Kinesis stored a record. For a record sent inside a KPL aggregate these are the carrier
 * record's shard and sequence number, and `subSequenceNumber` is its index in the aggregate (what
 * `deaggregate` and the KCL give it); otherwise `subSequenceNumber` is 0.
 *
 * @example
 * ```ts
 * const { sequenceNumber, shardId } = yield* producer.put(order)
 * ```
 */
export interface PutResult {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
}

/** A user record accepted into the buffer. */
export interface Pending {
  readonly partitionKey: string
  readonly explicitHashKey: string | undefined
  readonly data: Uint8Array
  /** Data plus partition key: what the PutRecords limits count. */
  readonly size: number
  /** The routing hash key, when aggregating (to predict the shard). */
  readonly hashKey: bigint | undefined
  readonly enqueuedAt: number
  readonly deferred: Deferred.Deferred<PutResult, ProducerError>
  settled: boolean
}

/** A validated message before it enters the buffer. */
export type Prepared = Omit<Pending, "enqueuedAt" | "deferred" | "settled">

/** One PutRecords entry: a user record, or an aggregate of several. */
export interface Outgoing {
  readonly partitionKey: string
  readonly explicitHashKey: string | undefined
  readonly data: Uint8Array
  readonly users: ReadonlyArray<Pending>
  readonly aggregated: boolean
  readonly predictedShard: string | undefined
  /** Partition keys held in flight for `ordered`. */
  readonly keys: ReadonlyArray<string>
  attempts: number
}

export const toRequest = (entry: Outgoing): PutRecordsRequestEntry =>
  entry.explicitHashKey === undefined
    ? { PartitionKey: entry.partitionKey, Data: entry.data }
    : { PartitionKey: entry.partitionKey, ExplicitHashKey: entry.explicitHashKey, Data: entry.data }

const cut = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}...` : text)

/** A message encoded, its keys checked; its size not checked yet. */
export interface Encoded {
  readonly partitionKey: string
  readonly explicitHashKey: string | undefined
  readonly data: Uint8Array
  /** Data plus partition key. */
  readonly size: number
}

/** Encodes one message and checks its keys: any error here is found before a call is made. */
export const encodeWith = <A>(options: ProducerOptions<A>) =>
(message: A): Encoded | InvalidRecordKey | EncodeError => {
  const partitionKey = options.partitionKey(message)
  if (typeof partitionKey !== "string" || partitionKey.length < 1 || partitionKey.length > 256) {
    return new InvalidRecordKey({ key: "partitionKey", given: cut(String(partitionKey)), reason: "must have 1 to 256 characters" })
  }
  const explicitHashKey = options.explicitHashKey?.(message)
  if (explicitHashKey !== undefined && !validHashKey(explicitHashKey)) {
    return new InvalidRecordKey({
      key: "explicitHashKey",
      given: cut(String(explicitHashKey)),
      reason: "must be a decimal from 0 to 2^128 - 1"
    })
  }
  let data: Uint8Array
  try {
    data = options.codec.encode(message)
  } catch (cause) {
    return new EncodeError({ codec: options.codec.name, cause })
  }
  return { partitionKey, explicitHashKey, data, size: data.length + utf8Length(partitionKey) }
}

/**
 * Checks an encoded message against the stream's record size limit (`limit`: data plus partition
 * key). With aggregation, a record whose bytes would read as an aggregate always goes wrapped, which must fit.
 */
export const checkSize = (encoded: Encoded, limit: number, aggregating: boolean): Prepared | RecordTooLarge => {
  const { explicitHashKey, partitionKey, size } = encoded
  if (size > limit) return new RecordTooLarge({ bytes: size, limit, partitionKey })
  if (aggregating && isAggregated(encoded.data)) {
    const wrapped = new AggregateBuilder().bytesWith(encoded) + utf8Length(partitionKey)
    if (wrapped > limit) return new RecordTooLarge({ bytes: wrapped, limit, partitionKey })
  }
  const hashKey = aggregating ? (explicitHashKey === undefined ? hashKeyOf(partitionKey) : BigInt(explicitHashKey)) : undefined
  return { partitionKey, explicitHashKey, data: encoded.data, size, hashKey }
}

export const isEncoded = (value: Encoded | ProducerError): value is Encoded => !("_tag" in value)

