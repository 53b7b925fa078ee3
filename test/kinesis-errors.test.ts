import { describe, expect, it } from "@effect/vitest"
import { fromAwsError, type KinesisError } from "../src/kinesis/index.js"
import { isRetryable } from "../src/retry/index.js"

/** An exception shaped the way the AWS SDK builds a service error. */
const awsError = (name: string, message = "details", status = 400) =>
  Object.assign(new Error(message), { name, $fault: "client", $metadata: { httpStatusCode: status, attempts: 1 } })

/** A network error the way NodeHttpHandler passes it on: Node's error with `code`, plus `$metadata`. */
const networkError = (code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`connect ${code}`), { code, errno: -1, ...extra, $metadata: { attempts: 1 } })

const target = { streamName: "clicks", shardId: "shardId-000000000001" }
const client = { region: "eu-west-1", endpoint: "http://127.0.0.1:4567", reached: false }

describe("fromAwsError: access errors are KinesisAccessDenied, never retried", () => {
  it.each([
    ["AccessDeniedException", "AccessDenied"],
    ["KMSAccessDeniedException", "AccessDenied"],
    ["UnrecognizedClientException", "InvalidCredentials"],
    ["InvalidSignatureException", "InvalidCredentials"],
    ["IncompleteSignature", "InvalidCredentials"],
    ["IncompleteSignatureException", "InvalidCredentials"],
    ["InvalidClientTokenId", "InvalidCredentials"],
    ["SignatureDoesNotMatch", "InvalidCredentials"],
    ["ExpiredTokenException", "ExpiredCredentials"],
    ["ExpiredToken", "ExpiredCredentials"]
  ])("%s -> %s", (name, kind) => {
    const cause = awsError(name)
    const error = fromAwsError("GetRecords", target, cause, client)
    expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind, errorName: name, region: "eu-west-1", ...target })
    expect(error.cause).toBe(cause)
    expect(isRetryable(error)).toBe(false)
    for (const part of ["GetRecords", "clicks", "shardId-000000000001", "eu-west-1", name]) {
      expect(error.message).toContain(part)
    }
  })

  it("the SDK's CredentialsProviderError (no credentials anywhere) is MissingCredentials", () => {
    // What the default chain throws when env, files, SSO, process and metadata all come up empty.
    const cause = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
      tryNextLink: false
    })
    const error = fromAwsError("ListShards", { streamName: "clicks" }, cause, client)
    expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind: "MissingCredentials" })
    expect(error.message).toBe(
      "Kinesis ListShards (stream clicks) in region eu-west-1: no AWS credentials found (CredentialsProviderError): " +
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or pass credentials to Kinesis.layer"
    )
  })

  it("AccessDenied says which permission to grant and quotes the service", () => {
    const said = "User: arn:aws:iam::123456789012:user/app is not authorized to perform: kinesis:GetRecords"
    const error = fromAwsError("GetRecords", target, awsError("AccessDeniedException", said), client)
    expect(error.message).toContain("allow kinesis:GetRecords on this stream for the credentials in use")
    expect(error.message).toContain(said)
  })

  it("credential errors never quote the service's text (a signature error can echo the session token)", () => {
    const echoed = "The Canonical String for this request should have been 'x-amz-security-token:TOKEN-xyz789'"
    for (const name of ["InvalidSignatureException", "UnrecognizedClientException", "ExpiredTokenException"]) {
      const error = fromAwsError("ListShards", target, awsError(name, echoed), client)
      expect(error._tag).toBe("KinesisAccessDenied")
      expect(error.message).not.toContain("TOKEN-xyz789")
      expect(String(error)).not.toContain("TOKEN-xyz789")
    }
  })
})

describe("fromAwsError: configuration errors are KinesisConfigError, never retried", () => {
  it("the SDK's \"Region is missing\" asks for a region", () => {
    const error = fromAwsError("ListShards", { streamName: "clicks" }, new Error("Region is missing"), {})
    expect(error).toMatchObject({ _tag: "KinesisConfigError", setting: "region", streamName: "clicks" })
    expect(isRetryable(error)).toBe(false)
    expect(error.message).toContain("no AWS region is set")
    expect(error.message).toContain("AWS_REGION")
  })

  it.each(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"])(
    "%s before the client ever reached the service names the endpoint",
    (code) => {
      const error = fromAwsError("ListShards", { streamName: "clicks" }, networkError(code), client)
      expect(error).toMatchObject({
        _tag: "KinesisConfigError",
        setting: "endpoint",
        endpoint: "http://127.0.0.1:4567",
        region: "eu-west-1",
        errorName: code
      })
      expect(isRetryable(error)).toBe(false)
      expect(error.message).toContain("cannot reach the endpoint http://127.0.0.1:4567")
      expect(error.message).toContain("correct the endpoint")
    }
  )

  it.each(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"])(
    "%s after the client reached the service (or when nobody says) is a retryable blip",
    (code) => {
      for (const context of [{ ...client, reached: true }, undefined]) {
        const error = fromAwsError("ListShards", {}, networkError(code), context)
        expect(error).toMatchObject({ _tag: "KinesisRequestError", errorName: code, retryable: true })
      }
    }
  )

  it("without an endpoint override, names the host and points at the region", () => {
    const cause = networkError("ENOTFOUND", { hostname: "kinesis.eu-wset-1.amazonaws.com" })
    const error = fromAwsError("ListShards", {}, cause, { region: "eu-wset-1", reached: false })
    expect(error.message).toBe(
      "Kinesis ListShards in region eu-wset-1: cannot reach Kinesis at kinesis.eu-wset-1.amazonaws.com " +
        "(ENOTFOUND: the host name does not resolve): check the region name and the network, or set an endpoint"
    )
  })

  it("through the HTTP/2 handler (real AWS), the stream error's cause says the host does not resolve", () => {
    const socket = networkError("ENOTFOUND", { hostname: "kinesis.eu-west-1.amazonaws.com" })
    const cause = Object.assign(new Error("The pending stream has been canceled", { cause: socket }), {
      code: "ERR_HTTP2_STREAM_CANCEL",
      $metadata: { attempts: 1 }
    })
    const error = fromAwsError("DescribeStreamSummary", {}, cause, { region: "eu-west-1", reached: false })
    expect(error).toMatchObject({ _tag: "KinesisConfigError", setting: "endpoint", errorName: "ENOTFOUND" })
    expect(error.message).toContain("cannot reach Kinesis at kinesis.eu-west-1.amazonaws.com")
    // Once the service answered, the same failure is a blip to retry.
    expect(fromAwsError("DescribeStreamSummary", {}, cause, { region: "eu-west-1", reached: true })).toMatchObject({
      _tag: "KinesisRequestError",
      errorName: "ENOTFOUND",
      retryable: true
    })
  })

  it("an AggregateError of connection attempts is classified by its first attempt", () => {
    const cause = Object.assign(new AggregateError([networkError("ECONNREFUSED"), networkError("ECONNREFUSED")]), {
      $metadata: { attempts: 1 }
    })
    expect(fromAwsError("ListShards", {}, cause, client)).toMatchObject({ _tag: "KinesisConfigError", errorName: "ECONNREFUSED" })
  })

  it.each([
    [networkError("ECONNRESET"), "ECONNRESET"],
    [Object.assign(new Error("timed out"), { name: "TimeoutError" }), "TimeoutError"],
    [awsError("InternalFailureException", "oops", 500), "InternalFailureException"]
  ])("%s stays transient even before any response", (cause, errorName) => {
    expect(fromAwsError("GetRecords", {}, cause, client)).toMatchObject({
      _tag: "KinesisRequestError",
      errorName,
      retryable: true
    })
  })
})

describe("fromAwsError: other kinds are unchanged", () => {
  it("ResourceNotFound carries the client's region and endpoint", () => {
    const error: KinesisError = fromAwsError("DescribeStreamSummary", { streamName: "nope" }, awsError("ResourceNotFoundException"), client)
    expect(error).toMatchObject({ _tag: "KinesisResourceNotFound", region: "eu-west-1", endpoint: "http://127.0.0.1:4567" })
    expect(error.message).toContain("in region eu-west-1")
  })

  it("bad input is a non-retryable KinesisRequestError", () => {
    expect(fromAwsError("GetRecords", {}, awsError("InvalidArgumentException"), client)).toMatchObject({
      _tag: "KinesisRequestError",
      retryable: false
    })
  })
})
