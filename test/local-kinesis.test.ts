import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { importOptional } from "../src/internal/optionalDependency.js"
import { Kinesis } from "../src/kinesis/index.js"
import { LocalKinesis, MissingDependency } from "../src/local/index.js"

/** Whether something accepts TCP connections on the port; an accepted socket is closed at once. */
const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/** A connection left open (like a client's keep-alive socket) until the server ends it. */
const idleConnection = (port: number) =>
  Effect.async<net.Socket>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => resume(Effect.succeed(socket)))
  })

const stuck = (what: string) => ({ duration: "5 seconds", onTimeout: () => new Error(`${what} hung`) }) as const

const portOf = (endpoint: string) => Number(new URL(endpoint).port)

describe("LocalKinesis", () => {
  it.live("starts on a free port, creates the streams, and stops when its scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const streams = [{ name: "clicks", shardCount: 3 }]
      const local = yield* LocalKinesis.start({ streams }).pipe(Scope.extend(scope))
      expect(local.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(local.region).toBe("us-east-1")
      const port = portOf(local.endpoint)
      expect(port).toBeGreaterThan(0)

      const shards = yield* Effect.flatMap(Kinesis, (k) => k.listShards({ StreamName: "clicks" })).pipe(
        Effect.provide(Kinesis.layer(local.kinesisOptions))
      )
      expect(shards.Shards).toHaveLength(3)
      yield* local.createStream("later", 2)

      const open = yield* idleConnection(port)
      const ended = new Promise<void>((resolve) => open.once("close", () => resolve()))
      expect(yield* accepts(port)).toBe(true)
      // Closing must not wait for the idle connection, and must end it.
      yield* Scope.close(scope, Exit.void).pipe(Effect.disconnect, Effect.timeoutFail(stuck("closing the scope")))
      yield* Effect.promise(() => ended).pipe(Effect.timeoutFail(stuck("the idle connection")))
      expect(yield* accepts(port)).toBe(false)
    }))

  it.live("the layer provides the instance and a Kinesis client for it", () =>
    Effect.gen(function* () {
      const local = yield* LocalKinesis
      const kinesis = yield* Kinesis
      yield* local.createStream("more", 1)
      const put = yield* kinesis.putRecord({ StreamName: "more", PartitionKey: "k", Data: new Uint8Array([7]) })
      expect(put.ShardId).toBe("shardId-000000000000")
      const summary = yield* kinesis.describeStreamSummary({ StreamName: "orders" })
      expect(summary.StreamDescriptionSummary?.StreamStatus).toBe("ACTIVE")
    }).pipe(Effect.provide(LocalKinesis.layer({ streams: [{ name: "orders", shardCount: 2 }] }))))

  it.scopedLive("a port in use is an EmulatorStartError", () =>
    Effect.gen(function* () {
      const first = yield* LocalKinesis.start()
      const port = portOf(first.endpoint)
      const error = yield* Effect.flip(LocalKinesis.start({ port }))
      expect(error._tag).toBe("EmulatorStartError")
      expect(error.message).toContain(`127.0.0.1:${port}`)
    }))

  it.effect("importOptional loads a CommonJS package's module.exports", () =>
    Effect.gen(function* () {
      const kinesalite = yield* importOptional<unknown>("kinesalite", "LocalKinesis")
      expect(typeof kinesalite).toBe("function")
    }))

  it.effect("a package that is not installed is a MissingDependency that says what to install", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(importOptional("shardline-no-such-package", "The test feature"))
      expect(error).toBeInstanceOf(MissingDependency)
      expect(error).toMatchObject({ packageName: "shardline-no-such-package", feature: "The test feature" })
      expect(error.message).toContain("npm install --save-dev shardline-no-such-package")
      expect(error.message).toContain("The test feature")
      // A runtime package (a lease store driver) goes to dependencies, not devDependencies.
      const runtime = yield* Effect.flip(importOptional("shardline-no-such-package", "A store", { dev: false }))
      expect(runtime.message).toContain("Install it with: npm install shardline-no-such-package")
    }))
})
