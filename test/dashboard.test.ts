import { existsSync, mkdirSync } from "node:fs"
import { get, request } from "node:http"
import { createServer } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import type { Browser, Page } from "playwright-core"
import { Checkpoint, CheckpointStore, Codec, DeadLetter, InvalidOption, Kinesis, makeMemoryStore, Metrics, Pipeline } from "../src/index.js"
import { Dashboard, DashboardError, type DashboardSnapshot, DashboardState } from "../src/dashboard/index.js"
import { contentSecurityPolicy, dashboardPage } from "../src/dashboard/page.js"
import { checkpointText } from "../src/dashboard/state.js"
import { MemoryKinesis } from "../src/testing/index.js"

const stateOf = (options: Parameters<typeof DashboardState.make>[0] = {}) => Effect.runSync(DashboardState.make(options))

/** A batch of `sourceRecords` over [t, t + interval), started `delay` after it closed, `processing` long. */
const batch = (batchId: number, t: number, sourceRecords: number, interval: number, delay: number, processing: number) => ({
  batchId,
  records: sourceRecords,
  sourceRecords,
  openedAt: t,
  closedAt: t + interval,
  startedAt: t + interval + delay,
  finishedAt: t + interval + delay + processing
})

describe("DashboardState", () => {
  it("computes input rate, processing time, scheduling delay and total delay per batch (Spark's definitions)", () => {
    const state = stateOf({ now: () => 5_000 })
    state.batchDone({
      batchId: 0,
      records: 40,
      sourceRecords: 50,
      deadLettered: 2,
      filtered: 8,
      openedAt: new Date(1_000),
      closedAt: new Date(1_500),
      startedAt: 1_620,
      finishedAt: new Date(1_900)
    })
    const snap = state.snapshot()
    expect(snap.latest).toEqual({
      batchId: 0,
      records: 40,
      sourceRecords: 50,
      deadLettered: 2,
      filtered: 8,
      openedAt: 1_000,
      closedAt: 1_500,
      startedAt: 1_620,
      finishedAt: 1_900,
      intervalMs: 500,
      inputRate: 100,
      processingMs: 280,
      schedulingDelayMs: 120,
      totalDelayMs: 400
    })
    expect(snap.totals).toEqual({ batches: 1, records: 40, sourceRecords: 50, deadLettered: 2, filtered: 8, errors: 0 })
    // Closed by size in the same millisecond: counted over 1 ms; no records: rate 0; a skipped batch has no id.
    state.batchDone({ batchId: undefined, records: 0, sourceRecords: 0, openedAt: 2_000, closedAt: 2_000, startedAt: 2_000, finishedAt: 2_000 })
    state.batchDone({ batchId: 1, records: 3, sourceRecords: 3, openedAt: 3_000, closedAt: 3_000, startedAt: 3_000, finishedAt: 3_001 })
    expect(state.snapshot().batches.map((b) => [b.batchId, b.inputRate])).toEqual([[0, 100], [null, 0], [1, 3000]])
  })

  it("keeps the last N batches and the last M errors and dead letters; totals count everything", () => {
    const state = stateOf({ maxBatches: 5, maxErrors: 3 })
    for (let i = 0; i < 12; i++) state.batchDone(batch(i, i * 100, i, 100, 0, 10))
    for (let i = 0; i < 7; i++) state.error({ at: i, tag: "Boom", message: `error ${i}` })
    for (let i = 0; i < 4; i++) state.deadLetter({ at: i, kind: "decode", shardId: "s", sequenceNumber: String(i), reason: `bad ${i}` })
    const snap = state.snapshot()
    expect(snap.batches.map((b) => b.batchId)).toEqual([7, 8, 9, 10, 11])
    expect(snap.latest?.batchId).toBe(11)
    expect(snap.totals).toMatchObject({ batches: 12, records: 66, sourceRecords: 66, errors: 7 })
    expect(snap.errors.map((e) => e.message)).toEqual(["error 6", "error 5", "error 4"])
    expect(snap.deadLetters.map((d) => d.sequenceNumber)).toEqual(["3", "2", "1"])
    expect(snap.limits).toEqual({ maxBatches: 5, maxErrors: 3 })
  })

  it("merges shard updates; batches update checkpoints and lag; SHARD_END marks a shard ended", () => {
    const state = stateOf({ now: () => 42 })
    state.shard({ shardId: "shardId-000000000001", owner: "w1" })
    state.shard({ shardId: "shardId-000000000000", owner: "w2", millisBehindLatest: 900 })
    state.batchDone({
      ...batch(0, 0, 5, 100, 0, 5),
      checkpoints: new Map([["shardId-000000000000", Checkpoint.sequence("495", 3)], ["shardId-000000000001", Checkpoint.shardEnd]]),
      millisBehindLatest: new Map([["shardId-000000000000", 0]])
    })
    state.shard({ shardId: "shardId-000000000000", millisBehindLatest: 120 })
    expect(state.snapshot().shards).toEqual([
      { shardId: "shardId-000000000000", owner: "w2", millisBehindLatest: 120, checkpoint: "495/3", state: "reading", updatedAt: 42 },
      { shardId: "shardId-000000000001", owner: "w1", millisBehindLatest: null, checkpoint: "SHARD_END", state: "ended", updatedAt: 42 }
    ])
    state.shard({ shardId: "shardId-000000000000", owner: null, state: "lost" })
    expect(state.snapshot().shards[0]).toMatchObject({ owner: null, state: "lost", checkpoint: "495/3" })
  })

  it("counts leases per worker from shard owners (reading shards), unless fed explicitly; reads lease rows", () => {
    const state = stateOf()
    state.fromLeases([
      { shardId: "a", owner: "w2", counter: 3, checkpoint: Checkpoint.sequence("1"), startAt: "TRIM_HORIZON", parentShardIds: [], childShardIds: [], ownerSwitchesSinceCheckpoint: 0 },
      { shardId: "b", owner: "w1", counter: 1, checkpoint: undefined, startAt: "TRIM_HORIZON", parentShardIds: [], childShardIds: [], ownerSwitchesSinceCheckpoint: 0 },
      { shardId: "c", owner: "w2", counter: 9, checkpoint: Checkpoint.shardEnd, startAt: "LATEST", parentShardIds: [], childShardIds: ["a"], ownerSwitchesSinceCheckpoint: 0 },
      { shardId: "d", owner: undefined, counter: 2, checkpoint: undefined, startAt: "LATEST", parentShardIds: [], childShardIds: [], ownerSwitchesSinceCheckpoint: 0 },
      { shardId: "e", owner: "w2", counter: 1, checkpoint: undefined, startAt: "LATEST", parentShardIds: [], childShardIds: [], ownerSwitchesSinceCheckpoint: 0 }
    ])
    const snap = state.snapshot()
    expect(snap.shards.map((s) => [s.shardId, s.owner, s.checkpoint, s.state])).toEqual([
      ["a", "w2", "1", "reading"],
      ["b", "w1", null, "reading"],
      ["c", "w2", "SHARD_END", "ended"],
      ["d", null, null, "released"],
      ["e", "w2", null, "reading"]
    ])
    expect(snap.leases).toEqual({ source: "shards", workers: [{ worker: "w1", leases: 1 }, { worker: "w2", leases: 2 }] })
    state.leases({ "w9": 4, "w3": 0 })
    expect(state.snapshot().leases).toEqual({ source: "fed", workers: [{ worker: "w3", leases: 0 }, { worker: "w9", leases: 4 }] })
    state.leases(undefined)
    expect(state.snapshot().leases.source).toBe("shards")
  })

  it("snapshots are plain JSON; every change bumps the version and tells the listeners", () => {
    const state = stateOf()
    let heard = 0
    const stop = state.subscribe(() => heard++)
    state.batchDone(batch(0, 0, 1, 10, 1, 1))
    state.error({ tag: "KinesisThrottled", message: "slow down", shardId: "s-1" })
    state.deadLetterRecords([
      {
        streamName: "s",
        shardId: "s-1",
        sequenceNumber: "7",
        subSequenceNumber: 0,
        partitionKey: "k",
        approximateArrivalTimestamp: undefined,
        data: new Uint8Array([1]),
        reason: { kind: "decode", message: "not protobuf", attempts: 1 },
        failedAt: new Date(99)
      }
    ])
    stop()
    state.shard({ shardId: "s-1" })
    expect(heard).toBe(3)
    const snap = state.snapshot()
    expect(snap.version).toBe(4)
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap)
    expect(snap.deadLetters).toEqual([{ at: 99, kind: "decode", shardId: "s-1", sequenceNumber: "7", reason: "not protobuf" }])
    expect(snap.errors[0]).toMatchObject({ tag: "KinesisThrottled", message: "slow down", shardId: "s-1" })
  })

  it.effect("refuses buffer sizes that are not whole numbers >= 1", () =>
    Effect.gen(function* () {
      for (const bad of [{ maxBatches: 0 }, { maxErrors: 1.5 }, { maxBatches: Number.NaN }]) {
        const error = yield* Effect.flip(DashboardState.make(bad))
        expect(error).toBeInstanceOf(InvalidOption)
      }
    }))
})

// ---- HTTP

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: string
}

const fetchText = (url: string, method = "GET") =>
  Effect.async<Reply, Error>((resume) => {
    const req = request(url, { method }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, body })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end()
  })

/** An `/events` client: the snapshots received so far, and whether the server ended the stream. */
const openEvents = (url: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly snapshots: Array<DashboardSnapshot>; readonly raw: Array<string>; ended: boolean; readonly close: () => void }>((resume) => {
      const req = get(`${url}events`, (res) => {
        const client = { snapshots: [] as Array<DashboardSnapshot>, raw: [] as Array<string>, ended: false, close: () => void req.destroy() }
        let buffer = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => {
          buffer += chunk
          let end: number
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            client.raw.push(event)
            const data = /^event: snapshot\ndata: (.*)$/s.exec(event)
            if (data !== null) client.snapshots.push(JSON.parse(data[1]!) as DashboardSnapshot)
          }
        })
        res.on("close", () => (client.ended = true))
        expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8")
        resume(Effect.succeed(client))
      })
    }),
    (client) => Effect.sync(client.close)
  )

const until = (what: string, condition: () => boolean, timeoutMillis = 3_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMillis
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("10 millis")
    }
  })

const portIsFree = (port: number) =>
  Effect.async<boolean>((resume) => {
    const probe = createServer()
    probe.once("error", () => resume(Effect.succeed(false)))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resume(Effect.succeed(true))))
  })

describe("Dashboard.serve", () => {
  it.scopedLive("serves the page with a strict CSP, the snapshot as JSON, and 404 otherwise", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make()
      state.batchDone(batch(0, 1_000, 20, 1_000, 5, 30))
      const server = yield* Dashboard.serve({ port: 0 }, state)
      expect(server.host).toBe("127.0.0.1")
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/`)

      const page = yield* fetchText(server.url)
      expect(page.status).toBe(200)
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8")
      const csp = String(page.headers["content-security-policy"])
      expect(csp).toBe(contentSecurityPolicy)
      expect(csp).toContain("default-src 'none'")
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/)
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/)
      expect(page.body).toBe(dashboardPage)
      // Nothing on the page loads from anywhere: no URLs but the SVG namespace (an identifier, never fetched).
      expect(page.body.replaceAll("http://www.w3.org/2000/svg", "")).not.toMatch(/https?:\/\/|\/\/[a-z]|src=|href=/i)

      const json = yield* fetchText(`${server.url}snapshot.json`)
      expect(json.status).toBe(200)
      expect(json.headers["content-type"]).toBe("application/json; charset=utf-8")
      const snap = JSON.parse(json.body) as DashboardSnapshot
      expect({ ...snap, generatedAt: 0 }).toEqual({ ...state.snapshot(), generatedAt: 0 })

      expect((yield* fetchText(`${server.url}nope`)).status).toBe(404)
      expect((yield* fetchText(`${server.url}snapshot.json`, "POST")).status).toBe(405)
    }))

  it.scopedLive("/events sends the snapshot at connect and on changes, throttled, with heartbeats", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make()
      const server = yield* Dashboard.serve({ port: 0, throttleMillis: 200, heartbeatMillis: 50 }, state)
      const events = yield* openEvents(server.url)
      yield* until("the first snapshot", () => events.snapshots.length === 1)
      expect(events.snapshots[0]!.version).toBe(0)
      expect(server.connections()).toBe(1)

      // A burst of 20 changes: one snapshot at once (the last was 200 ms ago or more)... then one with the rest.
      yield* Effect.sleep("250 millis")
      for (let i = 0; i < 20; i++) state.batchDone(batch(i, i * 10, 1, 10, 0, 1))
      yield* until("the burst's last change", () => events.snapshots.at(-1)?.version === 20)
      expect(events.snapshots.length).toBe(3)
      expect(events.snapshots[1]!.version).toBe(1)
      expect(events.snapshots[2]!.totals.batches).toBe(20)
      yield* until("a heartbeat", () => events.raw.some((e) => e === ": heartbeat"))
    }))

  it.live("closing the scope ends every /events connection and frees the port", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make()
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(Dashboard.serve({ port: 0 }, state), scope)
      const a = yield* Scope.extend(openEvents(server.url), scope)
      const b = yield* Scope.extend(openEvents(server.url), scope)
      yield* until("two connections", () => server.connections() === 2 && a.snapshots.length === 1 && b.snapshots.length === 1)
      expect(yield* portIsFree(server.port)).toBe(false)
      yield* Scope.close(scope, Exit.void)
      yield* until("the streams to end", () => a.ended && b.ended)
      expect(server.connections()).toBe(0)
      expect(yield* portIsFree(server.port)).toBe(true)
      state.batchDone(batch(0, 0, 1, 1, 1, 1)) // no listener left to write to a closed connection
    }))

  it.scopedLive("validates port and host; a port in use is a DashboardError", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make()
      for (const options of [{ port: -1 }, { port: 65_536 }, { port: 80.5 }, { port: 0, host: "not a host" }, { port: 0, host: "" }]) {
        const error = yield* Effect.flip(Dashboard.serve(options, state))
        expect(error).toBeInstanceOf(InvalidOption)
        expect(error.message).toMatch(/dashboard\.(port|host)/)
      }
      const taken = yield* Dashboard.serve({ port: 0, host: "localhost" }, state)
      expect(taken.url).toBe(`http://localhost:${taken.port}/`)
      const error = yield* Effect.flip(Dashboard.serve({ port: taken.port, host: "localhost" }, state))
      expect(error).toBeInstanceOf(DashboardError)
      expect(error.message).toContain("EADDRINUSE")
    }))
})

// ---- In a browser

const chromiumPath = "/usr/bin/chromium"
const hasChromium = existsSync(chromiumPath)
if (!hasChromium) {
  console.warn(`dashboard browser tests skipped: ${chromiumPath} is missing (apt-get install chromium; .ci/run installs it)`)
}

const int = (n: number) => Math.round(n).toLocaleString("en-US")
const dec = (n: number) => n.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })

const launch = Effect.acquireRelease(
  Effect.promise(async () => {
    const { chromium } = await import("playwright-core")
    return chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"], headless: true })
  }),
  (browser: Browser) => Effect.promise(() => browser.close())
)

/** A page, with every console error and CSP violation it reports collected. */
const openPage = (browser: Browser, url: string) =>
  Effect.promise(async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } })
    const problems: Array<string> = []
    page.on("console", (m) => void (m.type() === "error" && problems.push(m.text())))
    page.on("pageerror", (e) => void problems.push(e.message))
    await page.goto(url)
    return { page, problems }
  })

const text = (page: Page, selector: string) => Effect.promise(async () => ((await page.locator(selector).first().textContent()) ?? "").trim())
const texts = (page: Page, selector: string) => Effect.promise(() => page.locator(selector).allTextContents())

/** What the page's functions touch in the browser (the test is compiled without the DOM library). */
interface BrowserGlobals {
  readonly document: { readonly body: { getAttribute(name: string): string | null } }
  marker?: number
}

/** Waits for the page to show the state's current version. */
const caughtUp = (page: Page, state: DashboardState) =>
  Effect.promise(() =>
    page.waitForFunction(
      (version) => (globalThis as unknown as BrowserGlobals).document.body.getAttribute("data-version") === String(version),
      state.snapshot().version,
      { timeout: 5_000 }
    )
  )

/** Every number the page shows, checked against the snapshot it should be showing. */
const expectPageShows = (page: Page, snap: DashboardSnapshot) =>
  Effect.gen(function* () {
    const n = snap.batches.length
    // The charts: one point (bar) per batch kept.
    expect(yield* Effect.promise(() => page.locator("[data-testid=chart-input-rate-bars] rect.bar").count())).toBe(n)
    for (const chart of ["chart-processing-time", "chart-scheduling-delay"]) {
      const line = page.locator(`[data-testid=${chart}-line]`)
      expect(yield* Effect.promise(() => line.getAttribute("data-points"))).toBe(String(n))
      const d = (yield* Effect.promise(() => line.getAttribute("d"))) ?? ""
      expect(d.match(/[ML]/g)?.length).toBe(n)
    }
    const t = snap.totals
    expect(yield* text(page, "[data-testid=total-batches]")).toBe(int(t.batches))
    expect(yield* text(page, "[data-testid=total-records]")).toBe(int(t.records))
    expect(yield* text(page, "[data-testid=total-source-records]")).toBe(int(t.sourceRecords))
    expect(yield* text(page, "[data-testid=total-dead-letters]")).toBe(int(t.deadLettered))
    expect(yield* text(page, "[data-testid=total-errors]")).toBe(int(t.errors))
    const last = snap.latest!
    expect(yield* text(page, "[data-testid=last-batch-id]")).toBe(String(last.batchId))
    expect(yield* text(page, "[data-testid=last-records]")).toBe(int(last.sourceRecords))
    expect(yield* text(page, "[data-testid=last-input-rate]")).toBe(dec(last.inputRate))
    expect(yield* text(page, "[data-testid=last-processing-ms]")).toBe(int(last.processingMs))
    expect(yield* text(page, "[data-testid=last-scheduling-delay-ms]")).toBe(int(last.schedulingDelayMs))
    expect(yield* text(page, "[data-testid=last-total-delay-ms]")).toBe(int(last.totalDelayMs))
    expect(yield* text(page, "[data-testid=latest-processing-time]")).toBe(`${int(last.processingMs)} ms`)

    expect(yield* texts(page, "#shards tbody [data-testid=shard-id]")).toEqual(snap.shards.map((s) => s.shardId))
    for (const s of snap.shards) {
      const row = `#shards tr[data-shard="${s.shardId}"]`
      expect(yield* text(page, `${row} [data-testid=shard-owner]`)).toBe(s.owner ?? "\u2013")
      expect(yield* text(page, `${row} [data-testid=shard-lag]`)).toBe(s.millisBehindLatest === null ? "\u2013" : int(s.millisBehindLatest))
      expect(yield* text(page, `${row} [data-testid=shard-checkpoint]`)).toBe(s.checkpoint ?? "\u2013")
      expect(yield* text(page, `${row} [data-testid=shard-state]`)).toBe(s.state)
    }
    expect(yield* texts(page, "#leases [data-testid=lease-worker]")).toEqual(snap.leases.workers.map((w) => w.worker))
    expect(yield* texts(page, "#leases [data-testid=lease-count]")).toEqual(snap.leases.workers.map((w) => String(w.leases)))
    expect(yield* texts(page, "#errors [data-testid=error-message]")).toEqual(snap.errors.map((e) => e.message))
    expect(yield* texts(page, "#dead-letters [data-testid=dead-letter-reason]")).toEqual(snap.deadLetters.map((d) => d.reason))
  })

const shardIds = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"]

/** Feeds `count` batches as a 4-shard, 2-worker consumer would: timings, checkpoints, lags. */
const feed = (state: DashboardState, from: number, count: number, start: number) => {
  for (let i = from; i < from + count; i++) {
    const records = 200 + ((i * 137) % 300)
    const t = start + i * 1_000
    state.batchDone({
      ...batch(i, t, records, 1_000, (i % 5) * 40, 150 + ((i * 53) % 400)),
      records: records - (i % 3),
      filtered: i % 3,
      checkpoints: new Map(shardIds.map((s, k) => [s, Checkpoint.sequence(`4959${String(1000 + i * 10 + k).padStart(6, "0")}`)])),
      millisBehindLatest: new Map(shardIds.map((s, k) => [s, (i * 97 + k * 311) % 5_000]))
    })
  }
}

describe.skipIf(!hasChromium)("the dashboard page in headless Chromium", () => {
  it.scopedLive("renders a running consumer's batches, shards, leases and errors, matches the snapshot, and updates without reload", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make({ maxBatches: 40 })
      shardIds.forEach((shardId, k) => state.shard({ shardId, owner: k < 3 ? "worker-a" : "worker-b" }))
      const start = Date.now() - 60_000
      feed(state, 0, 12, start)
      state.error({ tag: "KinesisThrottled", message: "Rate exceeded for shard shardId-000000000002", shardId: shardIds[2] })
      state.deadLetter({ kind: "decode", shardId: shardIds[1]!, sequenceNumber: "49591000011", reason: "invalid wire type 7 at offset 3" })
      const server = yield* Dashboard.serve({ port: 0 }, state)
      const browser = yield* launch
      const { page, problems } = yield* openPage(browser, server.url)

      yield* Effect.promise(() => page.waitForSelector("[data-testid=chart-processing-time-line][data-points='12']", { timeout: 5_000 }))
      yield* caughtUp(page, state)
      expect(yield* text(page, "[data-testid=connection]")).toBe("live")
      yield* expectPageShows(page, state.snapshot())

      // More batches, a lost lease and a new error: the page follows over SSE, no reload.
      yield* Effect.promise(() => page.evaluate(() => void ((globalThis as unknown as BrowserGlobals).marker = 1)))
      feed(state, 12, 8, start)
      state.shard({ shardId: shardIds[3]!, owner: "worker-a" })
      state.shard({ shardId: shardIds[0]!, owner: null, state: "lost" })
      state.error({ tag: "LeaseLost", message: "Lease lost: worker-a cannot renew shard shardId-000000000000", shardId: shardIds[0] })
      yield* Effect.promise(() => page.waitForSelector("[data-testid=chart-processing-time-line][data-points='20']", { timeout: 5_000 }))
      yield* caughtUp(page, state)
      expect(yield* Effect.promise(() => page.evaluate(() => (globalThis as unknown as BrowserGlobals).marker))).toBe(1)
      const snap = state.snapshot()
      yield* expectPageShows(page, snap)
      expect(snap.leases.workers).toEqual([{ worker: "worker-a", leases: 3 }])
      expect(yield* text(page, "#errors [data-testid=error-message]")).toBe("Lease lost: worker-a cannot renew shard shardId-000000000000")

      mkdirSync("test-output", { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: "test-output/dashboard.png", fullPage: true }))
      console.log("dashboard screenshot: test-output/dashboard.png")
      expect(problems).toEqual([])
    }), 20_000)

  it.scopedLive("falls back to polling /snapshot.json", () =>
    Effect.gen(function* () {
      const state = yield* DashboardState.make()
      feed(state, 0, 3, Date.now() - 10_000)
      const server = yield* Dashboard.serve({ port: 0 }, state)
      const browser = yield* launch
      const { page, problems } = yield* openPage(browser, `${server.url}?mode=poll`)
      yield* caughtUp(page, state)
      expect(yield* text(page, "[data-testid=connection]")).toBe("polling")
      expect(server.connections()).toBe(0)
      feed(state, 3, 1, Date.now() - 10_000)
      yield* caughtUp(page, state)
      yield* expectPageShows(page, state.snapshot())
      expect(problems).toEqual([])
    }), 20_000)

  it.scopedLive("a pipeline run with `dashboard: { port }`: the page shows it as it runs, and its numbers match the run's metrics", () =>
    Effect.gen(function* () {
      const browser = yield* launch
      const memory = yield* MemoryKinesis
      // A stream of its own: the metrics registry is per process, so this run's series are told apart by stream.
      const streamName = `clicks-dashboard-${Date.now()}`
      yield* memory.createStream(streamName, 2)
      const kinesis = yield* Kinesis
      const written = { count: 0 }
      const put = (n: number) =>
        Effect.gen(function* () {
          yield* kinesis.putRecords({
            StreamName: streamName,
            Records: Array.from({ length: n }, (_, i) => ({
              PartitionKey: `user-${written.count + i}`,
              // Every 10th record is not UTF-8: a dead letter.
              Data: (written.count + i) % 10 === 9 ? Uint8Array.of(0xff, 0xfe) : new TextEncoder().encode(`click ${written.count + i}`)
            }))
          })
          written.count += n
        })
      const listening = yield* Deferred.make<string>()
      const checked = yield* Deferred.make<void>()
      const page = yield* Effect.gen(function* () {
        const url = yield* Deferred.await(listening)
        return yield* openPage(browser, url)
      }).pipe(Effect.fork)
      const store = yield* makeMemoryStore()
      const run = yield* Pipeline.fromKinesis({
        streamName,
        codec: Codec.utf8,
        batchInterval: "100 millis",
        reader: { pollDelay: "200 millis", noRecordsPollDelay: "200 millis" }
      }).pipe(
        Pipeline.foreachBatch((b) => (b.records.length > 0 ? Effect.sleep("15 millis") : Effect.void), {
          stopWhen: Deferred.await(checked),
          // Only batches with records: once every record is in, nothing moves while the test compares.
          skipEmptyBatches: true,
          dashboard: { port: 0, onListening: (url) => Deferred.succeed(listening, url) }
        }),
        Effect.provideService(CheckpointStore, store),
        Effect.provide(Layer.succeed(DeadLetter, { name: "discard", send: () => Effect.void })),
        Effect.fork
      )
      const { page: browserPage, problems } = yield* Fiber.join(page)
      yield* Effect.promise(() => browserPage.waitForSelector("[data-testid=connection].live", { timeout: 5_000 }))
      for (let round = 0; round < 4; round++) {
        yield* put(15)
        yield* Effect.sleep("450 millis")
      }
      // The page catches up with the last batch (the run goes on until the test is done with the page).
      yield* Effect.promise(() => browserPage.waitForFunction(
        () => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector("[data-testid=total-source-records]")?.textContent === "60",
        undefined,
        { timeout: 5_000 }
      ))
      const shown = {
        batches: Number((yield* text(browserPage, "[data-testid=total-batches]")).replace(/,/g, "")),
        sourceRecords: Number((yield* text(browserPage, "[data-testid=total-source-records]")).replace(/,/g, "")),
        deadLetters: Number((yield* text(browserPage, "[data-testid=total-dead-letters]")).replace(/,/g, "")),
        bars: yield* Effect.promise(() => browserPage.locator("[data-testid=chart-input-rate-bars] rect.bar").count()),
        checkpoints: Object.fromEntries(yield* Effect.forEach(["shardId-000000000000", "shardId-000000000001"], (shardId) =>
          Effect.map(text(browserPage, `#shards tr[data-shard="${shardId}"] [data-testid=shard-checkpoint]`), (t) => [shardId, t] as const)))
      }
      // The same numbers, as the run's metrics count them (read at the same moment: the run is still going).
      const points = (yield* Metrics.snapshot()).filter((p) => p.labels["stream"] === streamName)
      const total = (name: string) => points.filter((p) => p.name === name).reduce((n, p) => n + (p.type === "counter" ? p.value : 0), 0)
      expect(shown.sourceRecords).toBe(total("shardline_records_in_total"))
      expect(shown.batches).toBe(total("shardline_batches_total"))
      expect(shown.deadLetters).toBe(total("shardline_dead_letters_total"))
      expect(shown.deadLetters).toBe(6)
      expect(shown.bars).toBe(shown.batches)
      // The records came in rounds: the timeline has several batches.
      expect(shown.batches).toBeGreaterThanOrEqual(3)
      const saved = yield* store.load({ applicationName: "shardline", streamName })
      for (const [shardId, checkpoint] of saved) expect(shown.checkpoints[shardId]).toBe(checkpointText(checkpoint))
      yield* Effect.promise(() => browserPage.screenshot({ path: "test-output/dashboard-pipeline.png", fullPage: true }))
      console.log("dashboard screenshot (real pipeline): test-output/dashboard-pipeline.png")
      yield* Deferred.succeed(checked, undefined)
      const summary = yield* Fiber.join(run)
      expect(summary.records).toBe(written.count)
      expect(summary.deadLettered).toBe(6)
      expect(problems).toEqual([])
    }).pipe(Effect.provide(MemoryKinesis.layer())), 20_000)
})
