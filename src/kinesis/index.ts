/**
 * The Kinesis service: one Effect service over `@aws-sdk/client-kinesis`, with AWS exceptions
 * mapped once to tagged errors.
 * @module
 */
export { fromClient, Kinesis, type KinesisApi, type KinesisOptions, kinesisOptionsConfig } from "./Kinesis.js"
export { verifyStream } from "./verifyStream.js"
export {
  type AccessDeniedKind,
  type CallTarget,
  type ClientContext,
  ExpiredIterator,
  fromAwsError,
  KinesisAccessDenied,
  KinesisConfigError,
  type KinesisError,
  type KinesisOperation,
  KinesisRequestError,
  KinesisResourceNotFound,
  KinesisThrottled
} from "./errors.js"
