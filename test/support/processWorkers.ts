/**
 * Workers as real OS processes: each runs examples/multi-worker/worker.ts under tsx and prints one
 * JSON line per event, which is parsed and kept here. A worker is spawned in a scope whose
 * finalizer SIGKILLs it if it still runs, so no test leaves a process behind; a worker also dies
 * on its own when this process ends, however it ends (its stdin, a pipe from here, closes).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { Deferred, Effect, Exit, type Scope } from "effect"
import type { SeenRecord, WorkerEvent } from "../../examples/multi-worker/worker.js"

export type { SeenRecord, WorkerEvent }

const root = join(import.meta.dirname, "..", "..")
const workerScript = join("examples", "multi-worker", "worker.ts")
const STDERR_TAIL_CHARS = 8_000

// Ends the worker when its stdin (a pipe from this process) closes: this process exited or was
// killed. unref: the pipe alone does not keep the worker alive.
const exitWithParent = `data:text/javascript,${
  encodeURIComponent(
    "const die = () => process.kill(process.pid, 'SIGKILL');" +
      "process.stdin.on('end', die); process.stdin.on('error', die); process.stdin.resume(); process.stdin.unref?.();"
  )
}`

/** How to start one worker; see worker.ts for the meaning of each. */
export interface WorkerProcessOptions {
  readonly workerId: string
  readonly endpoint: string
  readonly stream: string
  /** `sqlite:<path>` or `dynamodb:<endpoint>#<table>`. */
  readonly store: string
  readonly application?: string
  readonly failoverMs?: number
  readonly batchMs?: number
  /** Sink work after a batch is printed, before it is checkpointed. */
  readonly sinkMs?: number
}

/** An event with when it arrived here (Date.now()). */
export type Received = WorkerEvent & { readonly at: number }
export type BatchEvent = Extract<WorkerEvent, { type: "batch" }> & { readonly at: number }
export type LeaseEvent = Extract<WorkerEvent, { type: "lease" }> & { readonly at: number }

/** How a worker process ended. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly at: number
}

export interface WorkerProcess {
  readonly id: string
  readonly pid: number
  /** Every event so far, in the order printed. */
  readonly events: ReadonlyArray<Received>
  readonly batches: () => ReadonlyArray<BatchEvent>
  readonly leaseEvents: () => ReadonlyArray<LeaseEvent>
  /** Lines on stdout that were not events (e.g. stray console.log output). */
  readonly noise: ReadonlyArray<string>
  /** The tail of stderr. */
  readonly stderr: () => string
  readonly running: () => boolean
  /** Completes when the process has exited (and its stdout was read to the end). */
  readonly exited: Effect.Effect<Ended>
  /** Sends a signal (no-op once exited); answers when it was sent. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<number>
  /**
   * Waits until `find` answers something for the events so far (checked every `everyMillis`,
   * default 20); dies after `timeoutMillis` (default 20 s) or if the process ends first.
   */
  readonly waitFor: <A>(
    what: string,
    find: (events: ReadonlyArray<Received>) => A | undefined,
    timeoutMillis?: number,
    everyMillis?: number
  ) => Effect.Effect<A>
  /** The shards this worker holds by its own account: acquired and not lost, ended or stopped since. */
  readonly held: () => ReadonlySet<string>
  /** Everything known about the process, for failure messages. */
  readonly describe: () => string
}

const isEvent = (value: unknown): value is WorkerEvent =>
  typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string"

/** Spawns one worker in the scope; closing the scope SIGKILLs it if it still runs and waits for its exit. */
export const spawnWorker = (options: WorkerProcessOptions): Effect.Effect<WorkerProcess, never, Scope.Scope> =>
  Effect.acquireRelease(start(options), (worker) =>
    Effect.zipRight(worker.signal("SIGKILL"), worker.exited.pipe(Effect.timeout("5 seconds"), Effect.ignore)))

const start = (options: WorkerProcessOptions) =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<Ended>()
    const args = [
      "--import",
      "tsx",
      "--import",
      exitWithParent,
      workerScript,
      "--endpoint",
      options.endpoint,
      "--stream",
      options.stream,
      "--store",
      options.store,
      "--worker-id",
      options.workerId,
      ...(options.application === undefined ? [] : ["--application", options.application]),
      ...(options.failoverMs === undefined ? [] : ["--failover-ms", String(options.failoverMs)]),
      ...(options.batchMs === undefined ? [] : ["--batch-ms", String(options.batchMs)]),
      ...(options.sinkMs === undefined ? [] : ["--sink-ms", String(options.sinkMs)])
    ]
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    const events: Array<Received> = []
    const noise: Array<string> = []
    let stderr = ""
    let stdoutClosed = false
    let exit: Omit<Ended, "at"> | undefined
    let exitedAt = 0
    const settle = () => {
      if (exit !== undefined && stdoutClosed) Deferred.unsafeDone(exited, Exit.succeed({ ...exit, at: exitedAt }))
    }
    child.stdin?.on("error", () => {})
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS)
    })
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity })
    lines.on("line", (line) => {
      const at = Date.now()
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        noise.push(line)
        return
      }
      if (isEvent(parsed)) events.push({ ...parsed, at } as Received)
      else noise.push(line)
    })
    lines.once("close", () => {
      stdoutClosed = true
      settle()
    })
    child.once("error", (cause) => {
      stderr += `\n(spawn failed: ${cause.message})`
      exit ??= { code: null, signal: null }
      exitedAt ||= Date.now()
      stdoutClosed = true
      settle()
    })
    child.once("exit", (code, signal) => {
      exit = { code, signal }
      exitedAt = Date.now()
      settle()
    })

    const running = () => exit === undefined
    const describe = () =>
      `worker ${options.workerId} (pid ${child.pid}, ${exit === undefined ? "running" : `exited: code ${exit.code}, signal ${exit.signal}`}); ` +
      `${events.length} events; stderr tail:\n${stderr.slice(-3_000)}${noise.length > 0 ? `\nother stdout lines (last 5):\n${noise.slice(-5).join("\n")}` : ""}`

    const waitFor = <A>(
      what: string,
      find: (events: ReadonlyArray<Received>) => A | undefined,
      timeoutMillis = 20_000,
      everyMillis = 20
    ): Effect.Effect<A> =>
      Effect.gen(function* () {
        const deadline = Date.now() + timeoutMillis
        while (true) {
          const found = find(events)
          if (found !== undefined) return found
          if (!running()) return yield* Effect.dieMessage(`${options.workerId} ended before ${what}: ${describe()}`)
          if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}: ${describe()}`)
          yield* Effect.sleep(`${everyMillis} millis`)
        }
      })

    const held = () => {
      const shards = new Set<string>()
      for (const e of events) {
        if (e.type !== "lease" || e.shardId === undefined) continue
        if (e.event === "acquired") shards.add(e.shardId)
        else shards.delete(e.shardId)
      }
      if (events.some((e) => e.type === "stopped")) shards.clear()
      return shards
    }

    const worker: WorkerProcess = {
      id: options.workerId,
      pid: child.pid ?? -1,
      events,
      batches: () => events.filter((e): e is BatchEvent => e.type === "batch"),
      leaseEvents: () => events.filter((e): e is LeaseEvent => e.type === "lease"),
      noise,
      stderr: () => stderr,
      running,
      exited: Deferred.await(exited),
      signal: (signal) =>
        Effect.sync(() => {
          const at = Date.now()
          if (running()) child.kill(signal)
          return at
        }),
      waitFor,
      held,
      describe
    }
    return worker
  })

/** Spawns several workers at once (in the scope). */
export const spawnWorkers = (ids: ReadonlyArray<string>, options: Omit<WorkerProcessOptions, "workerId">) =>
  Effect.forEach(ids, (workerId) => spawnWorker({ ...options, workerId }))

/** Waits until every worker printed `ready`. */
export const awaitReady = (workers: ReadonlyArray<WorkerProcess>, timeoutMillis = 30_000) =>
  Effect.forEach(workers, (w) => w.waitFor("it is ready", (events) => events.find((e) => e.type === "ready"), timeoutMillis), {
    concurrency: "unbounded",
    discard: true
  })

/** Sends SIGTERM and waits for the exit; dies unless it exited with code 0 after printing `stopped`. */
export const stopGracefully = (worker: WorkerProcess, timeoutMillis = 15_000) =>
  Effect.gen(function* () {
    yield* worker.signal("SIGTERM")
    const ended = yield* worker.exited.pipe(
      Effect.timeoutFail({ duration: timeoutMillis, onTimeout: () => new Error(`${worker.id} did not stop: ${worker.describe()}`) }),
      Effect.orDie
    )
    if (ended.code !== 0 || !worker.events.some((e) => e.type === "stopped")) {
      return yield* Effect.dieMessage(`${worker.id} did not stop gracefully: ${worker.describe()}`)
    }
    return ended
  })

/** Every record delivered by any of the workers, with who delivered it in which batch. */
export interface Delivery extends SeenRecord {
  readonly worker: string
  readonly batchId: number
  readonly token: number | undefined
  readonly at: number
}

export const deliveries = (workers: ReadonlyArray<WorkerProcess>): ReadonlyArray<Delivery> =>
  workers.flatMap((w) =>
    w.batches().flatMap((b) =>
      b.records.map((r) => ({ ...r, worker: w.id, batchId: b.batchId, token: b.tokens[r.shardId], at: b.at }))
    )
  )
