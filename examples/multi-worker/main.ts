/**
 * The multi-worker demo: three worker processes (worker.ts) share an 8-shard stream through one
 * SQLite lease table while this process writes records into it. Halfway through, one worker is
 * killed (SIGKILL) just after it printed a batch, before it could checkpoint it: the others take
 * its shards over once its leases expire, and read that batch again (at-least-once). At the end
 * the others are stopped gracefully (SIGTERM): they checkpoint and release their leases.
 *
 *   npm run example:workers                        (tsx examples/multi-worker/main.ts)
 *   npm run example:workers -- --seconds 20        produce longer (the kill is halfway)
 *   npm run example:workers -- --rate 500          records per second
 *
 * Everything runs locally: kinesalite in this process, the lease table in a temporary folder
 * (deleted at the end, also on Ctrl-C).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Console, Deferred, Effect, Exit, Fiber, Layer, Logger } from "effect"
import { Kinesis, type Lease, LeaseStore, LocalKinesis, onSignal } from "../../src/index.js"
import { parseOptions, runDemo } from "../shared/cli.js"
import type { WorkerEvent } from "./worker.js"

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const { values: args, usage } = parseOptions("usage: npm run example:workers -- [--seconds 12] [--rate 100] [--failover-ms 3000]", {
  seconds: { type: "string", default: "12" },
  rate: { type: "string", default: "100" },
  "failover-ms": { type: "string", default: "3000" }
})
const seconds = Number(args.seconds)
const rate = Number(args.rate)
const failoverMs = Number(args["failover-ms"])
if (!(seconds >= 2) || !(rate > 0) || !Number.isSafeInteger(failoverMs) || failoverMs < 30) usage()

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const workerScript = fileURLToPath(new URL("./worker.ts", import.meta.url))
const streamName = "multi-worker-demo"
const applicationName = "multi-worker-demo"
const scope = { applicationName, streamName }
const workerIds = ["w1", "w2", "w3"] as const
const shardCount = 8
/** Each worker's sink works this long on a batch after printing it, before it is checkpointed. */
const sinkMs = 300

// ---- Worker processes

type Received = WorkerEvent & { readonly at: number }
type BatchEvent = Extract<WorkerEvent, { type: "batch" }> & { readonly at: number }

interface Worker {
  readonly id: string
  readonly child: ChildProcess
  readonly events: Array<Received>
  readonly stderr: () => string
  readonly running: () => boolean
  readonly exited: Deferred.Deferred<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly batches: () => ReadonlyArray<BatchEvent>
}

// A worker ends itself when its stdin (a pipe from here) closes: this process is gone, however it ended.
const exitWithParent = `data:text/javascript,${
  encodeURIComponent(
    "const die = () => process.kill(process.pid, 'SIGKILL');" +
      "process.stdin.on('end', die); process.stdin.on('error', die); process.stdin.resume(); process.stdin.unref?.();"
  )
}`

/** Every worker started, for the exit handler of last resort. */
const children = new Set<ChildProcess>()

const startWorker = (id: string, endpoint: string, store: string) =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<{ code: number | null; signal: NodeJS.Signals | null }>()
    const child = spawn(
      process.execPath,
      [
        "--import", "tsx",
        "--import", exitWithParent,
        workerScript,
        "--endpoint", endpoint,
        "--stream", streamName,
        "--store", store,
        "--worker-id", id,
        "--application", applicationName,
        "--failover-ms", String(failoverMs),
        "--sink-ms", String(sinkMs)
      ],
      // Its own process group: Ctrl-C reaches this process only, which then stops the workers once.
      { cwd: root, stdio: ["pipe", "pipe", "pipe"], detached: true }
    )
    children.add(child)
    const events: Array<Received> = []
    let stderr = ""
    let code: { code: number | null; signal: NodeJS.Signals | null } | undefined
    let stdoutDone = false
    const settle = () => {
      if (code !== undefined && stdoutDone) Deferred.unsafeDone(exited, Exit.succeed(code))
    }
    child.stdin?.on("error", () => {})
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => void (stderr = (stderr + chunk).slice(-4_000)))
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity })
    lines.on("line", (line) => {
      try {
        const event = JSON.parse(line) as WorkerEvent
        if (typeof event === "object" && event !== null && typeof event.type === "string") events.push({ ...event, at: Date.now() })
      } catch {
        // Not an event: ignored.
      }
    })
    lines.once("close", () => {
      stdoutDone = true
      settle()
    })
    child.once("error", (error) => {
      stderr += `\n${error.message}`
      code ??= { code: null, signal: null }
      stdoutDone = true
      settle()
    })
    child.once("exit", (exitCode, signal) => {
      children.delete(child)
      code = { code: exitCode, signal }
      settle()
    })
    const worker: Worker = {
      id,
      child,
      events,
      stderr: () => stderr,
      running: () => code === undefined,
      exited,
      batches: () => events.filter((e): e is BatchEvent => e.type === "batch")
    }
    return worker
  })

/** Stops a worker still running: SIGTERM, then SIGKILL if it is not gone within 5 s. */
const reap = (worker: Worker) =>
  Effect.suspend(() => {
    if (!worker.running()) return Effect.void
    worker.child.kill("SIGTERM")
    return Deferred.await(worker.exited).pipe(
      Effect.timeout("5 seconds"),
      Effect.catchAll(() =>
        Effect.sync(() => worker.child.kill("SIGKILL")).pipe(Effect.zipRight(Deferred.await(worker.exited)), Effect.timeout("2 seconds"))
      ),
      Effect.ignore
    )
  })

const waitUntil = <A>(what: string, check: Effect.Effect<A | undefined, unknown>, timeoutMillis: number, workers: ReadonlyArray<Worker>) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const found = yield* Effect.orDie(check)
      if (found !== undefined) return found
      const dead = workers.find((w) => !w.running() && w.events.every((e) => e.type !== "stopped"))
      if (dead !== undefined) return yield* Effect.dieMessage(`worker ${dead.id} ended unexpectedly while waiting until ${what}:\n${dead.stderr()}`)
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

// ---- Lease table views

const counts = (leases: ReadonlyArray<Lease>) => {
  const byOwner = new Map<string, number>()
  for (const l of leases) if (l.owner !== undefined) byOwner.set(l.owner, (byOwner.get(l.owner) ?? 0) + 1)
  return byOwner
}

/** Leases per owner; `dead` marks a killed worker whose leases have not expired yet. */
const show = (leases: ReadonlyArray<Lease>, dead?: string) => {
  const byOwner = counts(leases)
  const free = leases.filter((l) => l.owner === undefined).length
  const owned = [...byOwner].sort().map(([w, n]) => `${w} ${n}${w === dead ? " (dead, not expired yet)" : ""}`)
  return [...owned, ...(free > 0 ? [`free ${free}`] : [])].join(" · ") || "none"
}

const shortShard = (shardId: string) => String(Number(/(\d+)$/.exec(shardId)?.[1] ?? shardId))

const seconds1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`

// ---- The demo

const encoder = new TextEncoder()

const demo = Effect.gen(function* () {
  const local = yield* LocalKinesis
  const kinesis = yield* Kinesis
  const folder = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "shardline-workers-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const path = join(folder, "leases.db")
  const leaseStore = yield* Layer.build(LeaseStore.layerSqlite({ path }))
  const leases = LeaseStore.pipe(Effect.flatMap((store) => store.list(scope)), Effect.provide(leaseStore))

  const started = Date.now()
  const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`
  yield* Console.log(
    `shardline multi-worker demo: kinesalite at ${local.endpoint}, stream ${streamName} (${shardCount} shards), ` +
      `lease table ${path}\nworkers ${workerIds.join(", ")}: failover ${seconds1(failoverMs)}, 500 ms batches, ` +
      `each sink busy ${sinkMs} ms per batch before its checkpoint`
  )
  const workers = yield* Effect.forEach(workerIds, (id) =>
    Effect.acquireRelease(startWorker(id, local.endpoint, `sqlite:${path}`), reap))

  yield* waitUntil("the workers are ready", Effect.sync(() => workers.every((w) => w.events.some((e) => e.type === "ready")) || undefined), 60_000, workers)
  yield* Console.log(`${t()}  3 worker processes ready`)
  const converged = yield* waitUntil(
    "the leases are spread over the three workers",
    Effect.map(leases, (l) => {
      const c = counts(l)
      return l.length === shardCount && c.size === 3 && [...c.values()].every((n) => n === 2 || n === 3) ? l : undefined
    }),
    30_000,
    workers
  )
  yield* Console.log(`${t()}  leases converged: ${show(converged)}`)

  // Producing: `rate` records per second, 10 calls a second, each value unique.
  const produced: Array<string> = []
  let producing = true
  const producer = yield* Effect.fork(
    Effect.gen(function* () {
      const perTick = Math.max(1, Math.round(rate / 10))
      while (producing) {
        const tickStart = Date.now()
        const values = Array.from({ length: perTick }, (_, i) => `record-${produced.length + i}`)
        const result = yield* kinesis.putRecords({
          StreamName: streamName,
          Records: values.map((value) => ({ PartitionKey: value, Data: encoder.encode(value) }))
        })
        if ((result.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage("PutRecords refused records")
        produced.push(...values)
        yield* Effect.sleep(`${Math.max(0, 100 - (Date.now() - tickStart))} millis`)
      }
    }).pipe(Effect.orDie)
  )
  yield* Console.log(`${t()}  producing ${rate} records/s for ${seconds} s`)

  const consumed = () => new Set(workers.flatMap((w) => w.batches().flatMap((b) => b.records.map((r) => r.value))))
  let killed: string | undefined
  const status = Effect.gen(function* () {
    while (true) {
      yield* Effect.sleep("1 second")
      yield* Console.log(`${t()}  leases ${show(yield* Effect.orDie(leases), killed)}   produced ${produced.length}, consumed ${consumed().size}`)
    }
  })
  const statusFiber = yield* Effect.fork(status)

  const produceStart = Date.now()
  yield* Effect.sleep(`${Math.round((seconds * 1000) / 2)} millis`)

  // The kill: the worker holding the most leases, right after it printed a batch (its sink is
  // still busy with it, so it is not checkpointed).
  const beforeKill = yield* Effect.orDie(leases)
  const byOwner = counts(beforeKill)
  const victim = [...workers].sort((a, b) => (byOwner.get(b.id) ?? 0) - (byOwner.get(a.id) ?? 0))[0]!
  const victimShards = beforeKill.filter((l) => l.owner === victim.id).map((l) => l.shardId)
  const seenBatches = victim.batches().length
  const inSink = yield* waitUntil("the victim prints a batch", Effect.sync(() => victim.batches()[seenBatches]), 10_000, workers)
  victim.child.kill("SIGKILL")
  const killedAt = Date.now()
  killed = victim.id
  yield* Console.log(
    `${t()}  SIGKILL ${victim.id} (leases on shards ${victimShards.map(shortShard).join(", ")}) ` +
      `${killedAt - inSink.at} ms after it printed batch ${inSink.batchId} (${inSink.records.length} records), before its checkpoint`
  )
  const takeover = yield* Effect.fork(
    waitUntil(
      `${victim.id}'s leases are taken over`,
      Effect.map(leases, (l) => (l.some((lease) => lease.owner === victim.id) ? undefined : { at: Date.now(), leases: l })),
      failoverMs * 4,
      workers.filter((w) => w !== victim)
    )
  )
  const taken = yield* Fiber.join(takeover)
  yield* Console.log(`${t()}  ${victim.id}'s leases taken over ${seconds1(taken.at - killedAt)} after the kill: ${show(taken.leases)}`)

  yield* Effect.sleep(`${Math.max(0, produceStart + seconds * 1000 - Date.now())} millis`)
  producing = false
  yield* Fiber.join(producer)
  yield* Console.log(`${t()}  stopped producing after ${produced.length} records; waiting for the workers to read them all`)
  const survivors = workers.filter((w) => w !== victim)
  yield* waitUntil("every record is consumed", Effect.sync(() => (produced.every((v) => consumed().has(v)) ? true : undefined)), 30_000, survivors)
  const beforeStop = yield* Effect.orDie(leases)
  yield* Fiber.interrupt(statusFiber)

  const stopAt = Date.now()
  for (const w of survivors) w.child.kill("SIGTERM")
  yield* Console.log(`${t()}  SIGTERM ${survivors.map((w) => w.id).join(", ")}`)
  // A graceful stop checkpoints and releases every lease before the process exits.
  const exits = yield* Effect.forEach(survivors, (w) =>
    Deferred.await(w.exited).pipe(
      Effect.map((e) => ({ worker: w.id, at: Date.now(), ...e })),
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`${w.id} did not stop within 20 s`) })
    ))
  const stoppedIn = Math.max(...exits.map((e) => e.at)) - stopAt
  const afterStop = yield* Effect.orDie(leases)
  const stillOwned = afterStop.filter((l) => l.owner !== undefined)
  yield* Console.log(
    `${t()}  ${exits.map((e) => `${e.worker} exited ${e.code ?? e.signal}`).join(", ")} ${stoppedIn} ms after SIGTERM; ` +
      (stillOwned.length === 0
        ? "every lease released"
        : `NOT released: ${stillOwned.map((l) => `${shortShard(l.shardId)} (${l.owner})`).join(", ")}`)
  )

  // ---- The report
  const deliveries = workers.flatMap((w) =>
    w.batches().flatMap((b) =>
      b.records.map((r) => ({ worker: w.id, batchId: b.batchId, at: b.at, shardId: r.shardId, value: r.value, token: b.tokens[r.shardId] ?? 0 }))
    )
  )
  type Delivery = (typeof deliveries)[number]
  const distinct = new Set(deliveries.map((d) => d.value))
  const byValue = new Map<string, Array<Delivery>>()
  for (const d of deliveries) byValue.set(d.value, [...(byValue.get(d.value) ?? []), d])
  // Each record delivered more than once, its deliveries in the order they were printed.
  const duplicates = [...byValue.values()].filter((ds) => ds.length > 1).map((ds) => [...ds].sort((a, b) => a.at - b.at))
  const lastBatch = victim.batches().at(-1)
  const isLastBatch = (d: Delivery) => d.worker === victim.id && d.batchId === lastBatch?.batchId
  const fromLastBatch = duplicates.every((ds) => isLastBatch(ds[0]!) && ds.length === 2)
  // Every later delivery holds a higher fencing token (lease counter) than the one before.
  const higherTokens = duplicates.every((ds) => ds.every((d, i) => i === 0 || d.token > ds[i - 1]!.token))
  const missing = produced.filter((v) => !distinct.has(v))

  // Where the duplicates came from: the batch first delivering them, and who delivered them again.
  const sources = new Map<string, { first: Delivery; count: number; again: Map<string, number> }>()
  for (const ds of duplicates) {
    const first = ds[0]!
    const key = `${first.worker}/${first.batchId}`
    const source = sources.get(key) ?? { first, count: 0, again: new Map<string, number>() }
    source.count++
    for (const d of ds.slice(1)) source.again.set(d.worker, (source.again.get(d.worker) ?? 0) + 1)
    sources.set(key, source)
  }
  const why = (first: Delivery) => {
    if (isLastBatch(first)) return "printed, then killed before its checkpoint"
    const lost = workers.find((w) => w.id === first.worker)?.events.some((e) => e.type === "lease" && e.event === "lost" && e.at >= first.at)
    return lost === true ? "printed, then its lease was lost (taken by another worker) before the checkpoint" : "printed, not checkpointed"
  }
  const sourceLines = [...sources.values()].slice(0, 8).map(({ again, count, first }) =>
    `      ${first.worker} batch ${first.batchId} (${count} of them; ${why(first)}) -> again by ` +
    [...again].sort().map(([w, n]) => `${w} (${n})`).join(", ")
  )

  const lines = [
    "",
    "report",
    "  leases per worker",
    `    after convergence     ${show(converged)}`,
    `    just before the kill  ${show(beforeKill)}`,
    `    after the takeover    ${show(taken.leases)}  (${victim.id} killed; its leases moved ${seconds1(taken.at - killedAt)} after the kill: ` +
      `they expire ${seconds1(failoverMs)} after their last renewal, and are renewed every ${seconds1(failoverMs / 3)})`,
    `    before the stop       ${show(beforeStop)}`,
    `    after SIGTERM         ${show(afterStop)}  (the workers exited ${stoppedIn} ms after the signal)`,
    "  records",
    `    produced ${produced.length}, distinct consumed ${distinct.size}${missing.length === 0 && distinct.size === produced.length ? " (equal: none lost)" : ` (MISSING ${missing.length})`}, ` +
      `delivered ${deliveries.length} times in all`,
    ...workers.map((w) => {
      const mine = deliveries.filter((d) => d.worker === w.id)
      return `    ${w.id}: ${w.batches().length} batches, ${mine.length} records${w === victim ? " (killed)" : ""}`
    }),
    "  duplicates",
    duplicates.length === 0
      ? "    none: the kill landed between a checkpoint and the next batch"
      : `    ${duplicates.length} records delivered twice: ` +
        `${!fromLastBatch ? "NOT only from" : duplicates.length === lastBatch?.records.length ? "exactly" : "all from"} ` +
        `${victim.id}'s last batch ${lastBatch?.batchId} (${lastBatch?.records.length} records on shards ` +
        `${[...new Set(lastBatch?.records.map((r) => shortShard(r.shardId)))].sort().join(", ")}),\n    read again from the last ` +
        `checkpoint by the new owners, ${higherTokens ? "each with a higher fencing token" : "NOT all with higher fencing tokens"}:`,
    ...sourceLines,
    ...(sources.size > sourceLines.length ? [`      ... and ${sources.size - sourceLines.length} more batches`] : [])
  ]
  yield* Console.log(lines.join("\n"))
  return missing.length === 0 && distinct.size === produced.length && fromLastBatch && higherTokens &&
    stillOwned.length === 0 && exits.every((e) => e.code === 0)
})

// Logs to stderr, so the demo's own lines stay readable.
const logger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

// Last resort: whatever happens, no worker outlives this process.
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})

const program = Effect.raceFirst(
  Effect.scoped(demo).pipe(Effect.map((ok) => (ok ? 0 : 1))),
  Effect.as(Effect.zipRight(onSignal(), Console.error("\ninterrupted: stopping the workers and cleaning up")), 130)
).pipe(
  Effect.provide(LocalKinesis.layer({ streams: [{ name: streamName, shardCount }] })),
  Effect.provide(logger)
)

runDemo(program)
