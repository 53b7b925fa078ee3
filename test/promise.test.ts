import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, expectTypeOf, it, vi } from "vitest"
import {
  backoff,
  type Batch,
  batchItemFailures,
  Codec,
  type Consumer,
  type ConsumerEventName,
  type ConsumerEvents,
  createConsumer,
  type DeadLetterRecord,
  InvalidOption,
  type LocalKinesisHandle,
  readDeadLetters,
  RecordFilter,
  SinkFailed,
  SinkRecordsFailed,
  startLocalKinesis
} from "../src/promise/index.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Hash keys that land in the first and the second of two shards. */
const hashKeys = ["0", (2n ** 128n - 1n).toString()] as const

let local: LocalKinesisHandle
let dir: string
let streams = 0

beforeAll(async () => {
  local = await startLocalKinesis()
  dir = mkdtempSync(join(tmpdir(), "shardline-promise-"))
})
afterAll(async () => {
  await local?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A fresh stream and a fresh folder for its files. */
const fresh = async (shardCount: number) => {
  const name = `promise-${++streams}`
  await local.createStream(name, shardCount)
  return { streamName: name, files: join(dir, name) }
}

/** Puts `values` (UTF-8), alternating between the stream's first two shards unless it has one. */
const put = (streamName: string, values: ReadonlyArray<string>, shards = 2) =>
  local.put(streamName, values.map((v, i) => ({ partitionKey: "k", explicitHashKey: hashKeys[i % shards]!, data: encoder.encode(v) })))

const values = (from: number, count: number, prefix = "v") => Array.from({ length: count }, (_, i) => `${prefix}${from + i}`)

/** Fast polling, short batches: a test sees a batch within a few hundred milliseconds. */
const quick = (streamName: string) => ({
  streamName,
  codec: Codec.utf8,
  batchInterval: "200 millis",
  kinesis: local.kinesis,
  reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" }
}) as const

/** `promise`, or the consumer's failure if it ends first (so a broken run fails the test at once, not by time-out). */
const before = <T>(consumer: Consumer, promise: Promise<T>): Promise<T> =>
  Promise.race([promise, consumer.done.then((summary) => Promise.reject(new Error(`the consumer ended first: ${JSON.stringify(summary)}`)))])

/** Resolves with the first payload of `event` that passes `until` (a listener, no polling or sleeping). */
const when = <K extends ConsumerEventName>(consumer: Consumer, event: K, until: (payload: ConsumerEvents[K]) => boolean = () => true) =>
  before(consumer, new Promise<ConsumerEvents[K]>((resolve) => {
    const off = consumer.on(event, (payload) => {
      if (!until(payload)) return
      off()
      resolve(payload)
    })
  }))

/** Every event's name, in order. */
const eventLog = (consumer: Consumer) => {
  const log: Array<ConsumerEventName> = []
  for (const name of ["started", "batch", "sinkError", "error", "stopped"] as const) consumer.on(name, () => void log.push(name))
  return log
}

/** A sink keeping every value it accepted, and a promise of the moment it holds `count` of them. */
const collecting = (count: number) => {
  const seen: Array<string> = []
  let reached: () => void = () => {}
  const all = new Promise<void>((resolve) => (reached = resolve))
  const sink = async (batch: Batch<string>) => {
    for (const r of batch.records) seen.push(r.value)
    if (seen.length >= count) reached()
  }
  return { seen, sink, all }
}

const checkpointFile = (path: string, streamName: string, applicationName = "shardline") =>
  JSON.parse(readFileSync(path, "utf8")).applications[applicationName][streamName] as Record<string, { sequenceNumber?: string }>

/** The kinds of process resources (timers, sockets...) that `after` holds more of than `before`. */
const moreThan = (before: ReadonlyArray<string>, after: ReadonlyArray<string>) => {
  const count = (list: ReadonlyArray<string>, kind: string) => list.filter((k) => k === kind).length
  return [...new Set(after)].filter((kind) => count(after, kind) > count(before, kind))
}

const rejected = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected the promise to reject")
}

describe("createConsumer: start and stop", { timeout: 15_000 }, () => {
  it("delivers every record once, checkpoints on stop, and a second consumer resumes after the checkpoint", async () => {
    const { files, streamName } = await fresh(2)
    const first = values(0, 30)
    const written = await put(streamName, first)
    const checkpoints = { file: join(files, "checkpoints.json") }
    const handlesBefore = process.getActiveResourcesInfo()
    const a = collecting(30)
    const consumer = createConsumer({ ...quick(streamName), checkpoints, sink: a.sink })
    const log = eventLog(consumer)
    await consumer.ready
    await before(consumer, a.all)
    await consumer.stop()
    const summary = await consumer.done
    // Nothing of the consumer is left: no timer, no socket (the emulator's side closes once it sees the client's close).
    const extra = () => moreThan(handlesBefore, process.getActiveResourcesInfo())
    await vi.waitFor(() => expect(extra().filter((kind) => kind !== "Timeout")).toEqual([]), { timeout: 2_000, interval: 20 })
    expect(extra()).toEqual([])
    expect(a.seen.sort()).toEqual([...first].sort())
    expect(summary).toMatchObject({ records: 30, deadLettered: 0 })
    expect(log[0]).toBe("started")
    expect(log.at(-1)).toBe("stopped")
    expect(log.filter((e) => e === "started" || e === "stopped")).toEqual(["started", "stopped"])
    // A second stop is the same promise, already settled.
    const again = consumer.stop()
    expect(again).toBe(consumer.stop())
    await again
    // The checkpoint of each shard is its last record.
    const saved = checkpointFile(checkpoints.file, streamName)
    for (const shardId of new Set(written.map((w) => w.shardId))) {
      expect(saved[shardId]?.sequenceNumber).toBe(written.filter((w) => w.shardId === shardId).at(-1)!.sequenceNumber)
    }

    const next = values(30, 10)
    await put(streamName, next)
    const b = collecting(10)
    const resumed = createConsumer({ ...quick(streamName), checkpoints, sink: b.sink })
    await before(resumed, b.all)
    await resumed.stop()
    expect((await resumed.done).records).toBe(10)
    expect(b.seen.sort()).toEqual([...next].sort())
  })

  it("stop() while the sink is in the middle of a batch: the batch completes and is checkpointed before done resolves", async () => {
    const { files, streamName } = await fresh(1)
    const written = await put(streamName, values(0, 5), 1)
    const checkpoints = { file: join(files, "checkpoints.json") }
    let entered: () => void = () => {}
    const inSink = new Promise<void>((resolve) => (entered = resolve))
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const taken: Array<string> = []
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints,
      skipEmptyBatches: true,
      sink: async (batch) => {
        entered()
        await gate
        for (const r of batch.records) taken.push(r.value)
      }
    })
    const batches = when(consumer, "batch")
    await before(consumer, inSink)
    const stopping = consumer.stop()
    let stopped = false
    void stopping.then(() => (stopped = true))
    // The run waits for the sink: nothing has ended yet.
    await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(taken).toEqual(values(0, 5))
    expect((await batches).records).toBe(5)
    expect(checkpointFile(checkpoints.file, streamName)[written[0]!.shardId]?.sequenceNumber).toBe(written[4]!.sequenceNumber)
    expect((await consumer.done).records).toBe(5)
  })

  it("stop() before the consumer started ends it at once with nothing read, and leaves nothing running", async () => {
    const { streamName } = await fresh(1)
    const consumer = createConsumer({ ...quick(streamName), checkpoints: "memory", sink: async () => {} })
    const log = eventLog(consumer)
    await consumer.stop()
    expect(await consumer.done).toMatchObject({ batches: 0, records: 0, shardsEnded: 0, deadLettered: 0 })
    await consumer.ready
    expect(log).toEqual(["stopped"])
  })

  it("await using stops the consumer at the end of the block", async () => {
    const { streamName } = await fresh(1)
    await put(streamName, ["x"], 1)
    const a = collecting(1)
    let consumer: Consumer | undefined
    {
      await using c = createConsumer({ ...quick(streamName), checkpoints: "memory", sink: a.sink })
      consumer = c
      await before(c, a.all)
    }
    expect((await consumer.done).records).toBe(1)
  })
})

describe("createConsumer: failures reject done with the original, narrowable error", { timeout: 15_000 }, () => {
  it("a stream that does not exist: InvalidOption on streamName, before anything started", async () => {
    const consumer = createConsumer({ ...quick("no-such-stream"), checkpoints: "memory", sink: async () => {} })
    const log = eventLog(consumer)
    let fromEvent: unknown
    consumer.on("error", (e) => (fromEvent = e))
    const error = await rejected(consumer.done)
    expect(error).toBeInstanceOf(InvalidOption)
    if (!(error instanceof InvalidOption)) return
    expect(error.option).toBe("streamName")
    expect(fromEvent).toBe(error)
    expect(await rejected(consumer.ready)).toBe(error)
    expect(log).toEqual(["error"])
    // stop() after a failure answers the same failure, and starts nothing.
    expect(await rejected(consumer.stop())).toBe(error)
  })

  it("awaiting only `ready` handles a failure before the start: no unhandled rejection from `done`", async () => {
    const unhandled: Array<unknown> = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on("unhandledRejection", onUnhandled)
    try {
      const consumer = createConsumer({ ...quick("no-such-stream-2"), checkpoints: "memory", sink: async () => {} })
      const error = await rejected(consumer.ready)
      expect(error).toBeInstanceOf(InvalidOption)
      // Unhandled rejections are reported after the microtask queue drains: give them a few turns.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).toEqual([])
      expect(await rejected(consumer.done)).toBe(error)
    } finally {
      process.off("unhandledRejection", onUnhandled)
    }
  })

  it("invalid options reject done with InvalidOption naming the option (createConsumer itself never throws)", async () => {
    const noStore = createConsumer({ ...quick("s"), sink: async () => {} } as never)
    expect(await rejected((noStore as Consumer).done)).toMatchObject({ _tag: "InvalidOption", option: "checkpoints" })
    const badInterval = createConsumer({ ...quick("s"), batchInterval: -1, checkpoints: "memory", sink: async () => {} })
    expect(await rejected(badInterval.done)).toMatchObject({ _tag: "InvalidOption", option: "batchInterval" })
    const badDeadLetter = createConsumer({ ...quick("s"), checkpoints: "memory", sink: async () => {}, deadLetter: { path: "x" } as never })
    expect(await rejected(badDeadLetter.done)).toMatchObject({ _tag: "InvalidOption", option: "deadLetter" })
    const both = createConsumer({ ...quick("s"), checkpoints: "memory", leases: { store: "memory" }, sink: async () => {} } as never)
    expect(await rejected((both as Consumer).done)).toBeInstanceOf(InvalidOption)
  })

  it("a sink that always rejects, without onSinkError: SinkFailed with the rejection as cause; nothing checkpointed", async () => {
    const { files, streamName } = await fresh(1)
    await put(streamName, values(0, 3), 1)
    const refusal = new Error("the database is down")
    const checkpoints = { file: join(files, "checkpoints.json") }
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints,
      sink: async (batch) => {
        if (batch.records.length > 0) throw refusal
      }
    })
    const log = eventLog(consumer)
    const error = await rejected(consumer.done)
    expect(error).toBeInstanceOf(SinkFailed)
    if (!(error instanceof SinkFailed)) return
    expect(error.cause).toBe(refusal)
    expect(error.message).toBe("the database is down")
    expect(error.records).toBe(3)
    expect(log.filter((e) => e !== "batch")).toEqual(["started", "sinkError", "error"])
    expect(() => readFileSync(checkpoints.file)).toThrow()
  })

  it("records the sink reports failed (batchItemFailures) and nowhere to put them: SinkRecordsFailed", async () => {
    const { streamName } = await fresh(1)
    await put(streamName, values(0, 4), 1)
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: "memory",
      sink: async (batch) => batchItemFailures(batch.records.filter((r) => r.value === "v2"), "v2 refused")
    })
    const error = await rejected(consumer.done)
    expect(error).toBeInstanceOf(SinkRecordsFailed)
    expect((error as SinkRecordsFailed).reason).toBe("v2 refused")
  })
})

describe("createConsumer: a rejected sink promise goes through the core's onSinkError", { timeout: 15_000 }, () => {
  const noWait = backoff({ base: "1 millis", cap: "1 millis", maxRetries: Infinity, jitter: false })

  it("retries: a sink that rejects twice then resolves is called 3 times, and the batch is delivered", async () => {
    const { streamName } = await fresh(1)
    await put(streamName, values(0, 6), 1)
    let calls = 0
    const accepted: Array<string> = []
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: "memory",
      skipEmptyBatches: true,
      onSinkError: { maxRetryAttempts: 2, retry: noWait },
      sink: async (batch) => {
        calls++
        if (calls <= 2) throw new Error(`flaky ${calls}`)
        for (const r of batch.records) accepted.push(r.value)
      }
    })
    const failures: Array<number> = []
    consumer.on("sinkError", (e) => void failures.push(e.sinkCalls))
    const batch = await when(consumer, "batch")
    await consumer.stop()
    expect(calls).toBe(3)
    expect(failures).toEqual([1, 2])
    expect(batch).toMatchObject({ records: 6, sinkCalls: 3 })
    expect(accepted).toEqual(values(0, 6))
  })

  it("retries run out: with maxRetryAttempts 1 and no dead letters, done rejects with SinkFailed after 2 calls", async () => {
    const { streamName } = await fresh(1)
    await put(streamName, ["a"], 1)
    let calls = 0
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: "memory",
      skipEmptyBatches: true,
      onSinkError: { maxRetryAttempts: 1, retry: noWait },
      sink: async () => {
        calls++
        throw new Error(`refused ${calls}`)
      }
    })
    const error = await rejected(consumer.done)
    expect(error).toBeInstanceOf(SinkFailed)
    expect((error as SinkFailed).message).toBe("refused 2")
    expect(calls).toBe(2)
  })

  it("bisection isolates the one poison record among 40; it lands in the dead-letter file with its bytes, the rest is delivered", async () => {
    const { files, streamName } = await fresh(1)
    const all = values(0, 40)
    const written = await put(streamName, all, 1)
    const path = join(files, "dead-letters.jsonl")
    const accepted: Array<string> = []
    let calls = 0
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: { file: join(files, "checkpoints.json") },
      skipEmptyBatches: true,
      onSinkError: { maxRetryAttempts: 1, retry: noWait, bisectBatchOnError: true, onFailure: { file: path } },
      sink: async (batch) => {
        calls++
        if (batch.records.some((r) => r.value === "v17")) throw new Error("order v17 violates a constraint")
        for (const r of batch.records) accepted.push(r.value)
      }
    })
    const delivered = collectingBatches(consumer, 40)
    await before(consumer, delivered)
    await consumer.stop()
    const summary = await consumer.done
    expect(accepted.sort()).toEqual(all.filter((v) => v !== "v17").sort())
    expect(summary.deadLettered).toBe(1)
    const letters = await readDeadLetters(path)
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({
      streamName,
      shardId: written[17]!.shardId,
      sequenceNumber: written[17]!.sequenceNumber,
      reason: { kind: "sink", attempts: 2, message: "order v17 violates a constraint" }
    })
    expect(decoder.decode(letters[0]!.data)).toBe("v17")
    // 40 → 20 → 10 → 5 → 3 → 2 → 1, each failing part tried twice: far fewer calls than one per record.
    expect(calls).toBeGreaterThan(2)
    expect(calls).toBeLessThan(40)
  })

  it("an async function as the dead-letter destination gets the records the sink gave up on, and those that do not decode", async () => {
    const { streamName } = await fresh(1)
    await local.put(streamName, [
      { partitionKey: "k", data: encoder.encode(`{"id":1}`) },
      { partitionKey: "k", data: encoder.encode(`{"id":`) }, // not JSON
      { partitionKey: "k", data: encoder.encode(`{"id":3}`) }
    ])
    const letters: Array<DeadLetterRecord> = []
    const consumer = createConsumer({
      ...quick(streamName),
      codec: Codec.json<{ readonly id: number }>(),
      checkpoints: "memory",
      skipEmptyBatches: true,
      deadLetter: async (records) => void letters.push(...records),
      onSinkError: { retry: noWait },
      sink: async (batch) => batchItemFailures(batch.records.filter((r) => r.value.id === 3), "id 3 refused")
    })
    await when(consumer, "batch")
    await consumer.stop()
    expect((await consumer.done).deadLettered).toBe(2)
    expect(letters.map((l) => [l.reason.kind, decoder.decode(l.data)])).toEqual([
      ["decode", `{"id":`],
      ["sink", `{"id":3}`]
    ])
  })
})

describe("createConsumer with leases", { timeout: 15_000 }, () => {
  it("stop() releases the leases: another worker takes them at once (not after failoverTime) and goes on from the checkpoints", async () => {
    const { files, streamName } = await fresh(2)
    await put(streamName, values(0, 10))
    const leases = { store: { sqlite: { path: join(files, "leases.db") } }, failoverTime: "30 seconds" } as const
    const a = collecting(10)
    const acquiredByA: Array<string> = []
    const first = createConsumer({
      ...quick(streamName),
      leases: { ...leases, workerId: "a", hooks: { onLeaseAcquired: async ({ shardId }) => void acquiredByA.push(shardId) } },
      sink: a.sink
    })
    await before(first, a.all)
    await first.stop()
    expect(acquiredByA.sort()).toHaveLength(2)

    await put(streamName, values(10, 6))
    const b = collecting(6)
    const startedAt = Date.now()
    const second = createConsumer({ ...quick(streamName), leases: { ...leases, workerId: "b" }, sink: b.sink })
    await before(second, b.all)
    // Leases left to expire would take failoverTime (30 s) to move.
    expect(Date.now() - startedAt).toBeLessThan(10_000)
    await second.stop()
    expect(b.seen.sort()).toEqual(values(10, 6).sort())
    expect(a.seen.sort()).toEqual(values(0, 10).sort())
  })
})

describe("createConsumer types", () => {
  it("the codec types the sink's records; leaving out where positions are kept does not compile", () => {
    const typed = () =>
      createConsumer({
        streamName: "s",
        codec: Codec.json<{ readonly id: number }>(),
        batchInterval: 1000,
        checkpoints: "memory",
        sink: async (batch) => {
          expectTypeOf(batch.records[0]!.value).toEqualTypeOf<{ readonly id: number }>()
        }
      })
    // @ts-expect-error: checkpoints or leases is required
    const missing = () => createConsumer({ streamName: "s", codec: Codec.utf8, batchInterval: 1000, sink: async () => {} })
    expect([typed, missing]).toHaveLength(2)
  })
})

/** Resolves once `count` records went through batches the consumer reported done. */
function collectingBatches(consumer: Consumer, count: number): Promise<void> {
  let total = 0
  return new Promise((resolve) => {
    consumer.on("batch", (b) => {
      total += b.sourceRecords
      if (total >= count) resolve()
    })
  })
}

describe("createConsumer: filters and parallelism pass through to the core", { timeout: 15_000 }, () => {
  it("skips filtered records before decoding and calls the sink per lane, the batch event counting both", async () => {
    const { files, streamName } = await fresh(1)
    // Keys k0..k7; records keyed "skip-..." carry bytes that are not UTF-8 and are never decoded.
    await local.put(streamName, [
      ...Array.from({ length: 40 }, (_, i) => ({ partitionKey: `k${i % 8}`, data: encoder.encode(`${i % 8}:${i}`) })),
      ...Array.from({ length: 10 }, (_, i) => ({ partitionKey: `skip-${i}`, data: Uint8Array.of(0xff, 0xfe) }))
    ])
    const byKey = new Map<string, Array<number>>()
    const lanes = new Set<number | undefined>()
    const a = collecting(40)
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: { file: join(files, "checkpoints.json") },
      filter: RecordFilter.partitionKey({ prefix: "k" }),
      parallelism: 4,
      sink: async (batch) => {
        if (batch.records.length > 0) lanes.add(batch.lane)
        for (const r of batch.records) {
          const [key, n] = r.value.split(":")
          byKey.set(key!, [...(byKey.get(key!) ?? []), Number(n)])
        }
        await a.sink(batch)
      }
    })
    const events: Array<ConsumerEvents["batch"]> = []
    consumer.on("batch", (b) => void events.push(b))
    await before(consumer, a.all)
    await consumer.stop()
    const summary = await consumer.done
    expect(summary).toMatchObject({ records: 50, filtered: 10, deadLettered: 0 })
    expect(a.seen.length).toBe(40)
    // Several lanes; each key's records in the order they were put.
    expect(lanes.size).toBeGreaterThan(1)
    for (const ns of byKey.values()) expect(ns).toEqual([...ns].sort((x, y) => x - y))
    const full = events.find((b) => b.sourceRecords === 50)
    expect(full).toMatchObject({ records: 40, filtered: 10 })
    expect(full!.sinkCalls).toBe(lanes.size)
  })
})

describe("createConsumer: the dashboard and the metrics endpoint", { timeout: 15_000 }, () => {
  it("serves both while it runs (addresses in `listening` events), with the run's numbers; both close on stop", async () => {
    const { files, streamName } = await fresh(2)
    await put(streamName, values(0, 24))
    const a = collecting(24)
    const consumer = createConsumer({
      ...quick(streamName),
      checkpoints: { file: join(files, "checkpoints.json") },
      dashboard: { port: 0 },
      metrics: { port: 0 },
      sink: a.sink
    })
    const urls = new Map<string, string>()
    consumer.on("listening", (e) => void urls.set(e.what, e.url))
    await before(consumer, a.all)
    // The batch event comes once its checkpoint is written: by then the metrics count it.
    await when(consumer, "batch")
    expect([...urls.keys()].sort()).toEqual(["dashboard", "metrics"])
    const snapshot = await (await fetch(new URL("snapshot.json", urls.get("dashboard")))).json() as { totals: { sourceRecords: number } }
    const scrape = await (await fetch(urls.get("metrics")!)).text()
    const read = scrape.split("\n")
      .filter((l) => l.startsWith("shardline_records_in_total{") && l.includes(`stream="${streamName}"`))
      .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0)
    expect(read).toBe(24)
    expect(snapshot.totals.sourceRecords).toBe(24)
    await consumer.stop()
    // Nothing listens any more.
    for (const url of urls.values()) await expect(fetch(url)).rejects.toThrow()
  })
})
