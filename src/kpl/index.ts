/**
 * KPL de-aggregation: Kinesis records written in the Kinesis Producer Library's aggregation
 * format (magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`, an MD5 trailer) expand into
 * their user records with sub-sequence numbers and the keys from the aggregate's tables; any
 * other record passes through as one user record. Pure and synchronous, so a chunk expands in
 * a plain loop.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { deaggregate } from "shardline"
 *
 * const users = deaggregate({ data: record.data, partitionKey: record.partitionKey, sequenceNumber: record.sequenceNumber })
 * if (Either.isLeft(users)) yield* Effect.logWarning(users.left.message) // dead-letter the record
 * ```
 * @module
 */
export { deaggregate, isAggregated, type KplSourceRecord, type UserRecord } from "./deaggregate.js"
export { DeaggregateError } from "./DeaggregateError.js"
