import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Layer } from "effect"
import fc from "fast-check"
import {
  type Batch,
  type Checkpoint,
  CheckpointStore,
  Codec,
  DeadLetter,
  type DeadLetterRecord,
  InvalidOption,
  Kinesis,
  LeaseStore,
  LocalKinesis,
  Pipeline,
  type RawRecord,
  RecordFilter,
  SinkRecordsFailed
} from "../src/index.js"
import { MemoryKinesis, PipelineTest, type TestRecord } from "../src/testing/index.js"
import { aggregateWithAws } from "./support/awsKinesisAgg.js"
import { effectProperty } from "./support/stateful.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const raw = (fields: Partial<RawRecord> = {}): RawRecord => ({
  shardId: "shardId-000000000000",
  sequenceNumber: "1",
  partitionKey: "key",
  approximateArrivalTimestamp: new Date(1_000),
  data: new Uint8Array(0),
  ...fields
})

const thrown = (build: () => unknown): unknown => {
  try {
    build()
  } catch (error) {
    return error
  }
  return undefined
}

/** A utf8 codec that counts the records it is asked to decode (no decodeOrThrow: one call per record). */
const countingUtf8 = () => {
  const counter = { calls: 0, seen: [] as Array<string> }
  const codec: Codec<string> = {
    name: "counting-utf8",
    decode: (bytes, context) => {
      counter.calls++
      const out = Codec.utf8.decode(bytes, context)
      if (Either.isRight(out)) counter.seen.push(out.right)
      return out
    },
    encode: Codec.utf8.encode
  }
  return { codec, counter }
}

const collectingDeadLetters = () => {
  const letters: Array<DeadLetterRecord> = []
  return { letters, layer: DeadLetter.layerFunction("memory", (records) => Effect.sync(() => void letters.push(...records))) }
}

const text = (partitionKey: string, value: string): TestRecord => ({ partitionKey, data: encoder.encode(value) })
const garbage = (partitionKey: string): TestRecord => ({ partitionKey, data: new Uint8Array([0xff, 0xfe]) })
const values = (batches: ReadonlyArray<Batch<string>>) => batches.flatMap((b) => b.records.map((r) => r.value))

describe("RecordFilter builders", () => {
  it("partitionKey: a string, equals, anyOf, prefix, suffix, anythingBut, pattern", () => {
    const keys = ["tenant-1", "tenant-12", "user-1", "", "x-tenant"]
    const keep = (f: RecordFilter) => keys.filter((k) => f(raw({ partitionKey: k }), 0))
    expect(keep(RecordFilter.partitionKey("tenant-1"))).toEqual(["tenant-1"])
    expect(keep(RecordFilter.partitionKey({ equals: "user-1" }))).toEqual(["user-1"])
    expect(keep(RecordFilter.partitionKey({ anyOf: ["user-1", "tenant-12", "nope"] }))).toEqual(["tenant-12", "user-1"])
    expect(keep(RecordFilter.partitionKey({ anyOf: [] }))).toEqual([])
    expect(keep(RecordFilter.partitionKey({ prefix: "tenant-" }))).toEqual(["tenant-1", "tenant-12"])
    expect(keep(RecordFilter.partitionKey({ prefix: ["user", "x-"] }))).toEqual(["user-1", "x-tenant"])
    expect(keep(RecordFilter.partitionKey({ suffix: "-1" }))).toEqual(["tenant-1", "user-1"])
    expect(keep(RecordFilter.partitionKey({ suffix: ["2", "t"] }))).toEqual(["tenant-12", "x-tenant"])
    expect(keep(RecordFilter.partitionKey({ anythingBut: "tenant-1" }))).toEqual(["tenant-12", "user-1", "", "x-tenant"])
    expect(keep(RecordFilter.partitionKey({ anythingBut: ["", "user-1"] }))).toEqual(["tenant-1", "tenant-12", "x-tenant"])
    expect(keep(RecordFilter.partitionKey({ pattern: /^tenant-\d$/ }))).toEqual(["tenant-1"])
  })

  it("partitionKey: a global RegExp answers the same for the same key every time", () => {
    const f = RecordFilter.partitionKey({ pattern: /tenant/g })
    const record = raw({ partitionKey: "tenant-1" })
    expect([f(record, 0), f(record, 0), f(record, 0)]).toEqual([true, true, true])
  })

  it("partitionKey: matches that cannot work throw InvalidOption naming the builder", () => {
    for (const bad of [
      undefined,
      {},
      { equals: "a", prefix: "b" },
      { prefix: [] },
      { prefix: 3 },
      { pattern: "^a" },
      { anyOf: ["a", 1] },
      { startsWith: "a" }
    ]) {
      const error = thrown(() => RecordFilter.partitionKey(bad as any))
      expect(error, JSON.stringify(bad)).toBeInstanceOf(InvalidOption)
      expect((error as InvalidOption).option).toMatch(/^RecordFilter\.partitionKey/)
    }
    // @ts-expect-error: one matcher at a time
    expect(thrown(() => RecordFilter.partitionKey({ equals: "a", suffix: "b" }))).toBeInstanceOf(InvalidOption)
  })

  it("explicitHashKey: plain records have none; exists, between (as numbers), and the key matchers", () => {
    const max = (2n ** 128n - 1n).toString()
    const records = [undefined, "0", "007", "42", "170141183460469231731687303715884105728", max, "12x"].map((k) => raw({ explicitHashKey: k }))
    const keep = (f: RecordFilter) => records.filter((r) => f(r, 0)).map((r) => r.explicitHashKey)
    expect(keep(RecordFilter.explicitHashKey({ exists: true }))).toEqual(["0", "007", "42", "170141183460469231731687303715884105728", max, "12x"])
    expect(keep(RecordFilter.explicitHashKey({ exists: false }))).toEqual([undefined])
    expect(keep(RecordFilter.explicitHashKey({ between: ["7", "42"] }))).toEqual(["007", "42"])
    expect(keep(RecordFilter.explicitHashKey({ between: ["170141183460469231731687303715884105728", max] }))).toEqual([
      "170141183460469231731687303715884105728",
      max
    ])
    expect(keep(RecordFilter.explicitHashKey({ between: ["0", "0"] }))).toEqual(["0"])
    expect(keep(RecordFilter.explicitHashKey("42"))).toEqual(["42"])
    expect(keep(RecordFilter.explicitHashKey({ prefix: "1" }))).toEqual(["170141183460469231731687303715884105728", "12x"])
    // A record without a key matches nothing but { exists: false }, not even anythingBut.
    expect(keep(RecordFilter.explicitHashKey({ anythingBut: "42" }))).toEqual(["0", "007", "170141183460469231731687303715884105728", max, "12x"])
    for (const bad of [{ between: ["9", "1"] }, { between: ["1"] }, { between: ["-1", "2"] }, { exists: "yes" }, { exists: true, equals: "1" }]) {
      expect(thrown(() => RecordFilter.explicitHashKey(bad as any)), JSON.stringify(bad)).toBeInstanceOf(InvalidOption)
    }
  })

  it("arrivedAfter / arrivedBefore: strict, and a record without an arrival time never matches", () => {
    const at = (ms: number | undefined) => raw({ approximateArrivalTimestamp: ms === undefined ? undefined : new Date(ms) })
    const after = RecordFilter.arrivedAfter(new Date(1_000))
    const before = RecordFilter.arrivedBefore(new Date(1_000))
    expect([999, 1_000, 1_001, undefined].map((ms) => [after(at(ms), 0), before(at(ms), 0)])).toEqual([
      [false, true],
      [false, false],
      [true, false],
      [false, false]
    ])
    expect(thrown(() => RecordFilter.arrivedAfter(new Date(Number.NaN)))).toBeInstanceOf(InvalidOption)
    expect(thrown(() => RecordFilter.arrivedBefore("2025-01-01" as any))).toBeInstanceOf(InvalidOption)
  })

  it("arrivedWithin: compares with the batch's `now`, inclusive; no clock is read", () => {
    const f = RecordFilter.arrivedWithin("10 seconds")
    const arrived = raw({ approximateArrivalTimestamp: new Date(50_000) })
    expect([f(arrived, 50_000), f(arrived, 60_000), f(arrived, 60_001), f(arrived, 0)]).toEqual([true, true, false, true])
    expect(f(raw({ approximateArrivalTimestamp: undefined }), 0)).toBe(false)
    expect(RecordFilter.arrivedWithin(0)(arrived, 50_000)).toBe(true)
    for (const bad of [-1, "-5 seconds", "soon", Number.POSITIVE_INFINITY]) {
      expect(thrown(() => RecordFilter.arrivedWithin(bad as any)), String(bad)).toBeInstanceOf(InvalidOption)
    }
  })

  it("dataStartsWith: bytes, UTF-8 strings, several; encoded once, later changes to the argument do not count", () => {
    const data = (s: string) => raw({ data: encoder.encode(s) })
    const json = RecordFilter.dataStartsWith('{"type":"é')
    expect([json(data('{"type":"é"}'), 0), json(data('{"type":"e"}'), 0), json(data('{"ty'), 0)]).toEqual([true, false, false])
    const prefix = Uint8Array.of(0x08, 0x01)
    const tag = RecordFilter.dataStartsWith(prefix)
    prefix[1] = 0x02
    expect([tag(raw({ data: Uint8Array.of(0x08, 0x01, 0x10) }), 0), tag(raw({ data: Uint8Array.of(0x08, 0x02) }), 0)]).toEqual([true, false])
    const several = RecordFilter.dataStartsWith(["a", Uint8Array.of(0x62)])
    expect(["a1", "b2", "c3", ""].map((s) => several(data(s), 0))).toEqual([true, true, false, false])
    expect(RecordFilter.dataStartsWith("")(data(""), 0)).toBe(true)
    expect(thrown(() => RecordFilter.dataStartsWith([]))).toBeInstanceOf(InvalidOption)
    expect(thrown(() => RecordFilter.dataStartsWith(5 as any))).toBeInstanceOf(InvalidOption)
  })

  it("all / any / not: in order, stopping early; none given keeps all (all) or nothing (any)", () => {
    const calls: Array<string> = []
    const named = (name: string, answer: boolean): RecordFilter => () => (calls.push(name), answer)
    const record = raw()
    expect(RecordFilter.all()(record, 0)).toBe(true)
    expect(RecordFilter.any()(record, 0)).toBe(false)
    expect(RecordFilter.all(named("a", true), named("b", false), named("c", true))(record, 0)).toBe(false)
    expect(calls.splice(0)).toEqual(["a", "b"])
    expect(RecordFilter.any(named("a", false), named("b", true), named("c", true))(record, 0)).toBe(true)
    expect(calls.splice(0)).toEqual(["a", "b"])
    expect(RecordFilter.all(named("a", true), named("b", true))(record, 0)).toBe(true)
    expect(RecordFilter.any(named("a", false), named("b", false))(record, 0)).toBe(false)
    expect(RecordFilter.not(named("a", true))(record, 0)).toBe(false)
    const now = RecordFilter.all((_, n) => n === 7, (_, n) => n === 7, (_, n) => n === 7)
    expect([now(record, 7), now(record, 8)]).toEqual([true, false])
    expect(thrown(() => RecordFilter.all(named("a", true), "x" as any))).toMatchObject({ _tag: "InvalidOption", option: "RecordFilter.all[1]" })
    expect(thrown(() => RecordFilter.not(undefined as any))).toBeInstanceOf(InvalidOption)
  })
})

const events = (filter?: RecordFilter, codec: Codec<string> = Codec.utf8) =>
  Pipeline.fromKinesis({ streamName: "events", codec, batchInterval: "1 second", ...(filter === undefined ? {} : { filter }) })

describe("a source's filter", () => {
  it.scoped("a filter that is not a function is an InvalidOption naming `filter`", () =>
    Effect.gen(function* () {
      for (const bad of ["tenant-1", { partitionKey: "a" }, 3]) {
        const error = yield* Effect.flip(PipelineTest.make(events(bad as any)))
        expect(error).toMatchObject({ _tag: "InvalidOption", option: "filter" })
      }
    }))

  it.scoped("skipped records are never decoded: bad bytes among them are no poison, no dead letter, no DecodeError", () =>
    Effect.gen(function* () {
      const { codec, counter } = countingUtf8()
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events(RecordFilter.partitionKey({ prefix: "keep" }), codec), undefined, { shardCount: 1 })
        .pipe(Effect.provide(dead.layer))
      const inner = aggregateWithAws([
        { partitionKey: "skip-1", data: Uint8Array.of(0xff) },
        { partitionKey: "keep-1", data: encoder.encode("in-aggregate") },
        { partitionKey: "skip-2", data: Uint8Array.of(0xc3, 0x28) }
      ])
      yield* test.put([garbage("skip"), text("keep", "k0"), { partitionKey: "skip-1", data: inner }, garbage("skip"), text("keep-2", "k1"), garbage("skip")])
      yield* test.drain()
      expect(values(yield* test.batches)).toEqual(["k0", "in-aggregate", "k1"])
      expect(counter.calls).toBe(3)
      expect(dead.letters).toEqual([])
      // Without a dead-letter destination the run does not fail either.
      const plain = yield* PipelineTest.make(events(RecordFilter.partitionKey({ prefix: "keep" })), undefined, { shardCount: 1 })
      yield* plain.put([garbage("skip"), text("keep", "k0"), garbage("skip")])
      yield* plain.drain()
      expect(values(yield* plain.batches)).toEqual(["k0"])
      // The run's summary counts what the filter skipped: the user records of the aggregate one by one.
      expect(yield* test.stop).toMatchObject({ records: 6, filtered: 5, deadLettered: 0 })
      expect(yield* plain.stop).toMatchObject({ records: 3, filtered: 2 })
    }))

  it.scoped("a record the filter keeps that does not decode is still a poison record", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events(RecordFilter.partitionKey({ prefix: "keep" })), undefined, { shardCount: 1 })
        .pipe(Effect.provide(dead.layer))
      yield* test.put([garbage("keep-bad"), garbage("skip"), text("keep", "ok")])
      yield* test.drain()
      expect(values(yield* test.batches)).toEqual(["ok"])
      expect(dead.letters.map((l) => [l.partitionKey, l.reason.kind])).toEqual([["keep-bad", "decode"]])
    }))

  it.scoped("a corrupt KPL aggregate is still a poison record: its user records cannot be read to be judged", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const test = yield* PipelineTest.make(events(RecordFilter.partitionKey("nothing")), undefined, { shardCount: 1 })
        .pipe(Effect.provide(dead.layer))
      const corrupt = aggregateWithAws([{ partitionKey: "skip", data: encoder.encode("x") }])
      corrupt[corrupt.length - 1]! ^= 0xff
      yield* test.put([{ partitionKey: "skip", data: corrupt }, text("skip", "y")])
      yield* test.drain()
      expect(dead.letters.map((l) => l.reason.kind)).toEqual(["deaggregate"])
    }))

  it.scoped("a shard whose records are all skipped is still checkpointed to its last record: a restart reads nothing again", () =>
    Effect.gen(function* () {
      const { codec, counter } = countingUtf8()
      const test = yield* PipelineTest.make(events(RecordFilter.partitionKey("wanted"), codec), undefined, { shardCount: 2 })
      const placed = yield* test.put(Array.from({ length: 40 }, (_, i) => text(`other-${i}`, `v${i}`)))
      // drain only returns once every record put is checkpointed.
      yield* test.drain()
      const last = new Map<string, bigint>()
      for (const p of placed) last.set(p.shardId, BigInt(p.sequenceNumber) > (last.get(p.shardId) ?? -1n) ? BigInt(p.sequenceNumber) : last.get(p.shardId)!)
      const checkpoints = yield* test.checkpoints
      expect(checkpoints.size).toBe(last.size)
      for (const [shardId, seq] of last) expect(checkpoints.get(shardId)).toEqual({ _tag: "Sequence", sequenceNumber: seq.toString(), subSequenceNumber: 0 })
      expect(values(yield* test.batches)).toEqual([])
      expect(counter.calls).toBe(0)
      const sourceRecords = (yield* test.batches).reduce((n, b) => n + b.sourceRecords, 0)
      expect(sourceRecords).toBe(40)
      yield* test.restart
      const again = yield* test.advance(3)
      expect(again.reduce((n, b) => n + b.sourceRecords, 0)).toBe(0)
      expect(counter.calls).toBe(0)
    }))

  it.scoped("explicit hash keys: KPL user records carry theirs into the filter, plain records have none", () =>
    Effect.gen(function* () {
      const big = (2n ** 100n).toString()
      const inner = aggregateWithAws([
        { partitionKey: "a", explicitHashKey: big, data: encoder.encode("u0") },
        { partitionKey: "b", data: encoder.encode("u1") },
        { partitionKey: "c", explicitHashKey: (2n ** 101n).toString(), data: encoder.encode("u2") }
      ])
      const seen: Array<readonly [string, string | undefined]> = []
      const spy: RecordFilter = (r) => (seen.push([r.partitionKey, r.explicitHashKey]), true)
      const test = yield* PipelineTest.make(
        events(RecordFilter.all(spy, RecordFilter.explicitHashKey({ between: ["0", big] }))),
        undefined,
        { shardCount: 1 }
      )
      yield* test.put([{ partitionKey: "agg", data: inner }, { ...text("plain", "p"), explicitHashKey: big }])
      yield* test.drain()
      expect(seen).toEqual([["a", big], ["b", undefined], ["c", (2n ** 101n).toString()], ["plain", undefined]])
      expect(values(yield* test.batches)).toEqual(["u0"])
    }))

  it.scoped("partial failure: a skipped record before the first failed one counts as done, one after it does not", () =>
    Effect.gen(function* () {
      let refusing = true
      const accepted: Array<string> = []
      const test = yield* PipelineTest.make(
        events(RecordFilter.partitionKey({ anythingBut: "skip" })),
        (batch: Batch<string>) =>
          Effect.sync(() => {
            const failed = refusing ? batch.records.filter((r) => r.value === "p2") : []
            for (const r of batch.records) if (!failed.includes(r)) accepted.push(r.value)
            return Pipeline.batchItemFailures(failed)
          }),
        { shardCount: 1 }
      )
      const placed = yield* test.put([text("k", "p0"), text("skip", "s1"), text("k", "p2"), text("skip", "s3"), text("k", "p4")])
      expect(yield* Effect.flip(test.drain())).toBeInstanceOf(SinkRecordsFailed)
      // Just after s1 (skipped, before the failure), not after s3.
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[1]!.sequenceNumber, subSequenceNumber: 0 }])
      refusing = false
      accepted.length = 0
      yield* test.restart
      yield* test.drain()
      expect(accepted).toEqual(["p2", "p4"])
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[4]!.sequenceNumber, subSequenceNumber: 0 }])
    }))

  it.scoped("inside a KPL aggregate partly skipped: the checkpoint falls on the failed user record, the skipped ones before it stay done", () =>
    Effect.gen(function* () {
      let refusing = true
      const accepted: Array<string> = []
      const { codec, counter } = countingUtf8()
      const test = yield* PipelineTest.make(
        events(RecordFilter.not(RecordFilter.dataStartsWith("skip")), codec),
        (batch: Batch<string>) =>
          Effect.sync(() => {
            const failed = refusing ? batch.records.filter((r) => r.value === "a3") : []
            for (const r of batch.records) if (!failed.includes(r)) accepted.push(r.value)
            return Pipeline.batchItemFailures(failed)
          }),
        { shardCount: 1 }
      )
      const users = ["skip0", "a1", "skip2", "a3", "skip4", "a5"].map((v) => ({ partitionKey: `k-${v}`, data: encoder.encode(v) }))
      const placed = yield* test.put([{ partitionKey: "k", data: aggregateWithAws(users) }, { partitionKey: "k", data: aggregateWithAws(users.slice(0, 1)) }])
      expect(yield* Effect.flip(test.drain())).toBeInstanceOf(SinkRecordsFailed)
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[0]!.sequenceNumber, subSequenceNumber: 3 }])
      refusing = false
      accepted.length = 0
      counter.seen.length = 0
      yield* test.restart
      yield* test.drain()
      // From user record 3 on: skip4 is skipped again, never decoded; the second aggregate is all skipped.
      expect(accepted).toEqual(["a3", "a5"])
      expect(counter.seen).toEqual(["a3", "a5"])
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[1]!.sequenceNumber, subSequenceNumber: 0 }])
    }))

  it.scoped("bisect and dead letters work on the kept records alone; the batch is checkpointed through the skipped ones", () =>
    Effect.gen(function* () {
      const dead = collectingDeadLetters()
      const sinkSaw: Array<ReadonlyArray<string>> = []
      const test = yield* PipelineTest.make(
        events(RecordFilter.partitionKey({ prefix: "k" })),
        (batch: Batch<string>) =>
          Effect.suspend(() => {
            sinkSaw.push(batch.records.map((r) => r.value))
            return batch.records.some((r) => r.value === "bad") ? Effect.fail("refused") : Effect.void
          }),
        { shardCount: 1, onSinkError: { maxRetryAttempts: 0, bisectBatchOnError: true } }
      ).pipe(Effect.provide(dead.layer))
      const placed = yield* test.put([text("k", "a"), text("x", "skip"), text("k", "bad"), text("k", "b"), text("x", "skip2")])
      yield* test.drain()
      expect(sinkSaw.filter((s) => s.length > 0)).toEqual([["a", "bad", "b"], ["a", "bad"], ["a"], ["bad"], ["b"]])
      expect(dead.letters.map((l) => [decoder.decode(l.data), l.reason.kind])).toEqual([["bad", "sink"]])
      expect([...(yield* test.checkpoints).values()]).toEqual([{ _tag: "Sequence", sequenceNumber: placed[4]!.sequenceNumber, subSequenceNumber: 0 }])
    }))

  it.scoped("Pipeline.merge: each side keeps its own filter", () =>
    Effect.gen(function* () {
      const web = Pipeline.fromKinesis({ streamName: "web", codec: Codec.utf8, batchInterval: "1 second", filter: RecordFilter.partitionKey("w") })
      const app = Pipeline.fromKinesis({ streamName: "app", codec: Codec.utf8, batchInterval: "1 second", filter: RecordFilter.dataStartsWith("keep") })
      const test = yield* PipelineTest.make(Pipeline.merge(web, app), undefined, { streams: [{ name: "web", shardCount: 1 }, { name: "app", shardCount: 1 }] })
      yield* test.put([text("w", "w0"), garbage("other"), text("w", "w1")], "web")
      yield* test.put([text("w", "drop"), text("a", "keep-a"), garbage("a")], "app")
      // Drain waits for the pipeline's own stream (the left side's): advance once more for the other.
      yield* test.drain()
      yield* test.advance(2)
      expect(values(yield* test.batches).sort()).toEqual(["keep-a", "w0", "w1"])
    }))
})

// ---- the property: filtering before decode is filtering after decode, minus the decoding ------

const keys = ["a", "b", "ab", "ba", "a/1", "b/2", "c"] as const
const bytesArb = fc.uint8Array({ maxLength: 5, max: 3 })
const hashKeyArb = fc.option(fc.bigInt({ min: 2n ** 32n, max: 2n ** 128n - 1n }).map(String), { nil: undefined })

type Item =
  | { readonly kind: "plain"; readonly key: string; readonly data: Uint8Array }
  | { readonly kind: "kpl"; readonly users: ReadonlyArray<{ readonly key: string; readonly data: Uint8Array; readonly hashKey: string | undefined }> }

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant("plain" as const), key: fc.constantFrom(...keys), data: bytesArb }),
  fc.record({
    kind: fc.constant("kpl" as const),
    users: fc.array(fc.record({ key: fc.constantFrom(...keys), data: bytesArb, hashKey: hashKeyArb }), { minLength: 1, maxLength: 6 })
  })
)

interface Labelled {
  readonly label: string
  readonly filter: RecordFilter
}

const leafArb: fc.Arbitrary<Labelled> = fc.oneof(
  fc.subarray([...keys]).map((anyOf) => ({ label: `anyOf ${anyOf}`, filter: RecordFilter.partitionKey({ anyOf }) })),
  fc.constantFrom("a", "b", "ab").map((prefix) => ({ label: `prefix ${prefix}`, filter: RecordFilter.partitionKey({ prefix }) })),
  fc.constantFrom("a", "c").map((k) => ({ label: `anythingBut ${k}`, filter: RecordFilter.partitionKey({ anythingBut: k }) })),
  fc.array(fc.uint8Array({ minLength: 1, maxLength: 2, max: 3 }), { minLength: 1, maxLength: 2 })
    .map((ps) => ({ label: `dataStartsWith ${ps.map((p) => `[${p}]`)}`, filter: RecordFilter.dataStartsWith(ps) })),
  fc.boolean().map((exists) => ({ label: `exists ${exists}`, filter: RecordFilter.explicitHashKey({ exists }) })),
  fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 128n - 1n })).map(([x, y]) => {
    const between = (x < y ? [String(x), String(y)] : [String(y), String(x)]) as [string, string]
    return { label: `between ${between}`, filter: RecordFilter.explicitHashKey({ between }) }
  })
)

const filterArb: fc.Arbitrary<Labelled> = fc.oneof(
  { weight: 3, arbitrary: leafArb },
  fc.tuple(leafArb, leafArb).map(([a, b]) => ({ label: `all(${a.label}, ${b.label})`, filter: RecordFilter.all(a.filter, b.filter) })),
  fc.tuple(leafArb, leafArb).map(([a, b]) => ({ label: `any(${a.label}, ${b.label})`, filter: RecordFilter.any(a.filter, b.filter) })),
  leafArb.map((a) => ({ label: `not(${a.label})`, filter: RecordFilter.not(a.filter) }))
)

/** Puts the items, drains (once failing the `failAt`-th record the sink gets), restarts and drains again. */
const scenario = (pipeline: Pipeline.Pipeline<Uint8Array, never, any>, items: ReadonlyArray<Item>, failAt: number | undefined, hashKeys: Map<string, string>) =>
  Effect.gen(function* () {
    let delivered = 0
    const test = yield* PipelineTest.make(
      pipeline,
      (batch: Batch<Uint8Array>) =>
        Effect.sync(() => {
          const from = delivered
          delivered += batch.records.length
          const failed = failAt !== undefined && failAt >= from && failAt < delivered ? [batch.records[failAt - from]!] : []
          return Pipeline.batchItemFailures(failed)
        }),
      { shardCount: 2 }
    )
    const placed = yield* test.put(items.map((item) =>
      item.kind === "plain"
        ? { partitionKey: item.key, data: item.data }
        : { partitionKey: item.users[0]!.key, data: aggregateWithAws(item.users.map((u) => ({ partitionKey: u.key, explicitHashKey: u.hashKey, data: u.data }))) }
    ))
    items.forEach((item, i) => {
      if (item.kind === "kpl") item.users.forEach((u, sub) => u.hashKey !== undefined && hashKeys.set(`${placed[i]!.shardId}/${placed[i]!.sequenceNumber}/${sub}`, u.hashKey))
    })
    const first = yield* Effect.either(test.drain())
    const afterFailure = [...(yield* test.checkpoints)]
    yield* test.restart
    yield* test.drain()
    const batches = (yield* test.batches).map((b) => ({
      records: b.records.map((r) => [r.shardId, r.sequenceNumber, r.subSequenceNumber, r.partitionKey, [...r.value]]),
      checkpoints: [...b.checkpoints].sort()
    }))
    return { failed: Either.isLeft(first), afterFailure: afterFailure.sort(), batches, final: [...(yield* test.checkpoints)].sort() as Array<[string, Checkpoint]> }
  })

describe("filter before decode = filter after decode", () => {
  it("property: the same records, in the same batches and order, and the same checkpoints (also after a partial failure)", () =>
    effectProperty(
      [fc.array(itemArb, { minLength: 1, maxLength: 14 }), filterArb, fc.option(fc.nat({ max: 30 }), { nil: undefined })],
      (items, { filter }, failAt) =>
        Effect.gen(function* () {
          const before = Pipeline.fromKinesis({ streamName: "events", codec: Codec.bytes, batchInterval: "1 second", filter })
          // The reference decodes everything, then filters on the same view of each record.
          const hashKeys = new Map<string, string>()
          const after = Pipeline.fromKinesis({ streamName: "events", codec: Codec.bytes, batchInterval: "1 second" }).pipe(
            Pipeline.filter((value, r) =>
              filter({
                shardId: r.shardId,
                sequenceNumber: r.sequenceNumber,
                subSequenceNumber: r.subSequenceNumber,
                partitionKey: r.partitionKey,
                explicitHashKey: hashKeys.get(`${r.shardId}/${r.sequenceNumber}/${r.subSequenceNumber}`),
                approximateArrivalTimestamp: r.approximateArrivalTimestamp,
                data: value
              }, 0))
          )
          const got = yield* scenario(before, items, failAt, new Map())
          const want = yield* scenario(after, items, failAt, hashKeys)
          expect(got).toEqual(want)
        }),
      60
    ), 120_000)
})

// ---- live clock: with leases (in-memory Kinesis) and against the kinesalite emulator ----------

/** Puts plain records and a partly skipped aggregate, the last record skipped; runs until the kept ones are seen. */
const liveRun = (streamName: string, leases: boolean) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const inner = aggregateWithAws(["skip-u0", "keep-u1", "skip-u2"].map((v) => ({ partitionKey: v.slice(0, 4), data: encoder.encode(v) })))
    const put = yield* kinesis.putRecords({
      StreamName: streamName,
      Records: [garbage("skip"), text("keep", "keep-0"), { partitionKey: "skip", data: inner }, text("keep", "keep-1"), garbage("skip")]
        .map((r) => ({ PartitionKey: r.partitionKey, Data: r.data }))
    })
    const last = put.Records!.at(-1)!.SequenceNumber!
    const { codec, counter } = countingUtf8()
    const seen: Array<string> = []
    const done = yield* Deferred.make<void>()
    const options = { streamName, codec, batchInterval: "100 millis", filter: RecordFilter.partitionKey({ prefix: "keep" }) } as const
    const source = leases ? Pipeline.fromKinesis({ ...options, leases: { workerId: "w1" } }) : Pipeline.fromKinesis(options)
    const summary = yield* (source as Pipeline.Pipeline<string, never, never>).pipe(
      Pipeline.foreachBatch((batch) => Effect.sync(() => {
        for (const r of batch.records) seen.push(r.value)
        if (seen.length >= 3) Deferred.unsafeDone(done, Effect.void)
      }), { stopWhen: Deferred.await(done) }),
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the kept records did not arrive") })
    )
    expect(seen).toEqual(["keep-0", "keep-u1", "keep-1"])
    expect(counter.calls).toBe(3)
    expect(summary.records).toBe(5)
    return last
  })

describe("a source's filter on the live clock", () => {
  it.live("with leases: skipped records are checkpointed in the lease", () =>
    Effect.gen(function* () {
      const last = yield* liveRun("leased", true)
      const leases = yield* Effect.flatMap(LeaseStore, (store) => store.list({ applicationName: "shardline", streamName: "leased" }))
      expect(leases.map((l) => l.checkpoint)).toEqual([{ _tag: "Sequence", sequenceNumber: last, subSequenceNumber: 0 }])
    }).pipe(Effect.provide(Layer.merge(MemoryKinesis.layer({ streams: [{ name: "leased", shardCount: 1 }] }), LeaseStore.layerMemory))), 40_000)

  it.live("against kinesalite: the same, checkpointed in the CheckpointStore", () =>
    Effect.gen(function* () {
      const last = yield* liveRun("filtered", false)
      const checkpoints = yield* Effect.flatMap(CheckpointStore, (store) => store.load({ applicationName: "shardline", streamName: "filtered" }))
      expect([...checkpoints.values()]).toEqual([{ _tag: "Sequence", sequenceNumber: last, subSequenceNumber: 0 }])
    }).pipe(Effect.provide(Layer.merge(LocalKinesis.layer({ streams: [{ name: "filtered", shardCount: 1 }] }), CheckpointStore.layerMemory))), 60_000)
})
