/**
 * The Kinesis service: one Effect service over `@aws-sdk/client-kinesis`, with AWS exceptions
 * mapped once to tagged errors.
 * @module
 */
export { fromClient, Kinesis, type KinesisApi, type KinesisOptions, kinesisOptionsConfig } from "./Kinesis.js"
export {
  type CallTarget,
  ExpiredIterator,
  fromAwsError,
  type KinesisError,
  type KinesisOperation,
  KinesisRequestError,
  KinesisResourceNotFound,
  KinesisThrottled
} from "./errors.js"
