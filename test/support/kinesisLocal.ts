import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Context, Data, Deferred, Duration, Effect, Exit, Layer, Schedule, type Scope } from "effect"
import { Kinesis, type KinesisOptions } from "../../src/kinesis/index.js"

/** kinesis-local did not come up: it could not be spawned, it exited, or it never answered. */
export class KinesisLocalStartError extends Data.TaggedError("KinesisLocalStartError")<{
  readonly reason: string
  /** The tail of what the process wrote (stdout and stderr interleaved). */
  readonly output: string
  readonly cause?: unknown
}> {
  override get message() {
    const output = this.output ? `\n--- its output (tail) ---\n${this.output}` : ""
    return `kinesis-local did not start: ${this.reason}${output}`
  }
}

/** A running kinesis-local process and how to reach it. */
export interface KinesisLocalInstance {
  /** e.g. `http://127.0.0.1:45123` (plain HTTP; the SDK then uses an HTTP/1.1 handler). */
  readonly endpoint: string
  readonly pid: number
  /** Options for `Kinesis.layer` / `Kinesis.make` that reach this process. */
  readonly kinesisOptions: KinesisOptions
  /** The last few KB the process wrote, for failure messages. */
  readonly output: () => string
}

export interface KinesisLocalOptions {
  /** How long to wait for the process to answer HTTP (default 20 s; it needs about 0.6 s). */
  readonly startTimeout?: Duration.DurationInput
  /** Further kinesis-mock settings, e.g. `{ SPLIT_SHARD_DURATION: "500ms" }`. */
  readonly env?: Readonly<Record<string, string>>
}

const region = "us-east-1"
const credentials = { accessKeyId: "shardline-local", secretAccessKey: "shardline-local" } as const
const OUTPUT_TAIL_CHARS = 8_000

// Asynchronous operations finish after these; small, so resharding tests still see UPDATING
// briefly (and must wait for ACTIVE, as against Kinesis) without slowing the suite.
const settings = {
  LOG_LEVEL: "ERROR",
  AWS_REGION: region,
  CREATE_STREAM_DURATION: "10ms",
  DELETE_STREAM_DURATION: "10ms",
  SPLIT_SHARD_DURATION: "10ms",
  MERGE_SHARDS_DURATION: "10ms",
  UPDATE_SHARD_COUNT_DURATION: "10ms",
  UPDATE_STREAM_MODE_DURATION: "10ms",
  REGISTER_STREAM_CONSUMER_DURATION: "10ms",
  DEREGISTER_STREAM_CONSUMER_DURATION: "10ms",
  START_STREAM_ENCRYPTION_DURATION: "10ms",
  STOP_STREAM_ENCRYPTION_DURATION: "10ms",
  // The default of 50 open shards is too few for a suite that makes a stream per test.
  SHARD_LIMIT: "100000",
  SHOULD_PERSIST_DATA: "false",
  LOAD_DATA_IF_EXISTS: "false"
} as const

// kinesis-mock ignores SIGTERM, and a worker that dies without running finalizers would leave it
// running. This preload ends the process as soon as its stdin (a pipe from this process) closes,
// which happens however this process ends, SIGKILL included.
const exitWithParent = `data:text/javascript,${
  encodeURIComponent(
    "const die = () => process.kill(process.pid, 'SIGKILL');" +
      "process.stdin.on('end', die); process.stdin.on('error', die); process.stdin.resume();"
  )
}`

/** The directory of the installed kinesis-local package (its `main.js` and `server.json`). */
const packageDir = Effect.try({
  try: () => dirname(createRequire(import.meta.url).resolve("kinesis-local/package.json")),
  catch: (cause) =>
    new KinesisLocalStartError({ reason: "the kinesis-local package is not installed", output: "", cause })
})

/** `count` distinct ports free on every interface (kinesis-mock binds all of them), held until all are found. */
const freePorts = (count: number) =>
  Effect.async<ReadonlyArray<number>, KinesisLocalStartError>((resume) => {
    const servers: Array<net.Server> = []
    const ports: Array<number> = []
    const closeAll = (then: () => void) => {
      let open = servers.length
      if (open === 0) return then()
      for (const server of servers) server.close(() => --open === 0 && then())
    }
    const next = () => {
      if (ports.length === count) return closeAll(() => resume(Effect.succeed(ports)))
      const server = net.createServer()
      server.once("error", (cause) =>
        closeAll(() =>
          resume(Effect.fail(new KinesisLocalStartError({ reason: "no free port found", output: "", cause })))
        ))
      server.listen(0, () => {
        servers.push(server)
        ports.push((server.address() as net.AddressInfo).port)
        next()
      })
    }
    next()
  })

interface Running {
  readonly child: ChildProcess
  readonly exited: Deferred.Deferred<string>
  readonly output: () => string
}

const spawnProcess = (dir: string, plainPort: number, tlsPort: number, extra: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<string>()
    let output = ""
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS)
    }
    const child = spawn(process.execPath, ["--import", exitWithParent, join(dir, "main.js")], {
      cwd: tmpdir(),
      // Nothing from this process's environment (NODE_OPTIONS, AWS_*) leaks into the emulator.
      env: {
        PATH: process.env.PATH ?? "",
        ...settings,
        ...extra,
        KINESIS_MOCK_CERT_PATH: join(dir, "server.json"),
        KINESIS_MOCK_PLAIN_PORT: String(plainPort),
        KINESIS_MOCK_TLS_PORT: String(tlsPort)
      },
      stdio: ["pipe", "pipe", "pipe"]
    })
    // Read both pipes so the process never blocks on a full one; keep only the tail.
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    child.stdin?.on("error", () => {})
    const ended = (how: string) => Deferred.unsafeDone(exited, Exit.succeed(how))
    child.once("error", (cause) => ended(`could not be spawned (${cause.message})`))
    child.once("exit", (code, signal) => ended(signal === null ? `exited with code ${code}` : `was killed by ${signal}`))
    return { child, exited, output: () => output } satisfies Running
  })

/** SIGKILL (it ignores SIGTERM) and wait, bounded, for the exit to be reported. */
const kill = ({ child, exited }: Running) =>
  Effect.suspend(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    return Deferred.await(exited).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  })

/** One HTTP request; any status means the server answers. */
const answers = (port: number) =>
  Effect.async<boolean>((resume) => {
    const request = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent: false }, (response) => {
      response.resume()
      resume(Effect.succeed(true))
    })
    request.once("error", () => resume(Effect.succeed(false)))
    request.setTimeout(1_000, () => request.destroy())
    request.end()
    return Effect.sync(() => request.destroy())
  })

const awaitAnswer = (running: Running, port: number, timeout: Duration.DurationInput) => {
  const fail = (reason: string) => new KinesisLocalStartError({ reason, output: running.output() })
  const polled = answers(port).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (up) => up })
  )
  const died = Effect.flatMap(Deferred.await(running.exited), (how) => Effect.fail(fail(`the process ${how}`)))
  return Effect.raceFirst(polled, died).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => fail(`nothing answered on 127.0.0.1:${port} in ${Duration.format(Duration.decode(timeout))}`)
    })
  )
}

const attempt = (dir: string, options: KinesisLocalOptions) =>
  Effect.gen(function* () {
    const [plainPort, tlsPort] = (yield* freePorts(2)) as [number, number]
    // Spawned uninterruptibly with its finalizer registered, so every way out of the scope kills it.
    const running = yield* Effect.acquireRelease(spawnProcess(dir, plainPort, tlsPort, options.env ?? {}), kill)
    yield* awaitAnswer(running, plainPort, options.startTimeout ?? "20 seconds")
    return { running, plainPort }
  })

const start = (
  options: KinesisLocalOptions = {}
): Effect.Effect<KinesisLocalInstance, KinesisLocalStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* packageDir
    // A port found free can be taken by another process before the emulator binds it: try new ones.
    const { plainPort, running } = yield* attempt(dir, options).pipe(
      Effect.retry({ times: 2, while: (error) => error.output.includes("EADDRINUSE") })
    )
    const endpoint = `http://127.0.0.1:${plainPort}`
    return {
      endpoint,
      pid: running.child.pid ?? -1,
      kinesisOptions: { endpoint, region, credentials },
      output: running.output
    }
  })

/**
 * kinesis-local (kinesis-mock packaged as one JS file) in its own process on free ports, for tests
 * that need what kinesalite lacks (ChildShards, MillisBehindLatest, SubscribeToShard). Closing the
 * scope SIGKILLs it; so does the end of this process, however it ends.
 */
export class KinesisLocal extends Context.Tag("shardline/test/KinesisLocal")<KinesisLocal, KinesisLocalInstance>() {
  /** Starts the process in the scope and waits until it answers HTTP. */
  static readonly start = start

  /** The running process and a `Kinesis` client pointed at it. */
  static readonly layer = (
    options: KinesisLocalOptions = {}
  ): Layer.Layer<KinesisLocal | Kinesis, KinesisLocalStartError> =>
    Layer.scopedContext(
      Effect.gen(function* () {
        const instance = yield* start(options)
        const api = yield* Kinesis.make(instance.kinesisOptions)
        return Context.make(KinesisLocal, instance).pipe(Context.add(Kinesis, api))
      })
    )
}
