import { Data } from "effect"

/** The Kinesis operations shardline calls; used to say which call failed. */
export type KinesisOperation =
  | "CreateStream"
  | "DescribeStreamSummary"
  | "ListShards"
  | "GetShardIterator"
  | "GetRecords"
  | "PutRecord"
  | "PutRecords"
  | "SplitShard"
  | "MergeShards"
  | "DeleteStream"

/**
 * The service refused the call because a limit was exceeded
 * (ProvisionedThroughputExceeded, LimitExceeded, KMSThrottling). Retry with backoff.
 */
export class KinesisThrottled extends Data.TaggedError("KinesisThrottled")<{
  readonly operation: KinesisOperation
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  readonly errorName: string
  readonly cause: unknown
}> {
  override get message() {
    return `Kinesis ${this.operation} was throttled (${this.errorName})${where(this)}`
  }
}

/** A shard iterator outlived its 5 minutes; get a new one from the last delivered position. */
export class ExpiredIterator extends Data.TaggedError("ExpiredIterator")<{
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  readonly cause: unknown
}> {
  override get message() {
    return `Kinesis shard iterator expired${where(this)}`
  }
}

/** The stream, shard or consumer named in the call does not exist (or is not ACTIVE yet). */
export class KinesisResourceNotFound extends Data.TaggedError("KinesisResourceNotFound")<{
  readonly operation: KinesisOperation
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  readonly cause: unknown
}> {
  override get message() {
    return `Kinesis ${this.operation}: resource not found${where(this)}`
  }
}

/**
 * Any other failure of a Kinesis call. `retryable` is true for faults that may pass on their own
 * (5xx, InternalFailure, network errors and time-outs); false for bad input, access denied and the like.
 */
export class KinesisRequestError extends Data.TaggedError("KinesisRequestError")<{
  readonly operation: KinesisOperation
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  readonly errorName: string
  readonly retryable: boolean
  readonly cause: unknown
}> {
  override get message() {
    const detail = this.cause instanceof Error && this.cause.message ? `: ${this.cause.message}` : ""
    return `Kinesis ${this.operation} failed (${this.errorName})${where(this)}${detail}`
  }
}

/** Every error a Kinesis call can fail with. */
export type KinesisError = KinesisThrottled | ExpiredIterator | KinesisResourceNotFound | KinesisRequestError

const where = (e: { readonly streamName?: string | undefined; readonly shardId?: string | undefined }) =>
  e.streamName === undefined ? "" : ` (stream ${e.streamName}${e.shardId === undefined ? "" : `, shard ${e.shardId}`})`

const throttlingNames = new Set([
  "ProvisionedThroughputExceededException",
  "LimitExceededException",
  "KMSThrottlingException",
  "ThrottlingException",
  "TooManyRequestsException"
])

const transientNames = new Set([
  "InternalFailureException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalServerError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT"
])

/** Where a failed call was aimed, so the error can say it. */
export interface CallTarget {
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
}

/** Maps whatever the AWS SDK threw into one of shardline's tagged errors, by the exception's name. */
export const fromAwsError = (operation: KinesisOperation, target: CallTarget, cause: unknown): KinesisError => {
  const errorName = errorNameOf(cause)
  const base = { operation, streamName: target.streamName, shardId: target.shardId, cause }
  if (throttlingNames.has(errorName)) return new KinesisThrottled({ ...base, errorName })
  if (errorName === "ExpiredIteratorException") {
    return new ExpiredIterator({ streamName: target.streamName, shardId: target.shardId, cause })
  }
  if (errorName === "ResourceNotFoundException") return new KinesisResourceNotFound(base)
  return new KinesisRequestError({ ...base, errorName, retryable: isTransient(errorName, cause) })
}

const errorNameOf = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null) {
    const c = cause as { name?: unknown; code?: unknown }
    if (typeof c.code === "string" && c.code.startsWith("E")) return c.code
    if (typeof c.name === "string") return c.name
  }
  return "UnknownError"
}

const isTransient = (errorName: string, cause: unknown): boolean => {
  if (transientNames.has(errorName)) return true
  const c = cause as { $fault?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: unknown } } | null
  if (typeof c !== "object" || c === null) return false
  if (c.$retryable !== undefined && c.$retryable !== null) return true
  if (c.$fault === "server") return true
  const status = c.$metadata?.httpStatusCode
  return typeof status === "number" && status >= 500
}
