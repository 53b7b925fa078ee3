import { createServer as createHttpServer } from "node:http"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { toBinary } from "@bufbuild/protobuf"
import { Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ClickstreamEventSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { randomEvent, seededRandom } from "../examples/clickstream/events.js"
import { Checkpoint } from "../src/checkpoint/index.js"
import { errorLine, main } from "../src/cli/index.js"
import { makeProgress, type Writer } from "../src/cli/progress.js"
import { encodeDeadLetter } from "../src/deadletter/jsonl.js"
import { Kinesis, KinesisAccessDenied, type KinesisApi } from "../src/kinesis/index.js"
import { LeaseStore } from "../src/lease/index.js"
import { LocalKinesis, type LocalKinesisInstance } from "../src/local/index.js"
import { dynamoOptions, startDynalite } from "./support/dynalite.js"
import { runScript } from "./support/runScript.js"

/** A writer that keeps what is written. */
const buffer = (isTTY = false, columns?: number) => {
  const chunks: Array<string> = []
  const writer: Writer = { write: (text) => void chunks.push(text), isTTY, columns }
  return { writer, chunks, text: () => chunks.join("") }
}

/** Runs the CLI in this process with piped (non-TTY) output. */
const run = async (args: ReadonlyArray<string>) => {
  const out = buffer()
  const err = buffer()
  const code = await main(args, { out: out.writer, err: err.writer })
  const lines = (text: string) => text.split("\n").filter((l) => l !== "")
  return { code, out: lines(out.text()), err: lines(err.text()), rawOut: out.text(), rawErr: err.text() }
}

describe("progress", () => {
  it("on a TTY rewrites one status line with \\r, keeps data lines above it, and ends with a final line", () => {
    let now = 0
    const out = buffer(true)
    const err = buffer(true, 40)
    const progress = makeProgress({ out: out.writer, err: err.writer, now: () => now, minIntervalMs: 100 })
    progress.status("1/3 records", true)
    progress.line("record one")
    now += 50
    progress.status("2/3 records") // too soon: not drawn
    now += 100
    progress.status("3/3 records")
    progress.done("tail: 3 records")
    expect(out.text()).toBe("record one\n")
    const written = err.text()
    expect(written).toContain("\r\x1b[K1/3 records")
    expect(written).not.toContain("2/3")
    expect(written).toContain("\r\x1b[K3/3 records")
    // the status line is cleared before the data line and drawn again after it
    expect(err.chunks.slice(0, 3)).toEqual(["\r\x1b[K1/3 records", "\r\x1b[K", "\r\x1b[K1/3 records"])
    expect(written.endsWith("\r\x1b[Ktail: 3 records\n")).toBe(true)
  })

  it("piped, writes whole lines only: no \\r, no status", () => {
    const out = buffer(false)
    const err = buffer(false)
    const progress = makeProgress({ out: out.writer, err: err.writer })
    progress.status("1/2", true)
    progress.line("a")
    progress.note("warning: b")
    progress.status("2/2", true)
    progress.done("tail: 2 records")
    expect(out.text()).toBe("a\n")
    expect(err.text()).toBe("warning: b\ntail: 2 records\n")
  })

  it("a status held back by the throttle shows with the next data line", () => {
    const out = buffer(true)
    const err = buffer(true)
    const progress = makeProgress({ out: out.writer, err: err.writer, now: () => 0 })
    progress.status("1 record", true)
    progress.status("2 records") // same instant: held back
    expect(err.text()).not.toContain("2 records")
    progress.line("record two")
    expect(err.chunks.at(-1)).toBe("\r\x1b[K2 records")
  })

  it("cuts a status line to the terminal's width", () => {
    const err = buffer(true, 10)
    makeProgress({ out: buffer().writer, err: err.writer }).status("0123456789abcdef", true)
    expect(err.text()).toBe("\r\x1b[K01234567…")
  })
})

describe("the shardline CLI against kinesalite", () => {
  let scope: Scope.CloseableScope
  let local: LocalKinesisInstance
  let api: KinesisApi
  const folder = mkdtempSync(join(tmpdir(), "shardline-cli-"))
  const schema = "gen/shardline/examples/clickstream/v1/clickstream_pb.ts#ClickstreamEventSchema"
  const random = seededRandom(7)
  const event = (i: number) => toBinary(ClickstreamEventSchema, randomEvent(random, Date.now(), i))
  const put = (stream: string, key: string, data: Uint8Array) =>
    Effect.runPromise(api.putRecord({ StreamName: stream, PartitionKey: key, Data: data }))
  const countRecords = (stream: string) =>
    Effect.runPromise(Effect.gen(function* () {
      const shards = (yield* api.listShards({ StreamName: stream })).Shards ?? []
      let n = 0
      for (const shard of shards) {
        const it = yield* api.getShardIterator({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })
        n += ((yield* api.getRecords({ ShardIterator: it.ShardIterator! })).Records ?? []).length
      }
      return n
    }))

  beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(
      Layer.buildWithScope(LocalKinesis.layer({
        streams: [{ name: "clicks", shardCount: 2 }, { name: "latest", shardCount: 1 }, { name: "mixed", shardCount: 1 }, { name: "replayed", shardCount: 1 }]
      }), scope)
    )
    local = context.unsafeMap.get(LocalKinesis.key) as LocalKinesisInstance
    api = context.unsafeMap.get(Kinesis.key) as KinesisApi
    for (let i = 0; i < 8; i++) await put("clicks", `session-${i}`, event(i))
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(folder, { recursive: true, force: true })
  })

  it("tail --count 5 --schema prints 5 lines: shard, sequence number, key, arrival time, protobuf JSON", async () => {
    const result = await run(["tail", "--stream", "clicks", "--schema", schema, "--count", "5", "--endpoint", local.endpoint])
    expect(result.code).toBe(0)
    expect(result.out).toHaveLength(5)
    for (const line of result.out) {
      const [shard, sequence, key, arrival, value, ...rest] = line.split("\t")
      expect(rest).toEqual([])
      expect(shard).toMatch(/^shardId-00000000000[01]$/)
      expect(sequence).toMatch(/^\d{20,}$/)
      expect(key).toMatch(/^session-\d$/)
      expect(new Date(arrival!).toISOString()).toBe(arrival)
      const json = JSON.parse(value!)
      expect(json.eventId).toMatch(/^evt-\d$/)
      expect(json.tenant).toBe("demo")
    }
    expect(result.rawOut).not.toContain("\r")
    expect(result.err).toEqual(["tail: 5 records"])
  })

  it("tail --from latest prints only records put after it started", async () => {
    await put("latest", "old-1", new TextEncoder().encode("before"))
    const tail = run(["tail", "--stream", "latest", "--from", "latest", "--count", "2", "--endpoint", local.endpoint])
    let finished = false
    void tail.then(() => (finished = true))
    // The reader takes its LATEST iterator a moment after the start: keep putting until it has seen two.
    for (let i = 0; !finished && i < 40; i++) {
      await put("latest", `new-${i}`, new TextEncoder().encode(`after ${i}`))
      await new Promise((r) => setTimeout(r, 250))
    }
    const result = await tail
    expect(result.code).toBe(0)
    expect(result.out).toHaveLength(2)
    for (const line of result.out) {
      expect(line.split("\t")[2]).toMatch(/^new-\d+$/)
      expect(line.split("\t")[4]).toMatch(/^after \d+$/)
    }
  })

  it("tail of a missing stream exits 1 with one clear line", async () => {
    const result = await run(["tail", "--stream", "no-such-stream", "--endpoint", local.endpoint])
    expect(result.code).toBe(1)
    expect(result.out).toEqual([])
    expect(result.err).toHaveLength(1)
    expect(result.err[0]).toMatch(/^shardline: Invalid option streamName: got "no-such-stream"; expected a stream that exists in region us-east-1 at endpoint http:\/\/127\.0\.0\.1:\d+/)
  })

  it("a schema that does not match the bytes: a warning line per bad record, and tail goes on (--strict stops)", async () => {
    await put("mixed", "good-1", event(100))
    await put("mixed", "bad-1", new Uint8Array([0x0f, 0x01])) // wire type 7: not protobuf
    await put("mixed", "good-2", event(101))
    const result = await run(["tail", "--stream", "mixed", "--schema", schema, "--count", "2", "--endpoint", local.endpoint])
    expect(result.code).toBe(0)
    expect(result.out.map((l) => l.split("\t")[2])).toEqual(["good-1", "good-2"])
    const warnings = result.err.filter((l) => l.startsWith("warning: "))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^warning: Cannot decode record \d+ of shard shardId-000000000000 as protobuf:shardline\.examples\.clickstream\.v1\.ClickstreamEvent \(2 bytes\): .+; skipped$/)
    expect(result.err.at(-1)).toBe("tail: 2 records, 1 could not be decoded")

    const strict = await run(["tail", "--stream", "mixed", "--schema", schema, "--count", "3", "--strict", "--endpoint", local.endpoint])
    expect(strict.code).toBe(1)
    expect(strict.err.at(-1)).toMatch(/^shardline: Cannot decode record \d+ of shard shardId-000000000000 as protobuf:/)
  })

  it("--schema errors say what to fix", async () => {
    const missing = await run(["tail", "--stream", "clicks", "--schema", "gen/shardline/examples/clickstream/v1/clickstream_pb.ts#Nope", "--endpoint", local.endpoint])
    expect(missing.code).toBe(1)
    expect(missing.err).toHaveLength(1)
    expect(missing.err[0]).toMatch(/has no export Nope; it exports .*ClickstreamEventSchema/)
    const noHash = await run(["tail", "--stream", "clicks", "--schema", "gen/x_pb.js", "--endpoint", local.endpoint])
    expect(noHash.err[0]).toContain("expected module#Export")
    const from = await run(["tail", "--stream", "clicks", "--from", "yesterday", "--endpoint", local.endpoint])
    expect(from.code).toBe(1)
    expect(from.err[0]).toContain("Invalid option --from")
  })

  it("replay puts a dead-letter file's records back (only the kind asked for)", async () => {
    const letter = (kind: string, key: string) =>
      encodeDeadLetter({
        streamName: "clicks",
        shardId: "shardId-000000000000",
        sequenceNumber: "1",
        subSequenceNumber: 0,
        partitionKey: key,
        approximateArrivalTimestamp: new Date(),
        data: new TextEncoder().encode(key),
        reason: { kind, message: "test", attempts: 1 },
        failedAt: new Date()
      })
    const file = join(folder, "dead-letters.jsonl")
    writeFileSync(file, [letter("decode", "a"), letter("sink", "b"), letter("decode", "c")].join("\n") + "\n")
    const result = await run(["replay", "--dead-letter", file, "--stream", "replayed", "--filter-kind", "decode", "--endpoint", local.endpoint])
    expect(result.code).toBe(0)
    expect(result.out).toEqual([`replayed 2 records (reason decode) from ${file} into replayed`])
    expect(await countRecords("replayed")).toBe(2)
    const tail = await run(["tail", "--stream", "replayed", "--count", "2", "--endpoint", local.endpoint])
    expect(tail.out.map((l) => l.split("\t").slice(2, 3).concat(l.split("\t")[4]!))).toEqual([["a", "a"], ["c", "c"]])

    const missing = await run(["replay", "--dead-letter", join(folder, "nope.jsonl"), "--stream", "replayed"])
    expect(missing.code).toBe(2)
  })

  it("runs as a subprocess (tsx src/cli/bin.ts), piped: --help lists the commands, tail writes lines without \\r", async () => {
    const help = await runScript("src/cli/bin.ts", ["--help"])
    expect(help.code).toBe(0)
    const text = help.lines.join("\n")
    for (const command of ["tail", "leases", "replay", "demo"]) expect(text).toMatch(new RegExp(`- ${command} `))
    expect(text).not.toContain("\x1b[")
    const tail = await runScript("src/cli/bin.ts", ["tail", "--stream", "clicks", "--schema", schema, "--count", "3", "--endpoint", local.endpoint])
    expect(tail.code).toBe(0)
    expect(tail.lines).toHaveLength(3)
    expect(tail.lines.join("\n")).not.toContain("\r")
    expect(tail.stderr).toBe("tail: 3 records\n")
  })

  it("follows new records until Ctrl-C, then stops gracefully and exits 0", async () => {
    let interrupted = false
    const result = await runScript("src/cli/bin.ts", ["tail", "--stream", "clicks", "--endpoint", local.endpoint], (line, child) => {
      if (!interrupted) {
        interrupted = true
        setTimeout(() => child.kill("SIGINT"), 500)
      }
    })
    expect(interrupted).toBe(true)
    expect(result.code).toBe(0)
    expect(result.signal).toBeNull()
    expect(result.lines.length).toBeGreaterThanOrEqual(8)
    expect(result.stderr).toMatch(/^tail: \d+ records\n$/)
  })
})

describe("error lines", () => {
  it("bad credentials against a real HTTP service: exit 1 with one line, the credentials named, no secret", async () => {
    // A service that refuses every call as Kinesis does a key it does not know.
    const server = createHttpServer((req, res) => {
      req.resume()
      req.on("end", () => {
        res.writeHead(400, { "content-type": "application/x-amz-json-1.1" })
        res.end(JSON.stringify({ __type: "UnrecognizedClientException", message: "The security token included in the request is invalid." }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as { port: number }
      const result = await run(["tail", "--stream", "orders", "--endpoint", `http://127.0.0.1:${port}`, "--count", "1"])
      expect(result.code).toBe(1)
      expect(result.out).toEqual([])
      expect(result.err).toHaveLength(1)
      expect(result.err[0]).toMatch(/^shardline: Kinesis \w+ \(stream orders\) in region us-east-1: the service did not accept the AWS credentials in use/)
      expect(result.rawErr).not.toContain("Signature=")
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })


  it("bad credentials: the core's KinesisAccessDenied message, on one line", () => {
    const error = new KinesisAccessDenied({
      operation: "DescribeStreamSummary",
      streamName: "orders",
      region: "eu-west-1",
      errorName: "UnrecognizedClientException",
      kind: "InvalidCredentials",
      cause: new Error("The security token included in the request is invalid.")
    })
    const line = errorLine(error)!
    expect(line).toMatch(/^shardline: Kinesis DescribeStreamSummary \(stream orders\) in region eu-west-1: the service did not accept the AWS credentials in use/)
    expect(line).not.toContain("\n")
  })
})

describe("shardline demo", () => {
  it("runs the clickstream demo: batch lines, then the summary", async () => {
    const result = await run(["demo", "--seconds", "3", "--rate", "200"])
    expect(result.code).toBe(0)
    expect(result.out[0]).toBe("shardline demo: embedded Kinesis emulator, stream shardline-clickstream with 4 shards")
    expect(result.out.filter((l) => /^batch +\d+ \| +\d+ records \|/.test(l)).length).toBeGreaterThanOrEqual(2)
    expect(result.out.at(-1)).toMatch(/^done: \d+ batches, \d+ records in [\d.]+ s/)
    expect(result.rawErr).toBe("")
  })
})

describe("shardline leases", () => {
  const folder = mkdtempSync(join(tmpdir(), "shardline-cli-leases-"))
  afterAll(() => rmSync(folder, { recursive: true, force: true }))

  it("lists a SQLite lease table: shard, owner, counter, checkpoint, parents, state", async () => {
    const path = join(folder, "leases.db")
    const scope = { applicationName: "orders-app", streamName: "orders" }
    await Effect.runPromise(Effect.gen(function* () {
      const store = yield* LeaseStore
      yield* store.create(scope, { shardId: "shardId-000000000000", startAt: "TRIM_HORIZON", parentShardIds: [] })
      yield* store.create(scope, { shardId: "shardId-000000000001", startAt: "TRIM_HORIZON", parentShardIds: ["shardId-000000000000"] })
      yield* store.create(scope, { shardId: "shardId-000000000002", startAt: "TRIM_HORIZON", parentShardIds: [] })
      const taken = yield* store.take(scope, "shardId-000000000000", { owner: undefined, counter: 0 }, "worker-a")
      yield* store.checkpoint(scope, { shardId: taken.shardId, owner: "worker-a", counter: taken.counter }, Checkpoint.shardEnd, ["shardId-000000000001"])
      const child = yield* store.take(scope, "shardId-000000000001", { owner: undefined, counter: 0 }, "worker-b")
      yield* store.checkpoint(scope, { shardId: child.shardId, owner: "worker-b", counter: child.counter }, Checkpoint.sequence("4960"))
    }).pipe(Effect.provide(LeaseStore.layerSqlite({ path }))))

    const result = await run(["leases", "--store", "sqlite", "--sqlite-path", path, "--application", "orders-app", "--stream", "orders"])
    expect(result.code).toBe(0)
    expect(result.out.map((l) => l.split(/ {2,}/))).toEqual([
      ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE"],
      ["shardId-000000000000", "worker-a", "1", "SHARD_END", "-", "ended"],
      ["shardId-000000000001", "worker-b", "1", "4960", "shardId-000000000000", "owned"],
      ["shardId-000000000002", "-", "0", "-", "-", "available"]
    ])

    const json = await run(["leases", "--store", "sqlite", "--sqlite-path", path, "--application", "orders-app", "--stream", "orders", "--json"])
    expect(json.out.map((l) => JSON.parse(l))).toMatchObject([
      { shardId: "shardId-000000000000", owner: "worker-a", counter: 1, checkpoint: "SHARD_END", parents: [], state: "ended" },
      { shardId: "shardId-000000000001", owner: "worker-b", checkpoint: "4960", parents: ["shardId-000000000000"], state: "owned" },
      { shardId: "shardId-000000000002", owner: null, checkpoint: null, state: "available" }
    ])
  })

  it("without --stream lists every scope's leases under a header line each; --stream and --application filter", async () => {
    const path = join(folder, "two-streams.db")
    const orders = { applicationName: "orders-app", streamName: "orders" }
    const clicks = { applicationName: "orders-app", streamName: "clicks" }
    const audit = { applicationName: "audit-app", streamName: "orders" }
    await Effect.runPromise(Effect.gen(function* () {
      const store = yield* LeaseStore
      yield* store.create(orders, { shardId: "shardId-000000000000", startAt: "TRIM_HORIZON", parentShardIds: [] })
      yield* store.create(orders, { shardId: "shardId-000000000001", startAt: "TRIM_HORIZON", parentShardIds: [] })
      yield* store.create(clicks, { shardId: "shardId-000000000007", startAt: "LATEST", parentShardIds: [] })
      yield* store.take(clicks, "shardId-000000000007", { owner: undefined, counter: 0 }, "worker-with-a-long-name")
      yield* store.create(audit, { shardId: "shardId-000000000000", startAt: "LATEST", parentShardIds: [] })
    }).pipe(Effect.provide(LeaseStore.layerSqlite({ path }))))
    const sqlite = ["leases", "--store", "sqlite", "--sqlite-path", path]

    const all = await run(sqlite)
    expect(all.code).toBe(0)
    // Scopes in application then stream order; the columns aligned across the groups.
    expect(all.rawOut).toBe([
      "application audit-app, stream orders",
      "SHARD                 OWNER                    COUNTER  CHECKPOINT  PARENTS  STATE",
      "shardId-000000000000  -                        0        -           -        available",
      "",
      "application orders-app, stream clicks",
      "SHARD                 OWNER                    COUNTER  CHECKPOINT  PARENTS  STATE",
      "shardId-000000000007  worker-with-a-long-name  1        -           -        owned",
      "",
      "application orders-app, stream orders",
      "SHARD                 OWNER                    COUNTER  CHECKPOINT  PARENTS  STATE",
      "shardId-000000000000  -                        0        -           -        available",
      "shardId-000000000001  -                        0        -           -        available",
      ""
    ].join("\n"))

    const json = await run([...sqlite, "--json"])
    expect(json.out.map((l) => JSON.parse(l))).toMatchObject([
      { application: "audit-app", stream: "orders", shardId: "shardId-000000000000", owner: null, state: "available" },
      { application: "orders-app", stream: "clicks", shardId: "shardId-000000000007", owner: "worker-with-a-long-name", counter: 1, state: "owned" },
      { application: "orders-app", stream: "orders", shardId: "shardId-000000000000" },
      { application: "orders-app", stream: "orders", shardId: "shardId-000000000001" }
    ])

    // A stream two applications read: both, under their headers.
    const ordersStream = await run([...sqlite, "--stream", "orders"])
    expect(ordersStream.out.filter((l) => l.startsWith("application "))).toEqual([
      "application audit-app, stream orders",
      "application orders-app, stream orders"
    ])
    expect(ordersStream.out.filter((l) => l.startsWith("shardId-"))).toHaveLength(3)
    // A stream one application reads: the plain table, as with both filters.
    const clicksStream = await run([...sqlite, "--stream", "clicks"])
    expect(clicksStream.out.map((l) => l.split(/ {2,}/))).toEqual([
      ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE"],
      ["shardId-000000000007", "worker-with-a-long-name", "1", "-", "-", "owned"]
    ])
    const clicksJson = await run([...sqlite, "--stream", "clicks", "--json"])
    expect(clicksJson.out.map((l) => JSON.parse(l))).toMatchObject([{ application: "orders-app", stream: "clicks", shardId: "shardId-000000000007" }])
    const application = await run([...sqlite, "--application", "orders-app"])
    expect(application.out.filter((l) => l.startsWith("application "))).toEqual([
      "application orders-app, stream clicks",
      "application orders-app, stream orders"
    ])

    const none = await run([...sqlite, "--stream", "payments"])
    expect(none.code).toBe(0)
    expect(none.out).toEqual([])
    expect(none.err).toEqual(["no leases for stream payments in the sqlite lease table"])
    const empty = join(folder, "empty.db")
    await Effect.runPromise(Effect.provide(Effect.void, LeaseStore.layerSqlite({ path: empty })))
    expect((await run(["leases", "--store", "sqlite", "--sqlite-path", empty])).err).toEqual(["no leases in the sqlite lease table"])
  })

  it("documents --stream and --application as optional filters in --help", async () => {
    const help = await run(["leases", "--help"])
    expect(help.code).toBe(0)
    const text = help.out.join("\n")
    expect(text).toContain("[--application text] [--stream text]")
    expect(text).toContain("Only this stream's leases; without it, every stream's")
    expect(text).toContain("a header line per application and stream")
  })

  it("lists a DynamoDB lease table, and does not create one that is not there", async () => {
    const scope = Effect.runSync(Scope.make())
    try {
      const { endpoint } = await Effect.runPromise(Scope.extend(startDynalite, scope))
      const options = dynamoOptions(endpoint, "orders-leases")
      await Effect.runPromise(Effect.flatMap(LeaseStore, (store) =>
        store.create({ applicationName: "shardline", streamName: "orders" }, { shardId: "shardId-000000000000", startAt: "LATEST", parentShardIds: [] })
      ).pipe(Effect.provide(LeaseStore.layerDynamoDB(options))))
      const listed = await run(["leases", "--table", "orders-leases", "--stream", "orders", "--endpoint", endpoint])
      expect(listed.code).toBe(0)
      expect(listed.out.map((l) => l.split(/ {2,}/))).toEqual([
        ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE"],
        ["shardId-000000000000", "-", "0", "-", "-", "available"]
      ])
      const everything = await run(["leases", "--table", "orders-leases", "--endpoint", endpoint])
      expect(everything.code).toBe(0)
      expect(everything.out.map((l) => l.split(/ {2,}/))).toEqual([
        ["application shardline, stream orders"],
        ["SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE"],
        ["shardId-000000000000", "-", "0", "-", "-", "available"]
      ])
      const typo = await run(["leases", "--table", "orders-leeses", "--stream", "orders", "--endpoint", endpoint])
      expect(typo.code).toBe(1)
      expect(typo.err).toEqual([`shardline: Lease store dynamodb:orders-leeses: list failed: there is no table orders-leeses in region us-east-1 at ${endpoint}`])
      const again = await run(["leases", "--table", "orders-leeses", "--stream", "orders", "--endpoint", endpoint])
      expect(again.err[0]).toContain("there is no table orders-leeses")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("fails with one line for a lease table that is not there (and creates none)", async () => {
    const path = join(folder, "missing.db")
    const result = await run(["leases", "--store", "sqlite", "--sqlite-path", path, "--stream", "orders"])
    expect(result.code).toBe(1)
    expect(result.err).toEqual([`shardline: Lease store sqlite:${path}: list failed: there is no file ${path}`])
  })
})
