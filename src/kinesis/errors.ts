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
  | "RegisterStreamConsumer"
  | "DescribeStreamConsumer"
  | "ListStreamConsumers"
  | "DeregisterStreamConsumer"
  | "SubscribeToShard"

/**
 * The service refused the call because a limit was exceeded
 * (ProvisionedThroughputExceeded, LimitExceeded, KMSThrottling; on SubscribeToShard also
 * ResourceInUse: the shard's previous subscription is still open). Retry with backoff.
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
  /** The client's region and endpoint override, when known: where the resource was looked for. */
  readonly region?: string | undefined
  readonly endpoint?: string | undefined
  readonly cause: unknown
}> {
  override get message() {
    const at = this.region === undefined ? "" : ` in region ${this.region}`
    return `Kinesis ${this.operation}: resource not found${where(this)}${at}`
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

/** Why the service (or the SDK, before sending) refused the caller's identity. */
export type AccessDeniedKind = "AccessDenied" | "InvalidCredentials" | "ExpiredCredentials" | "MissingCredentials"

/**
 * The credentials in use may not make this call, are not accepted, have expired, or there are none.
 * Fatal: retrying cannot help. The message says what to change and never holds a secret: it
 * does not quote credentials, request headers, or the service's text for credential errors
 * (a signature error's text can carry the canonical request, session token included).
 */
export class KinesisAccessDenied extends Data.TaggedError("KinesisAccessDenied")<{
  readonly operation: KinesisOperation
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  readonly region?: string | undefined
  readonly errorName: string
  readonly kind: AccessDeniedKind
  readonly cause: unknown
}> {
  override get message() {
    const call = `Kinesis ${this.operation}${where(this)}${inRegion(this.region)}`
    switch (this.kind) {
      case "AccessDenied":
        return `${call} was denied (${this.errorName}): allow kinesis:${this.operation} on this stream for the credentials in use${serviceSaid(this.cause)}`
      case "InvalidCredentials":
        return `${call}: the service did not accept the AWS credentials in use (${this.errorName}): check the access key id and secret access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the AWS_PROFILE profile, or the credentials passed to Kinesis.layer), that they are meant for this region's AWS partition, and that the system clock is right`
      case "ExpiredCredentials":
        return `${call}: the AWS credentials in use have expired (${this.errorName}): refresh them (e.g. aws sso login, or new temporary credentials), or pass Kinesis.layer a credentials provider that renews them`
      case "MissingCredentials":
        return `${call}: no AWS credentials found (${this.errorName}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or pass credentials to Kinesis.layer`
    }
  }
}

/**
 * The client's settings cannot work: no region could be resolved, or the endpoint could not be
 * reached at all before this client ever got a response. Fatal: retrying cannot help.
 */
export class KinesisConfigError extends Data.TaggedError("KinesisConfigError")<{
  readonly setting: "region" | "endpoint"
  readonly operation: KinesisOperation
  readonly region?: string | undefined
  /** The endpoint override in use, if any. */
  readonly endpoint?: string | undefined
  readonly streamName?: string | undefined
  readonly errorName: string
  readonly cause: unknown
}> {
  override get message() {
    const call = `Kinesis ${this.operation}${where(this)}`
    if (this.setting === "region") {
      return `${call}: no AWS region is set: set AWS_REGION, a region for the profile in the AWS config file, or pass region to Kinesis.layer`
    }
    const problem = unreachableProblem[this.errorName] ?? "cannot connect"
    if (this.endpoint !== undefined) {
      return `${call}${inRegion(this.region)}: cannot reach the endpoint ${this.endpoint} (${this.errorName}: ${problem}): correct the endpoint (endpoint in Kinesis.layer, SHARDLINE_KINESIS_ENDPOINT or AWS_ENDPOINT_URL_KINESIS) or start the service there`
    }
    const host = hostOf(this.cause)
    return `${call}${inRegion(this.region)}: cannot reach Kinesis${host === undefined ? "" : ` at ${host}`} (${this.errorName}: ${problem}): check the region name and the network, or set an endpoint`
  }
}

/** Every error a Kinesis call can fail with. */
export type KinesisError =
  | KinesisThrottled
  | ExpiredIterator
  | KinesisResourceNotFound
  | KinesisAccessDenied
  | KinesisConfigError
  | KinesisRequestError

const where = (e: { readonly streamName?: string | undefined; readonly shardId?: string | undefined }) =>
  e.streamName === undefined ? "" : ` (stream ${e.streamName}${e.shardId === undefined ? "" : `, shard ${e.shardId}`})`

const inRegion = (region: string | undefined) => (region === undefined ? "" : ` in region ${region}`)

/** The service's own words for an access-denied error (they name the principal and the action); bounded. */
const serviceSaid = (cause: unknown): string => {
  const text = cause instanceof Error ? cause.message.trim() : ""
  return text === "" ? "" : `. AWS said: ${text.length > 500 ? `${text.slice(0, 500)}...` : text}`
}

const hostOf = (cause: unknown): string | undefined => {
  const c = cause as { hostname?: unknown; address?: unknown; port?: unknown; cause?: unknown } | null
  if (typeof c !== "object" || c === null) return undefined
  const host = typeof c.hostname === "string" ? c.hostname : typeof c.address === "string" ? c.address : undefined
  // An HTTP/2 stream error carries the socket's error as its cause.
  if (host === undefined) return c.cause === undefined ? undefined : hostOf(c.cause)
  return typeof c.port === "number" ? `${host}:${c.port}` : host
}

/** Network errors that mean "there is nothing to talk to there", with what each says. */
const unreachableProblem: Record<string, string> = {
  ECONNREFUSED: "nothing listens there",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "no route to the host",
  ENETUNREACH: "no route to the network"
}

const accessDeniedKinds: Record<string, AccessDeniedKind> = {
  AccessDeniedException: "AccessDenied",
  KMSAccessDeniedException: "AccessDenied",
  UnrecognizedClientException: "InvalidCredentials",
  InvalidSignatureException: "InvalidCredentials",
  IncompleteSignature: "InvalidCredentials",
  IncompleteSignatureException: "InvalidCredentials",
  InvalidClientTokenId: "InvalidCredentials",
  SignatureDoesNotMatch: "InvalidCredentials",
  ExpiredTokenException: "ExpiredCredentials",
  ExpiredToken: "ExpiredCredentials",
  // The SDK's credential chain found nothing (thrown before any request is sent).
  CredentialsProviderError: "MissingCredentials"
}

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
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ETIMEDOUT"
])

/** Where a failed call was aimed, so the error can say it. */
export interface CallTarget {
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
}

/** What the client knows about itself when a call fails, so errors can say where they went. */
export interface ClientContext {
  readonly region?: string | undefined
  /** The endpoint override, if one is set. */
  readonly endpoint?: string | undefined
  /**
   * Whether this client has had any response from the service. Until it has, an endpoint that
   * cannot be reached is a {@link KinesisConfigError}; after, a passing network fault.
   * Defaults to true (without this knowledge, network errors stay retryable).
   */
  readonly reached?: boolean | undefined
}

/**
 * Maps whatever the AWS SDK threw into one of shardline's tagged errors, by the exception's name.
 * `client` (optional) adds the client's region and endpoint and whether it ever got a response.
 */
export const fromAwsError = (
  operation: KinesisOperation,
  target: CallTarget,
  cause: unknown,
  client: ClientContext = {}
): KinesisError => {
  const errorName = errorNameOf(cause)
  const base = { operation, streamName: target.streamName, shardId: target.shardId, cause }
  if (throttlingNames.has(errorName)) return new KinesisThrottled({ ...base, errorName })
  // On SubscribeToShard it means another subscription to the shard is still open (or the 1 call/s
  // limit): the service says back off and try again. Elsewhere (a stream or consumer that exists) it stays fatal.
  if (errorName === "ResourceInUseException" && operation === "SubscribeToShard") {
    return new KinesisThrottled({ ...base, errorName })
  }
  if (errorName === "ExpiredIteratorException") {
    return new ExpiredIterator({ streamName: target.streamName, shardId: target.shardId, cause })
  }
  if (errorName === "ResourceNotFoundException") {
    return new KinesisResourceNotFound({ ...base, region: client.region, endpoint: client.endpoint })
  }
  const kind = accessDeniedKinds[errorName]
  if (kind !== undefined) return new KinesisAccessDenied({ ...base, region: client.region, errorName, kind })
  const config = { operation, streamName: target.streamName, region: client.region, endpoint: client.endpoint }
  if (isRegionMissing(cause)) return new KinesisConfigError({ ...config, setting: "region", errorName, cause })
  if (client.reached === false && errorName in unreachableProblem) {
    return new KinesisConfigError({ ...config, setting: "endpoint", errorName, cause })
  }
  return new KinesisRequestError({ ...base, errorName, retryable: isTransient(errorName, cause) })
}

// The SDK's region resolution fails with a plain Error before anything is sent.
const isRegionMissing = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "Error" && /^region is missing/i.test(cause.message)

const errorNameOf = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null) {
    const c = cause as { name?: unknown; code?: unknown; errors?: unknown; cause?: unknown }
    // The HTTP/2 handler wraps a connection failure (e.g. ERR_HTTP2_STREAM_CANCEL caused by ENOTFOUND): the cause names it.
    if (typeof c.code === "string" && c.code.startsWith("ERR_HTTP2") && typeof c.cause === "object") {
      const inner = errorNameOf(c.cause)
      if (inner in unreachableProblem || transientNames.has(inner)) return inner
    }
    if (typeof c.code === "string" && c.code.startsWith("E")) return c.code
    // Connecting to every address of a host fails as an AggregateError of the attempts.
    if (c.name === "AggregateError" && Array.isArray(c.errors) && c.errors.length > 0) return errorNameOf(c.errors[0])
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
