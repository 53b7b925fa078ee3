/**
 * Retry policies as Effect `Schedule`s, and which errors they apply to.
 * @module
 */
export { backoff, type BackoffOptions, isRetryable, RetryPolicy, type RetrySchedule } from "./RetryPolicy.js"
