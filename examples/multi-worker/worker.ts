/**
 * One worker process of a leased pipeline: it shares a stream's shards with every other worker of
 * the same application through a lease table, and prints one JSON line per event on stdout.
 *
 *   tsx examples/multi-worker/worker.ts --endpoint http://127.0.0.1:4567 --stream clicks \
 *     --store sqlite:/tmp/leases.db --worker-id w1
 *   tsx examples/multi-worker/worker.ts --endpoint http://127.0.0.1:4567 --stream clicks \
 *     --store dynamodb:http://127.0.0.1:4568#leases --worker-id w2 --failover-ms 3000
 *
 * Start it as often as you like, with the same --stream, --store and --application: the workers
 * split the shards between them, and take over a dead worker's shards after --failover-ms.
 * SIGTERM or SIGINT stops a worker gracefully: the batch in flight is finished and checkpointed,
 * then its leases are released, so the others take them over at once.
 *
 * --sink-ms N (default 0) makes the sink work N ms after printing a batch, before the batch is
 * checkpointed, as a sink writing to a database would: a worker killed meanwhile has delivered
 * the batch without checkpointing it, so the next owner of its shards delivers it again
 * (at-least-once).
 *
 * The lines (one JSON object each):
 *   {"type":"ready","worker":...}
 *   {"type":"batch","worker":...,"batchId":0,"records":[{shardId,sequenceNumber,partitionKey,value}],"tokens":{shardId:counter}}
 *   {"type":"lease","worker":...,"event":"acquired"|"lost"|"ended"|"shutdown","shardId"?,"counter"?,"reason"?,"held"?}
 *   {"type":"stopped","worker":...,"summary":{batches,records,shardsEnded}}
 * Exit code 0 after a graceful stop; 1, with the reason on stderr, on failure.
 */
import { parseArgs } from "node:util"
import { Duration, Effect, Fiber, Layer, Logger } from "effect"
import {
  type Batch,
  Codec,
  Kinesis,
  type LeaseLossReason,
  LeaseStore,
  onSignal,
  Pipeline,
  type PipelineSummary
} from "../../src/index.js"

// The AWS SDK warns about Node 20 on every start; this process's output is its events.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

/** One record as the sink saw it. */
export interface SeenRecord {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly value: string
}

/** What a worker prints, one JSON object per line. */
export type WorkerEvent =
  | { readonly type: "ready"; readonly worker: string; readonly pid: number }
  | {
    readonly type: "batch"
    readonly worker: string
    readonly batchId: number
    readonly records: ReadonlyArray<SeenRecord>
    /** The fencing token (lease counter) held for each shard of the batch. */
    readonly tokens: Readonly<Record<string, number>>
  }
  | {
    readonly type: "lease"
    readonly worker: string
    readonly event: "acquired" | "lost" | "ended" | "shutdown"
    readonly shardId?: string
    readonly counter?: number
    readonly reason?: string
    /** On `shutdown`: the leases held when the stop began. */
    readonly held?: ReadonlyArray<string>
  }
  | { readonly type: "stopped"; readonly worker: string; readonly summary: PipelineSummary }

/** Where the leases live: a SQLite file or a DynamoDB table. */
export type StoreSpec =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "dynamodb"; readonly endpoint: string; readonly tableName: string }

/** `sqlite:<path>` or `dynamodb:<endpoint>#<table>`; a message naming what is wrong otherwise. */
export const parseStore = (text: string): StoreSpec | string => {
  if (text.startsWith("sqlite:")) {
    const path = text.slice("sqlite:".length)
    return path === "" ? "--store sqlite:<path> needs a path" : { kind: "sqlite", path }
  }
  if (text.startsWith("dynamodb:")) {
    const rest = text.slice("dynamodb:".length)
    const hash = rest.lastIndexOf("#")
    if (hash <= 0 || hash === rest.length - 1) return "--store dynamodb:<endpoint>#<table> needs an endpoint and a table"
    return { kind: "dynamodb", endpoint: rest.slice(0, hash), tableName: rest.slice(hash + 1) }
  }
  return `--store ${JSON.stringify(text)}: expected sqlite:<path> or dynamodb:<endpoint>#<table>`
}

const region = "us-east-1"
// The local emulators check that requests are signed, not by whom.
const credentials = { accessKeyId: "local", secretAccessKey: "local" }

const fail = (message: string): never => {
  process.stderr.write(`worker: ${message}\n`)
  process.exit(1)
}

const usage =
  "usage: worker.ts --endpoint URL --stream NAME --store sqlite:<path>|dynamodb:<endpoint>#<table> " +
  "--worker-id ID [--failover-ms 10000] [--batch-ms 500] [--application NAME] [--sink-ms 0]"

const parse = () => {
  try {
    return parseArgs({
      options: {
        endpoint: { type: "string" },
        stream: { type: "string" },
        store: { type: "string" },
        "worker-id": { type: "string" },
        "failover-ms": { type: "string", default: "10000" },
        "batch-ms": { type: "string", default: "500" },
        application: { type: "string", default: "multi-worker" },
        "sink-ms": { type: "string", default: "0" }
      },
      strict: true
    }).values
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`)
  }
}

const millis = (name: string, text: string, least = 1): number => {
  const n = Number(text)
  return Number.isSafeInteger(n) && n >= least
    ? n
    : fail(`--${name} ${JSON.stringify(text)} is not a whole number of milliseconds >= ${least}`)
}

const args = parse()
const endpoint = args.endpoint ?? fail(`--endpoint is required\n${usage}`)
const streamName = args.stream ?? fail(`--stream is required\n${usage}`)
const workerId = args["worker-id"] ?? fail(`--worker-id is required\n${usage}`)
const storeSpec = parseStore(args.store ?? fail(`--store is required\n${usage}`))
const store = typeof storeSpec === "string" ? fail(storeSpec) : storeSpec
const failoverMillis = millis("failover-ms", args["failover-ms"])
const batchMillis = millis("batch-ms", args["batch-ms"])
const applicationName = args.application
const sinkMillis = millis("sink-ms", args["sink-ms"], 0)

// stdout to a pipe or a file is written synchronously on Linux: a line printed is out, even if the
// process is SIGKILLed right after (the batch is then delivered but not checkpointed).
const emit = (event: WorkerEvent) => Effect.sync(() => void process.stdout.write(`${JSON.stringify(event)}\n`))

const lossReason = (reason: LeaseLossReason): string =>
  reason._tag === "Lost" ? `Lost: ${reason.error.message}` : reason._tag

const pipeline = Pipeline.fromKinesis({
  streamName,
  applicationName,
  codec: Codec.utf8,
  batchInterval: Duration.millis(batchMillis),
  startAt: "TRIM_HORIZON",
  reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" },
  leases: {
    workerId,
    failoverTime: Duration.millis(failoverMillis),
    shardSyncInterval: "2 seconds",
    hooks: {
      onLeaseAcquired: ({ counter, shardId }) => emit({ type: "lease", worker: workerId, event: "acquired", shardId, counter }),
      onLeaseLost: ({ reason, shardId }) =>
        emit({ type: "lease", worker: workerId, event: "lost", shardId, reason: lossReason(reason) }),
      onShardEnded: ({ shardId }) => emit({ type: "lease", worker: workerId, event: "ended", shardId }),
      onShutdownRequested: ({ heldShardIds }) => emit({ type: "lease", worker: workerId, event: "shutdown", held: heldShardIds })
    }
  }
})

/** Prints the batch; then, with --sink-ms, works on it a while (the batch is checkpointed after). */
const sink = (batch: Batch<string>) =>
  Effect.zipRight(
    emit({
      type: "batch",
      worker: workerId,
      batchId: batch.batchId,
      records: batch.records.map((r) => ({
        shardId: r.shardId,
        sequenceNumber: r.sequenceNumber,
        partitionKey: r.partitionKey,
        value: r.value
      })),
      tokens: Object.fromEntries(batch.fencingTokens)
    }),
    sinkMillis === 0 ? Effect.void : Effect.sleep(Duration.millis(sinkMillis))
  )

const main = Effect.gen(function* () {
  // Listening before anything else: a SIGTERM during start-up also stops gracefully.
  const signal = yield* Effect.fork(onSignal())
  yield* emit({ type: "ready", worker: workerId, pid: process.pid })
  const summary = yield* pipeline.pipe(
    // Batches with no records are left out (their checkpoints, if any, are still written).
    Pipeline.foreachBatch(sink, { stopWhen: Fiber.join(signal), skipEmptyBatches: true })
  )
  yield* emit({ type: "stopped", worker: workerId, summary })
})

const leaseStore = store.kind === "sqlite"
  ? LeaseStore.layerSqlite({ path: store.path })
  : LeaseStore.layerDynamoDB({ tableName: store.tableName, endpoint: store.endpoint, region, credentials })

const environment = Layer.mergeAll(Kinesis.layer({ endpoint, region, credentials }), leaseStore)

// Logs go to stderr: stdout carries only the events.
const logger = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

Effect.runPromiseExit(main.pipe(Effect.provide(environment), Effect.provide(logger))).then((exit) => {
  // Exits once stdout is flushed, even if a client left a socket open.
  if (exit._tag === "Success") process.stdout.write("", () => process.exit(0))
  else fail(`${workerId} failed: ${exit.cause.toString()}`)
})
