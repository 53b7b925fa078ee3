/**
 * Workers as real OS processes (examples/multi-worker/worker.ts) sharing one 8-shard kinesalite
 * stream through one lease table, SQLite file or DynamoDB (dynalite): the lease table is read from
 * this process through the same LeaseStore layer the workers use.
 *
 * - (a) three workers converge: every shard owned by exactly one live worker, 2 or 3 each, stable;
 * - (b) SIGKILL one while producing: its shards move within failoverTime + one renewal interval,
 *   nothing is lost, and the only records delivered twice are the killed worker's last batch;
 * - (c) SIGTERM one while producing: its leases move at once (well under failoverTime), nothing is
 *   lost and nothing is delivered twice.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, layer, type Vitest } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, type Scope } from "effect"
import { Kinesis, type Lease, type LeaseScope, LeaseStore, LocalKinesis } from "../src/index.js"
import { localCredentials, startDynalite } from "./support/dynalite.js"
import {
  awaitReady,
  deliveries,
  spawnWorkers,
  stopGracefully,
  type WorkerProcess
} from "./support/processWorkers.js"

const FAILOVER = 1_000
const RENEWAL = Math.floor(FAILOVER / 3)
/** How often a worker looks for leases to take. */
const TAKE = Math.floor(RENEWAL / 2)
const BATCH = 250
/** In (b), how long a sink works on a batch after printing it, before it is checkpointed. */
const SINK_MS = 400
const SHARDS = 8
/** Polling the table and scheduling three processes on a small machine. */
const TOLERANCE = 250

const folder = mkdtempSync(join(tmpdir(), "shardline-multi-process-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

/** One lease table for one test: what the workers are told (--store) and the layer this process reads it through. */
interface Table {
  readonly arg: string
  readonly layer: Layer.Layer<LeaseStore, unknown>
}

interface StoreKind<R> {
  readonly name: string
  readonly table: (tag: string) => Effect.Effect<Table, never, R>
}

const sqlite: StoreKind<never> = {
  name: "sqlite",
  table: (tag) =>
    Effect.sync(() => {
      const path = join(folder, `${tag}.db`)
      return { arg: `sqlite:${path}`, layer: LeaseStore.layerSqlite({ path }) }
    })
}

/** dynalite, in this process. */
class Dynalite extends Context.Tag("test/multi-process/Dynalite")<Dynalite, { readonly endpoint: string }>() {}

const dynamodb: StoreKind<Dynalite> = {
  name: "dynamodb",
  table: (tag) =>
    Effect.map(Dynalite, ({ endpoint }) => {
      const tableName = `leases-${tag}`
      return {
        arg: `dynamodb:${endpoint}#${tableName}`,
        layer: LeaseStore.layerDynamoDB({ tableName, endpoint, region: "us-east-1", credentials: localCredentials })
      }
    })
}

const encoder = new TextEncoder()

/** Writes 10 records every 50 ms (values `<prefix>-<n>`, one partition key each) until stopped. */
const startProducer = (streamName: string, prefix: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const produced: Array<{ readonly value: string; readonly shardId: string }> = []
    let n = 0
    let stopping = false
    const tick = Effect.gen(function* () {
      const values = Array.from({ length: 10 }, () => `${prefix}-${n++}`)
      const result = yield* kinesis.putRecords({
        StreamName: streamName,
        Records: values.map((value) => ({ PartitionKey: value, Data: encoder.encode(value) }))
      })
      if ((result.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage("PutRecords refused records")
      result.Records!.forEach((entry, i) => produced.push({ value: values[i]!, shardId: entry.ShardId! }))
    })
    const loop = Effect.gen(function* () {
      while (!stopping) {
        yield* tick
        yield* Effect.sleep("50 millis")
      }
    })
    const fiber = yield* Effect.forkScoped(Effect.orDie(loop))
    /** Stops after the call in flight, so every record written is in `produced`. */
    const stop = Effect.suspend(() => {
      stopping = true
      return Fiber.join(fiber)
    })
    return { produced, stop }
  })

const ownerCounts = (leases: ReadonlyArray<Lease>) => {
  const counts = new Map<string, number>()
  for (const l of leases) counts.set(l.owner ?? "(none)", (counts.get(l.owner ?? "(none)") ?? 0) + 1)
  return counts
}

const showLeases = (leases: ReadonlyArray<Lease>) =>
  [...ownerCounts(leases)].sort().map(([owner, n]) => `${owner}:${n}`).join(" ")

/** Every shard owned by exactly one of `live`, each holding 2 or 3. */
const converged = (leases: ReadonlyArray<Lease>, live: ReadonlyArray<string>) => {
  if (leases.length !== SHARDS) return false
  const counts = ownerCounts(leases)
  return counts.size === live.length && live.every((w) => {
    const n = counts.get(w) ?? 0
    return n === 2 || n === 3
  })
}

/** The owned leases as `owner shardId@counter`, for assertions that name what is left. */
const owned = (leases: ReadonlyArray<Lease>) =>
  leases.filter((l) => l.owner !== undefined).map((l) => `${l.owner} ${l.shardId}@${l.counter}`)

const ownedBy = (leases: ReadonlyArray<Lease>, worker: string) => owned(leases).filter((l) => l.startsWith(`${worker} `))

const sameOwners = (a: ReadonlyArray<Lease>, b: ReadonlyArray<Lease>) =>
  a.length === b.length && a.every((l, i) => l.shardId === b[i]?.shardId && l.owner === b[i]?.owner)

/** Polls until `check` holds, every `every` ms; dies with `describe()` after `timeoutMillis`. */
const pollUntil = <A>(
  what: string,
  read: Effect.Effect<A, unknown>,
  check: (a: A) => boolean,
  describe: (a: A) => string,
  timeoutMillis = 20_000,
  every = 50
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const a = yield* Effect.orDie(read)
      if (check(a)) return { value: a, at: Date.now() }
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}: ${describe(a)}`)
      yield* Effect.sleep(`${every} millis`)
    }
  })

/** Polls (every 25 ms, for up to 10 s) until no lease is owned by `worker`; answers the table and when. */
const noLeaseOwnedBy = (worker: string, leases: Effect.Effect<ReadonlyArray<Lease>, unknown>) =>
  pollUntil(`none of ${worker}'s leases is owned by it`, leases, (l) => !l.some((lease) => lease.owner === worker), showLeases, 10_000, 25)

interface Cluster {
  readonly streamName: string
  readonly scope: LeaseScope
  readonly workers: ReadonlyArray<WorkerProcess>
  readonly leases: Effect.Effect<ReadonlyArray<Lease>, unknown>
}

/**
 * A fresh stream and lease scope, three worker processes on it, and the table converged (every
 * shard owned by one live worker, 2 or 3 each) and stable for longer than a lease lives unrenewed.
 */
const startCluster = (
  kind: StoreKind<unknown>,
  tag: string,
  table: Table,
  sinkMs?: number
): Effect.Effect<Cluster, never, Scope.Scope | LocalKinesis | LeaseStore> =>
  Effect.gen(function* () {
    const local = yield* LocalKinesis
    const store = yield* LeaseStore
    const streamName = `${tag}-${kind.name}`
    yield* Effect.orDie(local.createStream(streamName, SHARDS))
    const scope: LeaseScope = { applicationName: tag, streamName }
    const leases = store.list(scope)
    const started = Date.now()
    const workers = yield* spawnWorkers(["w1", "w2", "w3"], {
      endpoint: local.endpoint,
      stream: streamName,
      store: table.arg,
      application: tag,
      failoverMs: FAILOVER,
      batchMs: BATCH,
      ...(sinkMs === undefined ? {} : { sinkMs })
    })
    yield* awaitReady(workers)
    const ready = Date.now()
    const live = workers.map((w) => w.id)
    // Converged, then unchanged for a failover time and a renewal: leases are renewed, not passed around.
    let stableSince = 0
    let ownerChanges = 0
    let last: ReadonlyArray<Lease> = []
    const describeLeases = (l: ReadonlyArray<Lease>) =>
      `${showLeases(l)}; owners changed ${ownerChanges} times while waiting (leases not renewed, or workers stealing back and forth?): ` +
      `${owned(l).join(", ")}\n${workers.map((w) => w.describe()).join("\n")}`
    yield* pollUntil(
      "the leases are spread 3/3/2 and stay put",
      leases,
      (l) => {
        const now = Date.now()
        if (!sameOwners(l, last)) ownerChanges++
        if (!converged(l, live) || !sameOwners(l, last)) stableSince = now
        last = l
        return converged(l, live) && now - stableSince >= FAILOVER + RENEWAL + 200
      },
      describeLeases,
      12_000
    )
    console.log(
      `[${kind.name} ${tag}] workers ready in ${ready - started} ms, leases stable 3/3/2 after ${Date.now() - ready} ms: ${showLeases(last)}`
    )
    return { streamName, scope, workers, leases }
  })

/** The workers' own account (acquired minus lost) matches the table. */
const expectWorkersAgreeWithTable = (workers: ReadonlyArray<WorkerProcess>, leases: ReadonlyArray<Lease>) => {
  for (const w of workers) {
    const fromTable = leases.filter((l) => l.owner === w.id).map((l) => l.shardId).sort()
    expect([...w.held()].sort(), `${w.id}'s own account of its leases`).toEqual(fromTable)
  }
}

const valuesIn = (records: ReadonlyArray<{ readonly value: string }>) => new Set(records.map((r) => r.value))

/** Runs `body` with a fresh lease table of `kind` as this process's LeaseStore. */
const inTable = <R, A>(
  kind: StoreKind<R>,
  tag: string,
  body: (table: Table) => Effect.Effect<A, unknown, Scope.Scope | LocalKinesis | Kinesis | LeaseStore>
) => Effect.flatMap(kind.table(tag), (table) => body(table).pipe(Effect.provide(table.layer), Effect.orDie))

/**
 * Stops producing, waits until every record produced was delivered by some worker, stops the
 * survivors gracefully, and counts deliveries per record.
 */
const finishRun = (
  producer: { readonly stop: Effect.Effect<void>; readonly produced: ReadonlyArray<{ readonly value: string }> },
  workers: ReadonlyArray<WorkerProcess>,
  survivors: ReadonlyArray<WorkerProcess>
) =>
  Effect.gen(function* () {
    yield* Effect.sleep("1 second")
    yield* producer.stop
    const produced = producer.produced
    const wanted = valuesIn(produced)
    yield* pollUntil(
      `every one of the ${wanted.size} records produced is delivered`,
      Effect.sync(() => valuesIn(deliveries(workers))),
      (seen) => [...wanted].every((v) => seen.has(v)),
      (seen) => `missing ${[...wanted].filter((v) => !seen.has(v)).slice(0, 10).join(", ")}...`,
      15_000
    )
    yield* Effect.sleep(`${BATCH * 2} millis`)
    yield* Effect.forEach(survivors, (w) => stopGracefully(w), { concurrency: "unbounded" })
    const delivered = deliveries(workers)
    const counts = new Map<string, number>()
    for (const d of delivered) counts.set(d.value, (counts.get(d.value) ?? 0) + 1)
    return { produced, wanted, delivered, counts }
  })

const storeTests = <R>(it: Vitest.MethodsNonLive<LocalKinesis | Kinesis | R, true>, kind: StoreKind<R>) => {
  it.scoped(`(a) ${kind.name}: three worker processes converge, each shard owned by exactly one live worker, 2 or 3 each`, () =>
    inTable(kind, "converge", (table) =>
      Effect.gen(function* () {
        const { leases, workers } = yield* startCluster(kind, "converge", table)
        const now = yield* leases
        expect(now.map((l) => l.shardId)).toEqual(Array.from({ length: SHARDS }, (_, i) => `shardId-${String(i).padStart(12, "0")}`))
        for (const w of workers) expect([2, 3]).toContain(now.filter((l) => l.owner === w.id).length)
        expectWorkersAgreeWithTable(workers, now)
        for (const w of workers) expect(w.running()).toBe(true)
        // A graceful stop of everyone releases everything.
        yield* Effect.forEach(workers, (w) => stopGracefully(w), { concurrency: "unbounded" })
        const after = yield* leases
        expect(owned(after), "leases still owned once every worker stopped gracefully").toEqual([])
      })), 60_000)

  it.scoped(`(b) ${kind.name}: SIGKILL one worker while producing: its shards move within failoverTime + a renewal interval, nothing lost, duplicates only from its last batch`, () =>
    inTable(kind, "kill", (table) =>
      Effect.gen(function* () {
        // Each sink works SINK_MS after printing a batch, before the batch is checkpointed.
        const { leases, streamName, workers } = yield* startCluster(kind, "kill", table, SINK_MS)
        const producer = yield* startProducer(streamName, "kill")
        const byLeases = yield* leases
        // The victim: a worker with three leases.
        const victim = workers.find((w) => byLeases.filter((l) => l.owner === w.id).length === 3)!
        const survivors = workers.filter((w) => w !== victim)
        const victimShards = byLeases.filter((l) => l.owner === victim.id).map((l) => l.shardId)
        const before = yield* victim.waitFor("it delivered two batches", (events) => {
          const n = events.filter((e) => e.type === "batch").length
          return n >= 2 ? n : undefined
        })
        // Killed right after it printed a batch, while its sink works on it: delivered, not checkpointed.
        const inSink = yield* victim.waitFor("it printed another batch", () => victim.batches()[before], 10_000, 5)
        const killedAt = yield* victim.signal("SIGKILL")
        const taken = yield* noLeaseOwnedBy(victim.id, leases)
        const takeover = taken.at - killedAt
        const allOwned = yield* pollUntil(
          "the survivors own every shard",
          leases,
          (l) => l.length === SHARDS && l.every((lease) => survivors.some((w) => w.id === lease.owner)),
          showLeases,
          10_000,
          25
        )
        console.log(
          `[${kind.name}] SIGKILL ${victim.id} (held ${victimShards.length}: ${victimShards.join(", ")}): ` +
            `its leases taken after ${takeover} ms (all owned by survivors after ${allOwned.at - killedAt} ms); ` +
            `bound failoverTime ${FAILOVER} + renewal ${RENEWAL} + tolerance ${TOLERANCE} ms; now ${showLeases(allOwned.value)}`
        )
        expect(takeover).toBeLessThanOrEqual(FAILOVER + RENEWAL + TOLERANCE)
        // Not before the lease could have expired (the victim renewed at most a renewal interval before the kill, and
        // a taker dates a counter change back to its previous look, a take interval earlier): expiry, not accident.
        expect(takeover).toBeGreaterThanOrEqual(FAILOVER - RENEWAL - TAKE - TOLERANCE)
        expect((yield* victim.exited).signal).toBe("SIGKILL")

        const { produced, wanted, delivered, counts } = yield* finishRun(producer, workers, survivors)
        const duplicates = [...counts].filter(([, n]) => n > 1).map(([v]) => v)
        const victimBatches = victim.batches()
        const lastBatch = victimBatches[victimBatches.length - 1]!
        const lastValues = valuesIn(lastBatch.records)
        const killedInSink = killedAt - inSink.at < SINK_MS - 50
        console.log(
          `[${kind.name}] produced ${produced.length}, delivered ${delivered.length} (${counts.size} distinct); ` +
            `${duplicates.length} duplicates, ${duplicates.every((v) => lastValues.has(v)) ? "all" : "NOT all"} in ${victim.id}'s ` +
            `last batch ${lastBatch.batchId} (${lastBatch.records.length} records, shards ` +
            `${[...new Set(lastBatch.records.map((r) => r.shardId))].sort().join(", ")}), killed ${killedAt - inSink.at} ms after it was printed`
        )
        expect(lastBatch).toBe(inSink)
        expect(produced.length).toBeGreaterThan(200)
        // Nothing lost, nothing unknown.
        expect([...counts.keys()].filter((v) => !wanted.has(v))).toEqual([])
        expect(counts.size).toBe(wanted.size)
        // Duplicates are the killed worker's last batch (delivered, not checkpointed), read again by the new owner.
        const explain = (v: string) =>
          `${v}: ${delivered.filter((d) => d.value === v).map((d) => `${d.worker} batch ${d.batchId} ${d.shardId}@${d.token} at +${d.at - killedAt} ms`).join(" & ")}`
        const losses = workers.flatMap((w) =>
          w.leaseEvents().filter((e) => e.event === "lost").map((e) => `${w.id} lost ${e.shardId} at +${e.at - killedAt} ms (${e.reason})`)
        )
        expect(
          duplicates.filter((v) => !lastValues.has(v)).map(explain),
          `duplicates not from ${victim.id}'s last batch; leases lost meanwhile: ${losses.join("; ") || "none"}`
        ).toEqual([])
        // Killed while its sink worked on that batch (not checkpointed): all of it is delivered again.
        if (killedInSink) expect(duplicates.sort()).toEqual([...lastValues].sort())
        for (const v of duplicates) {
          expect(counts.get(v)).toBe(2)
          const twice = delivered.filter((d) => d.value === v)
          expect(twice.map((d) => d.worker).filter((w) => w === victim.id)).toHaveLength(1)
          // The second delivery holds a higher fencing token than the killed worker's.
          const [first, second] = twice[0]!.worker === victim.id ? [twice[0]!, twice[1]!] : [twice[1]!, twice[0]!]
          expect(second.token!).toBeGreaterThan(first.token!)
        }
        // Each survivor delivered each record at most once.
        for (const w of survivors) {
          const own = deliveries([w]).map((d) => d.value)
          expect(own.length).toBe(new Set(own).size)
        }
        const final = yield* leases
        expect(owned(final), "leases still owned once the survivors stopped gracefully").toEqual([])
      })), 60_000)

  it.scoped(`(c) ${kind.name}: SIGTERM one worker while producing: its leases move well under failoverTime, no loss, no duplicate`, () =>
    inTable(kind, "term", (table) =>
      Effect.gen(function* () {
        const { leases, streamName, workers } = yield* startCluster(kind, "term", table)
        const producer = yield* startProducer(streamName, "term")
        const byLeases = yield* leases
        const victim = workers.find((w) => byLeases.filter((l) => l.owner === w.id).length === 3)!
        const survivors = workers.filter((w) => w !== victim)
        yield* victim.waitFor("it delivered two batches with records", (events) =>
          events.filter((e) => e.type === "batch").length >= 2 ? true : undefined)
        yield* Effect.sleep("300 millis")
        const stoppedAt = yield* victim.signal("SIGTERM")
        // The table as soon as the process is gone: a graceful stop released everything before exiting.
        const atExit = yield* Effect.fork(Effect.orDie(Effect.zip(victim.exited, leases)))
        const released = yield* noLeaseOwnedBy(victim.id, leases)
        const moved = yield* pollUntil(
          "the survivors own every shard",
          leases,
          (l) => l.length === SHARDS && l.every((lease) => survivors.some((w) => w.id === lease.owner)),
          showLeases,
          10_000,
          25
        )
        const [ended, tableAtExit] = yield* Fiber.join(atExit)
        console.log(
          `[${kind.name}] SIGTERM ${victim.id}: released after ${released.at - stoppedAt} ms, all leases owned by the ` +
            `survivors after ${moved.at - stoppedAt} ms (failoverTime ${FAILOVER} ms); exited ${ended.code} after ` +
            `${ended.at - stoppedAt} ms; now ${showLeases(moved.value)}`
        )
        expect(ended.code).toBe(0)
        expect(ownedBy(tableAtExit, victim.id), `leases ${victim.id} still owned when it exited after SIGTERM`).toEqual([])
        expect(moved.at - stoppedAt).toBeLessThan(FAILOVER)
        expect(victim.events.some((e) => e.type === "stopped")).toBe(true)
        expect(victim.leaseEvents().some((e) => e.event === "shutdown")).toBe(true)

        const { wanted, delivered, counts } = yield* finishRun(producer, workers, survivors)
        const duplicates = [...counts].filter(([, n]) => n > 1)
        console.log(
          `[${kind.name}] produced ${producer.produced.length}, delivered ${delivered.length} (${counts.size} distinct), ` +
            `${duplicates.length} duplicates; ${victim.id} delivered ${deliveries([victim]).length} before it stopped`
        )
        expect(producer.produced.length).toBeGreaterThan(200)
        expect(duplicates).toEqual([])
        expect(counts.size).toBe(wanted.size)
        expect([...counts.keys()].filter((v) => !wanted.has(v))).toEqual([])
        const final = yield* leases
        expect(owned(final), "leases still owned once every worker stopped gracefully").toEqual([])
      })), 60_000)
}

// One kinesalite for the file; each test makes its own stream and lease scope.
layer(LocalKinesis.layer(), { excludeTestServices: true, timeout: "30 seconds" })("worker processes sharing a stream", (it) => {
  describe("SQLite lease table", () => storeTests(it, sqlite))
  it.layer(Layer.scoped(Dynalite, startDynalite))("DynamoDB lease table (dynalite)", (it) => storeTests(it, dynamodb))
})
