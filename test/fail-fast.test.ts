import { Agent, createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Effect, Exit, Layer, Scope } from "effect"
import { Kinesis, type KinesisError, verifyStream } from "../src/kinesis/index.js"
import { LocalKinesis } from "../src/local/index.js"
import { isRetryable, RetryPolicy } from "../src/retry/index.js"
import { type FaultKind, Faults, KinesisCalls } from "../src/testing/index.js"

const secret = "SECRET-abc123"
const token = "TOKEN-xyz789"
const credentials = { accessKeyId: "AKIDSHARDLINETEST", secretAccessKey: secret, sessionToken: token }

/** Fails if any of the texts a user may see holds a secret; the cause is left out of JSON (it is the SDK's). */
const expectNoSecrets = (error: KinesisError) => {
  const { cause: _, ...fields } = error
  for (const text of [error.message, String(error), JSON.stringify(fields), JSON.stringify(error)]) {
    expect(text).not.toContain(secret)
    expect(text).not.toContain(token)
  }
}

/** Runs `effect` with environment variables set (undefined: removed), then puts them back. */
const withEnv = <A, E, R>(vars: Record<string, string | undefined>, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]
      else process.env[k] = v
      return saved
    }),
    () => effect,
    (saved) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
        else process.env[k] = v
      })
  )

const nowhere = join(tmpdir(), "shardline-fail-fast-does-not-exist")

/** No credentials and no region anywhere the SDK looks: env, shared files, SSO, containers, instance metadata. */
const bareEnvironment = {
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_DEFAULT_PROFILE: undefined,
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
  AWS_ROLE_ARN: undefined,
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
  AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_SHARED_CREDENTIALS_FILE: join(nowhere, "credentials"),
  AWS_CONFIG_FILE: join(nowhere, "config")
}

const listShards = (streamName: string) => Effect.flatMap(Kinesis, (k) => k.listShards({ StreamName: streamName }))

const retried = <A, R>(effect: Effect.Effect<A, KinesisError, R>) =>
  Effect.retry(effect, { schedule: RetryPolicy.default, while: isRetryable })

/** A real HTTP server, answering every call with status 400 and the given AWS error. */
const failingServer = (answer: (req: IncomingMessage) => { __type: string; message: string }) =>
  Effect.acquireRelease(
    Effect.async<{ endpoint: string; close: () => void }>((resume) => {
      const server = createServer((req, res: ServerResponse) => {
        req.resume()
        req.on("end", () => {
          res.writeHead(400, { "content-type": "application/x-amz-json-1.1" })
          res.end(JSON.stringify(answer(req)))
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ endpoint: `http://127.0.0.1:${port}`, close: () => server.close() }))
      })
    }),
    ({ close }) =>
      Effect.sync(() => {
        close()
      })
  )

/**
 * A client opening a fresh connection per call: with keep-alive, the first call after the server
 * stops would fail on the dead socket (ECONNRESET) before a new connection is refused.
 */
const freshConnections = () => new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: false }) })

/** A port nothing listens on: bound once by the OS, then released. */
const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("fatal Kinesis errors fail fast with a readable message", () => {
  it.scopedLive("no credentials anywhere: KinesisAccessDenied MissingCredentials, at once", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 1 }] })
      const started = Date.now()
      const error = yield* withEnv(
        bareEnvironment,
        retried(listShards("clicks")).pipe(
          Effect.provide(Kinesis.layer({ endpoint: local.endpoint, region: local.region })),
          Effect.flip
        )
      )
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(error).toMatchObject({
        _tag: "KinesisAccessDenied",
        kind: "MissingCredentials",
        errorName: "CredentialsProviderError",
        operation: "ListShards",
        streamName: "clicks",
        region: "us-east-1"
      })
      expect(error.message).toBe(
        "Kinesis ListShards (stream clicks) in region us-east-1: no AWS credentials found (CredentialsProviderError): " +
          "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or pass credentials to Kinesis.layer"
      )
    }))

  it.scopedLive("access denied (injected over kinesalite): KinesisAccessDenied naming the stream, no secrets", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 1 }] })
      const layer = Faults.layer({ seed: 1, faults: [{ operation: "ListShards", kind: { _tag: "AccessDenied" } }] }).pipe(
        Layer.provide(Kinesis.layer({ endpoint: local.endpoint, region: local.region, credentials }))
      )
      const { calls, error } = yield* Effect.gen(function* () {
        const error = yield* Effect.flip(retried(listShards("clicks")))
        return { error, calls: yield* (yield* KinesisCalls).calls }
      }).pipe(Effect.provide(layer))
      expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind: "AccessDenied", streamName: "clicks" })
      expect(error.message).toContain("Kinesis ListShards (stream clicks)")
      expect(error.message).toContain("allow kinesis:ListShards on this stream for the credentials in use")
      expect(calls).toHaveLength(1) // not retried
      expectNoSecrets(error)
    }))

  const credentialFaults: ReadonlyArray<readonly [FaultKind, string]> = [
    [{ _tag: "AwsError", name: "UnrecognizedClientException" }, "InvalidCredentials"],
    [{ _tag: "AwsError", name: "ExpiredTokenException" }, "ExpiredCredentials"]
  ]
  for (const [kind, expected] of credentialFaults) {
    it.scopedLive(`${JSON.stringify(kind)} (injected over kinesalite) is ${expected}`, () =>
      Effect.gen(function* () {
        const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 1 }] })
        const layer = Faults.layer({ seed: 1, faults: [{ operation: "ListShards", kind }] }).pipe(
          Layer.provide(Kinesis.layer({ endpoint: local.endpoint, region: local.region, credentials }))
        )
        const error = yield* Effect.flip(retried(listShards("clicks"))).pipe(Effect.provide(layer))
        expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind: expected })
        expectNoSecrets(error)
      }))
  }

  it.scopedLive("credentials the service rejects: the SDK's real exceptions, even one echoing the session token", () =>
    Effect.gen(function* () {
      // AWS's signature errors quote the canonical request, session token header included.
      const server = yield* failingServer((req) => ({
        __type: "InvalidSignatureException",
        message: `The request signature we calculated does not match. The Canonical String should have been 'x-amz-security-token:${String(req.headers["x-amz-security-token"])}'`
      }))
      const kinesis = yield* Kinesis.make({ endpoint: server.endpoint, region: "eu-west-1", credentials })
      const error = yield* Effect.flip(retried(kinesis.listShards({ StreamName: "clicks" })))
      expect((error.cause as Error).message).toContain(token) // the server did echo it
      expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind: "InvalidCredentials", region: "eu-west-1" })
      expect(error.message).toContain("the service did not accept the AWS credentials in use (InvalidSignatureException)")
      const { cause: _, ...fields } = error
      for (const text of [error.message, String(error), JSON.stringify(fields)]) expect(text).not.toContain(token)
    }))

  it.scopedLive("a real UnrecognizedClientException from the server is InvalidCredentials", () =>
    Effect.gen(function* () {
      const server = yield* failingServer(() => ({
        __type: "UnrecognizedClientException",
        message: "The security token included in the request is invalid."
      }))
      const kinesis = yield* Kinesis.make({ endpoint: server.endpoint, region: "eu-west-1", credentials })
      const error = yield* Effect.flip(retried(kinesis.getShardIterator({
        StreamName: "clicks",
        ShardId: "shardId-000000000000",
        ShardIteratorType: "LATEST"
      })))
      expect(error).toMatchObject({ _tag: "KinesisAccessDenied", kind: "InvalidCredentials", shardId: "shardId-000000000000" })
      expectNoSecrets(error)
    }))

  it.scopedLive("an endpoint nothing listens on: KinesisConfigError endpoint, not retried", () =>
    Effect.gen(function* () {
      const endpoint = `http://127.0.0.1:${yield* freePort}`
      const kinesis = yield* Kinesis.make({ endpoint, region: "us-east-1", credentials })
      const started = Date.now()
      const error = yield* Effect.flip(retried(kinesis.listShards({ StreamName: "clicks" }))).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("still retrying the endpoint") })
      )
      expect(Date.now() - started).toBeLessThan(1_000)
      expect(error).toMatchObject({
        _tag: "KinesisConfigError",
        setting: "endpoint",
        endpoint,
        region: "us-east-1",
        errorName: "ECONNREFUSED"
      })
      expect(error.message).toBe(
        `Kinesis ListShards (stream clicks) in region us-east-1: cannot reach the endpoint ${endpoint} ` +
          "(ECONNREFUSED: nothing listens there): correct the endpoint (endpoint in Kinesis.layer, " +
          "SHARDLINE_KINESIS_ENDPOINT or AWS_ENDPOINT_URL_KINESIS) or start the service there"
      )
      expectNoSecrets(error)
    }))

  it.scopedLive("once the client has reached the service, a refused connection is a retryable blip", () =>
    Effect.gen(function* () {
      const serverScope = yield* Scope.make()
      const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 1 }] }).pipe(
        Scope.extend(serverScope)
      )
      const kinesis = yield* Kinesis.make({
        endpoint: local.endpoint,
        region: local.region,
        credentials,
        requestHandler: freshConnections()
      })
      yield* kinesis.listShards({ StreamName: "clicks" })
      yield* Scope.close(serverScope, Exit.void)
      const error = yield* Effect.flip(kinesis.listShards({ StreamName: "clicks" }))
      expect(error).toMatchObject({ _tag: "KinesisRequestError", errorName: "ECONNREFUSED", retryable: true })
      expect(isRetryable(error)).toBe(true)
    }))

  it.scopedLive("a service error also proves the endpoint: a later refusal stays retryable", () =>
    Effect.gen(function* () {
      const serverScope = yield* Scope.make()
      const local = yield* LocalKinesis.start().pipe(Scope.extend(serverScope))
      const kinesis = yield* Kinesis.make({
        endpoint: local.endpoint,
        region: local.region,
        credentials,
        requestHandler: freshConnections()
      })
      expect((yield* Effect.flip(kinesis.listShards({ StreamName: "nope" })))._tag).toBe("KinesisResourceNotFound")
      yield* Scope.close(serverScope, Exit.void)
      const error = yield* Effect.flip(kinesis.listShards({ StreamName: "nope" }))
      expect(error).toMatchObject({ _tag: "KinesisRequestError", errorName: "ECONNREFUSED", retryable: true })
    }))

  it.scopedLive("no region anywhere: KinesisConfigError region", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 1 }] })
      const error = yield* withEnv(
        bareEnvironment,
        retried(listShards("clicks")).pipe(
          Effect.provide(Kinesis.layer({ endpoint: local.endpoint, credentials })),
          Effect.flip
        )
      )
      expect(error).toMatchObject({
        _tag: "KinesisConfigError",
        setting: "region",
        region: undefined,
        endpoint: local.endpoint,
        streamName: "clicks"
      })
      expect(error.message).toBe(
        "Kinesis ListShards (stream clicks): no AWS region is set: set AWS_REGION, a region for the profile " +
          "in the AWS config file, or pass region to Kinesis.layer"
      )
      expectNoSecrets(error)
    }))
})

describe("verifyStream", () => {
  const streams = [{ name: "clicks", shardCount: 2 }]

  it.scopedLive("succeeds for a stream that exists", () =>
    verifyStream("clicks").pipe(Effect.provide(LocalKinesis.layer({ streams }))))

  it.scopedLive("an unknown stream is InvalidOption streamName, naming the stream, region and endpoint", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis.start({ streams })
      const error = yield* Effect.flip(verifyStream("clikcs")).pipe(Effect.provide(Kinesis.layer(local.kinesisOptions)))
      expect(error).toMatchObject({ _tag: "InvalidOption", option: "streamName", given: "\"clikcs\"" })
      expect(error.message).toBe(
        `Invalid option streamName: got "clikcs"; expected a stream that exists in region us-east-1 at endpoint ${local.endpoint}; ` +
          "create it, or correct streamName, the region or the endpoint"
      )
    }))

  it.scopedLive("retries throttles, but not access denied", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis.start({ streams })
      const run = (kind: FaultKind, times: number) =>
        Effect.gen(function* () {
          const result = yield* Effect.either(verifyStream("clicks"))
          return { result, calls: (yield* (yield* KinesisCalls).calls).map((c) => c.outcome) }
        }).pipe(
          Effect.provide(
            Faults.layer({ seed: 1, faults: [{ operation: "DescribeStreamSummary", kind, times }] }).pipe(
              Layer.provide(Kinesis.layer(local.kinesisOptions))
            )
          )
        )
      const throttled = yield* run({ _tag: "Throttle" }, 2)
      expect(throttled.result._tag).toBe("Right")
      expect(throttled.calls).toEqual(["injected", "injected", "ok"])
      const denied = yield* run({ _tag: "AccessDenied" }, 5)
      expect(denied.result).toMatchObject({ _tag: "Left", left: { _tag: "KinesisAccessDenied", kind: "AccessDenied" } })
      expect(denied.calls).toEqual(["injected"])
    }))

  it.scopedLive("a stream being deleted is InvalidOption streamName", () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.async<{ endpoint: string; close: () => void }>((resume) => {
          const s = createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(200, { "content-type": "application/x-amz-json-1.1" })
              res.end(JSON.stringify({
                StreamDescriptionSummary: {
                  StreamName: "old",
                  StreamARN: "arn:aws:kinesis:eu-west-1:000000000000:stream/old",
                  StreamStatus: "DELETING",
                  RetentionPeriodHours: 24,
                  StreamCreationTimestamp: 1_700_000_000,
                  EnhancedMonitoring: [],
                  OpenShardCount: 1
                }
              }))
            })
          })
          s.listen(0, "127.0.0.1", () =>
            resume(Effect.succeed({
              endpoint: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
              close: () => s.close()
            })))
        }),
        ({ close }) => Effect.sync(close)
      )
      const error = yield* Effect.flip(verifyStream("old")).pipe(
        Effect.provide(Kinesis.layer({ endpoint: server.endpoint, region: "eu-west-1", credentials }))
      )
      expect(error).toMatchObject({ _tag: "InvalidOption", option: "streamName", given: "\"old\"" })
      expect(error.message).toContain("DELETING in region eu-west-1")
    }))
})
