/**
 * Retry policies as Effect `Schedule`s, the error classes they apply to, and how Kinesis calls
 * are retried with a policy per class.
 * @module
 */
export {
  backoff,
  type BackoffOptions,
  type ErrorClass,
  errorClassOf,
  isRetryable,
  type RetryOption,
  type RetryPolicies,
  RetryPolicy,
  type RetrySchedule,
  scheduleFor
} from "./RetryPolicy.js"
export { retryKinesis, type RetryKinesisOptions } from "./retryKinesis.js"
