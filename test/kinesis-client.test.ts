import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import {
  AccessDeniedException,
  ExpiredIteratorException,
  InternalFailureException,
  InvalidArgumentException,
  LimitExceededException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException
} from "@aws-sdk/client-kinesis"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Fiber, Layer } from "effect"
import { fromAwsError, Kinesis } from "../src/kinesis/index.js"

const metadata = { $metadata: { httpStatusCode: 400 } }

describe("fromAwsError maps AWS exceptions by name, once", () => {
  const target = { streamName: "clicks", shardId: "shardId-000000000001" }
  it.each([
    [new ProvisionedThroughputExceededException({ message: "slow down", ...metadata }), "KinesisThrottled"],
    [new LimitExceededException({ message: "limit", ...metadata }), "KinesisThrottled"],
    [new ExpiredIteratorException({ message: "expired", ...metadata }), "ExpiredIterator"],
    [new ResourceNotFoundException({ message: "no such stream", ...metadata }), "KinesisResourceNotFound"],
    [new InvalidArgumentException({ message: "bad", ...metadata }), "KinesisRequestError"],
    [new AccessDeniedException({ message: "denied", ...metadata }), "KinesisAccessDenied"]
  ])("%s -> %s, naming stream and shard", (cause, tag) => {
    const error = fromAwsError("GetRecords", target, cause)
    expect(error._tag).toBe(tag)
    expect(error).toMatchObject(target)
    expect(error.cause).toBe(cause)
    expect(error.message).toContain("clicks")
    expect(error.message).toContain("shardId-000000000001")
  })

  it("marks server faults and network errors retryable, client errors not", () => {
    const internal = fromAwsError("GetRecords", {}, new InternalFailureException({ message: "oops", $metadata: { httpStatusCode: 500 } }))
    const refused = fromAwsError("ListShards", {}, Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))
    const invalid = fromAwsError("GetRecords", {}, new InvalidArgumentException({ message: "bad", ...metadata }))
    const denied = fromAwsError("ListShards", {}, new AccessDeniedException({ message: "denied", ...metadata }))
    expect([internal, refused, invalid, denied].map((e) => [e._tag, "retryable" in e ? e.retryable : undefined])).toEqual([
      ["KinesisRequestError", true],
      ["KinesisRequestError", true],
      ["KinesisRequestError", false],
      ["KinesisAccessDenied", undefined]
    ])
    expect(refused.message).toContain("ECONNREFUSED")
  })
})

/** A plain HTTP/1.1 server on 127.0.0.1 that answers with `respond`, tracking its open sockets. */
const fakeKinesis = (respond: (req: IncomingMessage, res: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ server: Server; endpoint: string; sockets: Set<Socket>; requests: Array<string> }>((resume) => {
      const sockets = new Set<Socket>()
      const requests: Array<string> = []
      const server = createServer((req, res) => {
        requests.push(String(req.headers["x-amz-target"]))
        respond(req, res)
      })
      server.on("connection", (socket: Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, endpoint: `http://127.0.0.1:${port}`, sockets, requests }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  )

const clientOptions = (endpoint: string) => ({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" }
})

const summary = JSON.stringify({
  StreamDescriptionSummary: {
    StreamName: "clicks",
    StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
    StreamStatus: "ACTIVE",
    RetentionPeriodHours: 24,
    StreamCreationTimestamp: 1_700_000_000,
    EnhancedMonitoring: [],
    OpenShardCount: 1
  }
})

const answerSummary = (_: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { "content-type": "application/x-amz-json-1.1" })
  res.end(summary)
}

/** Polls (on the live clock) until `check` holds, for at most `seconds`. */
const eventually = (check: () => boolean, seconds = 5) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds * 50 && !check(); i++) yield* Effect.sleep("20 millis")
    return check()
  })

describe("the Kinesis service over HTTP", () => {
  it.live("talks HTTP/1.1 to an endpoint override and closes its sockets when its scope closes", () =>
    Effect.gen(function* () {
      const server = yield* fakeKinesis(answerSummary)
      const out = yield* Effect.scoped(
        Effect.gen(function* () {
          const kinesis = yield* Kinesis.make(clientOptions(server.endpoint))
          const result = yield* kinesis.describeStreamSummary({ StreamName: "clicks" })
          // Keep-alive: the connection stays open while the client lives.
          expect(server.sockets.size).toBe(1)
          return result
        })
      )
      expect(out.StreamDescriptionSummary?.StreamStatus).toBe("ACTIVE")
      expect(server.requests).toEqual(["Kinesis_20131202.DescribeStreamSummary"])
      expect(yield* eventually(() => server.sockets.size === 0)).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("interrupting a call aborts its HTTP request", () =>
    Effect.gen(function* () {
      const arrived = yield* Deferred.make<void>()
      // Never answers: the only way out is the client giving up.
      const server = yield* fakeKinesis(() => Deferred.unsafeDone(arrived, Effect.void))
      const kinesis = yield* Kinesis.make(clientOptions(server.endpoint))
      const call = yield* Effect.fork(kinesis.getRecords({ ShardIterator: "it", Limit: 10 }))
      yield* Deferred.await(arrived)
      expect(server.sockets.size).toBe(1)
      yield* Fiber.interrupt(call)
      expect(yield* eventually(() => server.sockets.size === 0)).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("layerConfig reads the endpoint and region from configuration", () =>
    Effect.gen(function* () {
      const server = yield* fakeKinesis(answerSummary)
      const config = ConfigProvider.fromMap(
        new Map([
          ["AWS_REGION", "eu-west-1"],
          ["SHARDLINE_KINESIS_ENDPOINT", server.endpoint],
          ["AWS_ACCESS_KEY_ID", "test"],
          ["AWS_SECRET_ACCESS_KEY", "test"]
        ])
      )
      const layer = Kinesis.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(config)))
      const out = yield* Effect.flatMap(Kinesis, (k) => k.describeStreamSummary({ StreamName: "clicks" })).pipe(Effect.provide(layer))
      expect(out.StreamDescriptionSummary?.StreamName).toBe("clicks")
      expect(server.requests).toHaveLength(1)
    }).pipe(Effect.scoped)
  )
})
