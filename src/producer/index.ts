/**
 * A typed Kinesis producer: messages encoded by a `Codec`, buffered and sent by a background fiber
 * in PutRecords calls within the API limits, refused entries retried alone, optional per-key
 * ordering and KPL aggregation; closing its scope sends what is still buffered.
 *
 * @example
 * ```ts
 * import { Codec, Producer } from "shardline"
 *
 * const producer = yield* Producer.make({ streamName: "logs", codec: Codec.utf8, partitionKey: (line) => line.slice(0, 8) })
 * const { shardId, sequenceNumber } = yield* producer.put("GET /index.html 200")
 * ```
 * @module
 */
export { aggregateRecords, type UserEntry } from "./aggregate.js"
export {
  EncodeError,
  InvalidRecordKey,
  ProducerClosed,
  type ProducerError,
  RecordRejected,
  RecordTooLarge
} from "./errors.js"
export {
  type AggregationOptions,
  Producer,
  type ProducerOptions,
  type PutResult
} from "./Producer.js"
