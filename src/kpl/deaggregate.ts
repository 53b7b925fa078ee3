import { isFieldSet } from "@bufbuild/protobuf"
import { Either } from "effect"
import { createHash } from "node:crypto"
import { type AggregatedRecord, RecordSchema } from "../../gen/shardline/kpl/v1/aggregated_record_pb.js"
import { decodeAggregatedRecord } from "../../gen/shardline/kpl/v1/aggregated_record_shardline.js"
import { protobufBinaryReason } from "../codec/DecodeError.js"
import { DeaggregateError } from "./DeaggregateError.js"

/** A Kinesis record as read from a shard, possibly a KPL aggregate. */
export interface KplSourceRecord {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly sequenceNumber: string
  readonly explicitHashKey?: string | undefined
  readonly approximateArrivalTimestamp?: Date | undefined
}

/**
 * One user record: a whole Kinesis record (`aggregated: false`, sub-sequence number 0) or one
 * record of a KPL aggregate. `(sequenceNumber, subSequenceNumber)` orders and identifies it,
 * as in the KCL's `ExtendedSequenceNumber`.
 */
export interface UserRecord {
  /** The sequence number of the Kinesis record that carried it. */
  readonly sequenceNumber: string
  /** Its index inside the aggregate; 0 for a record that was not aggregated. */
  readonly subSequenceNumber: number
  readonly partitionKey: string
  /** From the aggregate's table; an aggregated user record never inherits the carrier's. */
  readonly explicitHashKey: string | undefined
  readonly approximateArrivalTimestamp: Date | undefined
  /** For aggregated records, a view into the carrier's bytes (no copy). */
  readonly data: Uint8Array
  readonly aggregated: boolean
}

const MAGIC_0 = 0xf3
const MAGIC_1 = 0x89
const MAGIC_2 = 0x9a
const MAGIC_3 = 0xc2
const MAGIC_LENGTH = 4
const DIGEST_LENGTH = 16

const partitionKeyIndexField = RecordSchema.field.partitionKeyIndex
const explicitHashKeyIndexField = RecordSchema.field.explicitHashKeyIndex
const dataField = RecordSchema.field.data

/**
 * Whether `data` starts with the KPL aggregation magic bytes F3 89 9A C2, i.e. claims to be a
 * KPL aggregate (whether it really is one, {@link deaggregate} finds out).
 *
 * @example
 * ```ts
 * isAggregated(record.data) // false for anything not written by the KPL (or aws-kinesis-agg)
 * ```
 */
export const isAggregated = (data: Uint8Array): boolean =>
  data.length >= MAGIC_LENGTH &&
  data[0] === MAGIC_0 &&
  data[1] === MAGIC_1 &&
  data[2] === MAGIC_2 &&
  data[3] === MAGIC_3

const passthrough = (record: KplSourceRecord): UserRecord => ({
  sequenceNumber: record.sequenceNumber,
  subSequenceNumber: 0,
  partitionKey: record.partitionKey,
  explicitHashKey: record.explicitHashKey,
  approximateArrivalTimestamp: record.approximateArrivalTimestamp,
  data: record.data,
  aggregated: false
})

const digestMatches = (body: Uint8Array, trailer: Uint8Array): boolean => {
  const digest = createHash("md5").update(body).digest()
  for (let i = 0; i < DIGEST_LENGTH; i++) if (digest[i] !== trailer[i]) return false
  return true
}

/**
 * Expands a Kinesis record into its user records: a record without the KPL magic bytes is one
 * user record as it is; a KPL aggregate (magic, protobuf `AggregatedRecord`, MD5 of the
 * protobuf) becomes its user records in order, `subSequenceNumber` being the index. Pure and
 * synchronous; the body is decoded by the generated `decodeAggregatedRecord`.
 *
 * A record with the magic that is not a valid aggregate is a {@link DeaggregateError}, for the
 * caller to dead-letter as one record. The KCL (`AggregatorUtil.deaggregate`) instead passes a
 * record with a bad MD5 or an undecodable body through as if it were not aggregated, and on an
 * index outside the key tables logs and drops the rest of the aggregate; aws-kinesis-agg fails
 * on a bad MD5 or body. Passing the raw aggregate to the user's codec would only fail later with
 * a misleading error (or decode garbage), and dropping records silently is data loss, so every
 * one of these is an error here, and an aggregate is expanded whole or not at all.
 *
 * @example
 * ```ts
 * const result = deaggregate({ data, partitionKey, sequenceNumber })
 * if (Either.isRight(result)) for (const user of result.right) handle(user.partitionKey, user.data)
 * ```
 */
export const deaggregate = (record: KplSourceRecord): Either.Either<ReadonlyArray<UserRecord>, DeaggregateError> => {
  const bytes = record.data
  if (!isAggregated(bytes)) return Either.right([passthrough(record)])
  const fail = (reason: string, cause?: unknown) =>
    Either.left(new DeaggregateError({ sequenceNumber: record.sequenceNumber, reason, byteLength: bytes.length, cause }))
  // The KCL passes a magic-prefixed record of <= 20 bytes through; 20 bytes is an empty but
  // well-formed aggregate (MD5 of nothing), fewer cannot hold the trailer.
  if (bytes.length < MAGIC_LENGTH + DIGEST_LENGTH) {
    return fail(`truncated: shorter than the ${MAGIC_LENGTH + DIGEST_LENGTH} bytes of magic and MD5 trailer`)
  }
  const bodyEnd = bytes.length - DIGEST_LENGTH
  const body = bytes.subarray(MAGIC_LENGTH, bodyEnd)
  if (!digestMatches(body, bytes.subarray(bodyEnd))) return fail("MD5 checksum mismatch")
  let aggregate: AggregatedRecord
  try {
    aggregate = decodeAggregatedRecord(body)
  } catch (error) {
    return fail(`invalid AggregatedRecord: ${protobufBinaryReason(error)}`, error)
  }
  const keys = aggregate.partitionKeyTable
  const hashKeys = aggregate.explicitHashKeyTable
  const records = aggregate.records
  const users = new Array<UserRecord>(records.length)
  for (let i = 0; i < records.length; i++) {
    const user = records[i]!
    // proto2 `required`: fromBinary (and so the generated decoder) does not check it, the KPL's
    // protobuf runtimes do (the KCL and aws-kinesis-agg reject such a body).
    if (!isFieldSet(user, partitionKeyIndexField)) return fail(`user record ${i} has no partition_key_index`)
    if (!isFieldSet(user, dataField)) return fail(`user record ${i} has no data`)
    // Number() of an index beyond 2^53 is imprecise but still beyond any table.
    const keyIndex = Number(user.partitionKeyIndex)
    if (keyIndex >= keys.length) {
      return fail(`user record ${i}: partition key index ${user.partitionKeyIndex} outside a table of ${keys.length}`)
    }
    let explicitHashKey: string | undefined
    if (isFieldSet(user, explicitHashKeyIndexField)) {
      const hashKeyIndex = Number(user.explicitHashKeyIndex)
      if (hashKeyIndex >= hashKeys.length) {
        return fail(
          `user record ${i}: explicit hash key index ${user.explicitHashKeyIndex} outside a table of ${hashKeys.length}`
        )
      }
      explicitHashKey = hashKeys[hashKeyIndex]
    }
    users[i] = {
      sequenceNumber: record.sequenceNumber,
      subSequenceNumber: i,
      partitionKey: keys[keyIndex]!,
      explicitHashKey,
      approximateArrivalTimestamp: record.approximateArrivalTimestamp,
      data: user.data,
      aggregated: true
    }
  }
  return Either.right(users)
}
