import { Context, Data, Effect, Layer, Schedule, type Scope } from "effect"
import { type ListeningServer, listenServer } from "../internal/listenServer.js"
import { importOptional, type MissingDependency } from "../internal/optionalDependency.js"
import {
  Kinesis,
  type KinesisApi,
  type KinesisError,
  type KinesisOptions,
  KinesisResourceNotFound
} from "../kinesis/index.js"

/** The emulator could not start, e.g. its port is taken. */
export class EmulatorStartError extends Data.TaggedError("EmulatorStartError")<{
  readonly emulator: string
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message() {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `Could not start ${this.emulator} on ${this.host}:${this.port}${detail}`
  }
}

/** A stream to create when the emulator starts. */
export interface LocalStream {
  readonly name: string
  readonly shardCount: number
}

/** Where the emulator listens and what it holds from the start. */
export interface LocalKinesisOptions {
  /** Streams created (and ACTIVE) before `start` returns. */
  readonly streams?: ReadonlyArray<LocalStream>
  /** 0, the default, picks a free port. */
  readonly port?: number
  /** Defaults to `127.0.0.1`. */
  readonly host?: string
}

/** A running emulator and how to reach it. */
export interface LocalKinesisInstance {
  /** e.g. `http://127.0.0.1:45123`. */
  readonly endpoint: string
  readonly region: string
  /** Dummy credentials: the emulator checks that requests are signed, not by whom. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** Options for `Kinesis.layer` / `Kinesis.make` that reach this emulator over HTTP/1.1. */
  readonly kinesisOptions: KinesisOptions
  /** Creates a stream and waits until it is ACTIVE. */
  readonly createStream: (name: string, shardCount: number) => Effect.Effect<void, KinesisError>
}

/** Everything starting the emulator can fail with. */
export type LocalKinesisError = MissingDependency | EmulatorStartError | KinesisError

type Kinesalite = typeof import("kinesalite")

type Running = ListeningServer

const region = "us-east-1"
/** Dummy credentials for an emulator: it checks that requests are signed, not by whom. */
export const emulatorCredentials = { accessKeyId: "shardline-local", secretAccessKey: "shardline-local" } as const
const credentials = emulatorCredentials

// Polls every 10 ms for up to 5 s; kinesalite with createStreamMs 0 is ACTIVE within a tick or two.
const activePolls = Schedule.intersect(Schedule.spaced("10 millis"), Schedule.recurs(500))

const listen = (kinesalite: Kinesalite, host: string, port: number): Effect.Effect<Running, EmulatorStartError> =>
  listenServer(
    () => kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100_000 }),
    host,
    port,
    (cause) => new EmulatorStartError({ emulator: "kinesalite", host, port, cause })
  )

const endpointOf = (host: string, port: number): string => {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`
}

/** Waits, on Effect's `Clock`, until DescribeStreamSummary says ACTIVE; bounded to about 5 s. */
const awaitActive = (api: KinesisApi, streamName: string): Effect.Effect<void, KinesisError> =>
  api.describeStreamSummary({ StreamName: streamName }).pipe(
    Effect.flatMap((out) => {
      const status = out.StreamDescriptionSummary?.StreamStatus
      return status === "ACTIVE" ? Effect.void : Effect.fail(
        new KinesisResourceNotFound({
          operation: "DescribeStreamSummary",
          streamName,
          cause: new Error(`stream is ${status ?? "in an unknown state"}, not ACTIVE`)
        })
      )
    }),
    Effect.retry({ schedule: activePolls, while: (error) => error._tag === "KinesisResourceNotFound" })
  )

interface Started {
  readonly instance: LocalKinesisInstance
  /** The client `start` used, reused by the layer as its `Kinesis`. */
  readonly api: KinesisApi
}

const startWithClient = (options: LocalKinesisOptions): Effect.Effect<Started, LocalKinesisError, Scope.Scope> =>
  Effect.gen(function* () {
    const kinesalite = yield* importOptional<Kinesalite>("kinesalite", "LocalKinesis")
    const host = options.host ?? "127.0.0.1"
    const running = yield* Effect.acquireRelease(listen(kinesalite, host, options.port ?? 0), (r) => r.stop)
    const endpoint = endpointOf(host, running.port)
    const kinesisOptions: KinesisOptions = { region, endpoint, credentials }
    const api = yield* Kinesis.make(kinesisOptions)
    const createStream = (name: string, shardCount: number): Effect.Effect<void, KinesisError> =>
      Effect.zipRight(api.createStream({ StreamName: name, ShardCount: shardCount }), awaitActive(api, name))
    yield* Effect.forEach(options.streams ?? [], (s) => createStream(s.name, s.shardCount), { discard: true })
    const instance: LocalKinesisInstance = { endpoint, region, credentials, kinesisOptions, createStream }
    return { instance, api }
  })

/**
 * An embedded Kinesis emulator (kinesalite, in this process, in memory) for local runs and
 * integration tests. Needs the optional package `kinesalite` (`npm install --save-dev kinesalite`).
 * Stream creation is awaited by polling on Effect's `Clock`, so start it under the live clock.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const kinesis = yield* Kinesis
 *   yield* kinesis.putRecord({ StreamName: "clicks", PartitionKey: "u1", Data: new Uint8Array([1]) })
 * }).pipe(Effect.provide(LocalKinesis.layer({ streams: [{ name: "clicks", shardCount: 2 }] })))
 * ```
 */
export class LocalKinesis extends Context.Tag("shardline/LocalKinesis")<LocalKinesis, LocalKinesisInstance>() {
  /**
   * Starts the emulator in the scope and creates `options.streams`; closing the scope stops it
   * (open connections are destroyed, so closing never waits on a client).
   *
   * @example
   * ```ts
   * const local = yield* LocalKinesis.start({ streams: [{ name: "clicks", shardCount: 4 }] })
   * const layer = Kinesis.layer(local.kinesisOptions)
   * ```
   */
  static readonly start = (
    options: LocalKinesisOptions = {}
  ): Effect.Effect<LocalKinesisInstance, LocalKinesisError, Scope.Scope> =>
    Effect.map(startWithClient(options), ({ instance }) => instance)

  /** A layer with the running emulator and a `Kinesis` client pointed at it (HTTP/1.1). */
  static readonly layer = (
    options: LocalKinesisOptions = {}
  ): Layer.Layer<LocalKinesis | Kinesis, LocalKinesisError> =>
    Layer.scopedContext(
      Effect.map(startWithClient(options), ({ api, instance }) =>
        Context.make(LocalKinesis, instance).pipe(Context.add(Kinesis, api)))
    )
}
