/**
 * An orders service written with the Promise API only (no Effect): purchases (protobuf) flow into
 * a 2-shard stream on an embedded emulator; the consumer writes them to a fake database whose
 * inserts sometimes fail (a transient error, retried) and which refuses any insert holding an
 * order in an unknown currency (a poison record: bisection isolates it, the dead-letter file
 * keeps it). Ctrl-C (SIGINT/SIGTERM) stops gracefully: the batch in progress is drained and
 * checkpointed, then the process exits 0.
 *
 *   npx tsx examples/promise-service/main.ts                 10 s
 *   npx tsx examples/promise-service/main.ts --seconds 0     until Ctrl-C
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { create } from "@bufbuild/protobuf"
import { type Purchase, PurchaseSchema } from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { PurchaseCodec } from "../../gen/shardline/examples/clickstream/v1/clickstream_shardline.js"
import { backoff, createConsumer, GracefulStopTimeout, readDeadLetters, SinkFailed, startLocalKinesis } from "shardline/promise"

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rate: { type: "string", default: "200" }
  }
})
const seconds = Number(args.seconds)
const rate = Number(args.rate)
if (!(seconds >= 0) || !(rate > 0)) {
  console.error("usage: npx tsx examples/promise-service/main.ts [--seconds N (0 = until Ctrl-C)] [--rate ORDERS_PER_S]")
  process.exit(2)
}

const currencies = ["EUR", "USD", "GBP"]

/** A database that keeps orders by id, fails 1 insert in 10 for no reason, and refuses unknown currencies. */
class FakeOrdersDb {
  readonly orders = new Map<string, Purchase>()
  inserts = 0
  async insertMany(orders: ReadonlyArray<Purchase>): Promise<void> {
    this.inserts++
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (this.inserts % 10 === 0) throw new Error("connection reset by the database")
    const bad = orders.find((o) => !currencies.includes(o.currency))
    // One bad row fails the whole statement, as a multi-row INSERT does.
    if (bad !== undefined) throw new Error(`order ${bad.orderId}: unknown currency ${bad.currency}`)
    for (const o of orders) this.orders.set(o.orderId, o)
  }
}

const streamName = "orders"
const work = mkdtempSync(join(tmpdir(), "shardline-orders-"))
const deadLetters = join(work, "dead-letters.jsonl")

const local = await startLocalKinesis({ streams: [{ name: streamName, shardCount: 2 }] })
console.log(`orders service: embedded Kinesis at ${local.endpoint}, files in ${work}`)

// The producer: `rate` orders a second; 1 in 400 in a currency the database refuses.
let produced = 0
const produce = setInterval(() => {
  const count = Math.max(1, Math.round(rate / 10))
  const orders = Array.from({ length: count }, () => {
    const n = produced++
    return create(PurchaseSchema, {
      orderId: `o-${n}`,
      userId: `u-${n % 37}`,
      currency: n % 400 === 399 ? "XXX" : currencies[n % currencies.length]!,
      totalMinor: BigInt(100 + (n % 900))
    })
  })
  local.put(streamName, orders.map((o) => ({ partitionKey: o.userId, data: PurchaseCodec.encode(o) }))).catch((error: unknown) => {
    console.error("producer:", error)
  })
}, 100)

const db = new FakeOrdersDb()
const consumer = createConsumer({
  streamName,
  applicationName: "orders-service",
  codec: PurchaseCodec,
  batchInterval: "1 second",
  kinesis: local.kinesis,
  checkpoints: { file: join(work, "checkpoints.json") },
  sink: async (batch) => db.insertMany(batch.records.map((r) => r.value)),
  onSinkError: {
    maxRetryAttempts: 2,
    retry: backoff({ base: "20 millis", cap: "200 millis", maxRetries: Infinity }),
    bisectBatchOnError: true,
    onFailure: { file: deadLetters }
  },
  skipEmptyBatches: true
})

consumer.on("started", ({ streamName }) => console.log(`consuming ${streamName}`))
// Failed inserts of the batch in progress, by message: retried, split, or given up to the dead letters.
const failures = new Map<string, number>()
consumer.on("sinkError", (e) => void failures.set(e.error.message, (failures.get(e.error.message) ?? 0) + 1))
consumer.on("batch", (b) => {
  const failed = [...failures].map(([message, n]) => `${n}x ${message}`).join("; ")
  failures.clear()
  console.log(`batch ${String(b.batchId).padStart(3)} | ${String(b.records).padStart(4)} orders | ${String(b.sinkCalls).padStart(2)} insert call(s)${failed === "" ? "" : ` | failed: ${failed}`}`)
})

let stopping = false
const stop = (why: string) => {
  if (stopping) return
  stopping = true
  console.log(`${why}: stopping (draining and checkpointing the batch in progress)`)
  clearInterval(produce)
  void consumer.stop().catch(() => {}) // `done` below reports how it ended
}
process.once("SIGINT", () => stop("SIGINT"))
process.once("SIGTERM", () => stop("SIGTERM"))
if (seconds > 0) setTimeout(() => stop(`${seconds} s passed`), seconds * 1000).unref()

try {
  const summary = await consumer.done
  const letters = await readDeadLetters(deadLetters).catch(() => [])
  const refused = letters.map((l) => PurchaseCodec.decode(l.data)).flatMap((d) => (d._tag === "Right" ? [d.right.orderId] : []))
  console.log(
    `done: ${summary.batches} batches, ${summary.records} orders consumed, ${db.orders.size} in the database, ` +
      `${summary.deadLettered} dead-lettered (${refused.join(", ") || "none"}) in ${deadLetters}`
  )
  // Every order consumed is in the database or in the dead letters: nothing lost.
  if (db.orders.size + summary.deadLettered < summary.records) {
    console.error("orders went missing")
    process.exitCode = 1
  }
} catch (error) {
  if (error instanceof GracefulStopTimeout) console.error("the database did not finish in time:", error.message)
  else if (error instanceof SinkFailed) console.error("the database kept failing:", error.cause)
  else console.error("the service failed:", error)
  process.exitCode = 1
} finally {
  clearInterval(produce)
  await local.close()
}
