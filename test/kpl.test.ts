// "shardline" first: the package entry must load with src/kpl importing the generated decoder,
// which imports `Codec` and `FastRuntime` back from "shardline" (an import cycle).
import { DeaggregateError, deaggregate, isAggregated, type UserRecord } from "shardline"
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf"
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { createHash } from "node:crypto"
import { vi } from "vitest"
import {
  AggregatedRecordSchema,
  RecordSchema
} from "../gen/shardline/kpl/v1/aggregated_record_pb.js"
import { decodeAggregatedRecord } from "../gen/shardline/kpl/v1/aggregated_record_shardline.js"
import { agg, aggregateWithAws, type AwsUserRecord, objectKeySafe } from "./support/awsKinesisAgg.js"
import { difference } from "./support/sameDecode.js"
import { leftOf, rightOf } from "./support/outcomes.js"


interface Input {
  readonly partitionKey: string
  readonly explicitHashKey: string | undefined
  readonly data: Uint8Array
}

const sequenceNumber = "49590338271490256608559692538361571095921575989136588898"
const arrival = new Date("2024-05-01T12:00:00.000Z")
const magic = [0xf3, 0x89, 0x9a, 0xc2]
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest()
/** Magic, body, MD5 of the body: a KPL aggregate around any body. */
const frame = (body: Uint8Array) => Uint8Array.from([...magic, ...body, ...md5(body)])
const bodyOf = (aggregate: Uint8Array) => aggregate.subarray(4, aggregate.length - 16)

const deaggregateWithAws = (data: Uint8Array): ReadonlyArray<AwsUserRecord> => {
  let result: ReadonlyArray<AwsUserRecord> | undefined
  agg.deaggregateSync({ data: Buffer.from(data).toString("base64"), partitionKey: "carrier", sequenceNumber }, true, (error, records) => {
    if (error !== undefined && error !== null) throw error
    result = records
  })
  return result!
}

const carrier = (data: Uint8Array) => ({ data, partitionKey: "carrier", sequenceNumber, approximateArrivalTimestamp: arrival })
const plain = (users: ReadonlyArray<UserRecord>) =>
  users.map((u) => ({ partitionKey: u.partitionKey, explicitHashKey: u.explicitHashKey, data: hex(u.data), sub: u.subSequenceNumber }))

const safeForAwsTables = (key: string) => !(key in Object.prototype)

const partitionKey = fc.oneof(
  fc.string({ minLength: 1, maxLength: 256 }),
  fc.string({ minLength: 1, maxLength: 32, unit: "grapheme" }),
  fc.nat(999).map(String)
)
// A 128-bit decimal, as Kinesis takes it; the small ones are integer-like keys.
const explicitHashKey = fc.oneof(fc.bigInt(0n, 2n ** 128n - 1n), fc.bigInt(0n, 99n)).map(String)

const userRecords = (keyOk: (key: string) => boolean): fc.Arbitrary<ReadonlyArray<Input>> =>
  fc.record({
    keys: fc.uniqueArray(partitionKey.filter(keyOk), { minLength: 1, maxLength: 6 }),
    hashKeys: fc.uniqueArray(explicitHashKey.filter(keyOk), { maxLength: 3 })
  }).chain(({ hashKeys, keys }) =>
    fc.array(
      fc.record({
        partitionKey: fc.constantFrom(...keys),
        explicitHashKey: hashKeys.length === 0 ? fc.constant(undefined) : fc.option(fc.constantFrom(...hashKeys), { nil: undefined }),
        // Lengths over 127 take a two-byte varint; size "max" spreads them over the whole range.
        data: fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ minLength: 128, maxLength: 2048, size: "max" }))
      }),
      { minLength: 1, maxLength: 40 }
    )
  )

describe("isAggregated", () => {
  it("is the KPL magic prefix F3 89 9A C2", () => {
    expect(isAggregated(Uint8Array.from(magic))).toBe(true)
    expect(isAggregated(Uint8Array.from([...magic, 1, 2, 3]))).toBe(true)
    expect(isAggregated(new Uint8Array())).toBe(false)
    expect(isAggregated(Uint8Array.from(magic.slice(0, 3)))).toBe(false)
    expect(isAggregated(Uint8Array.from([0xf3, 0x89, 0x9a, 0xc3]))).toBe(false)
    expect(isAggregated(new TextEncoder().encode("{\"hello\":1}"))).toBe(false)
  })
})

describe("deaggregate", () => {
  it("de-aggregates whatever aws-kinesis-agg aggregates into the same user records, in order", () =>
    fc.assert(fc.property(userRecords(objectKeySafe), (records) => {
      const users = rightOf(deaggregate(carrier(aggregateWithAws(records))))
      expect(plain(users)).toEqual(records.map((r, i) => ({
        partitionKey: r.partitionKey,
        explicitHashKey: r.explicitHashKey,
        data: hex(r.data),
        sub: i
      })))
      for (const u of users) {
        expect(u.sequenceNumber).toBe(sequenceNumber)
        expect(u.aggregated).toBe(true)
        expect(u.approximateArrivalTimestamp).toBe(arrival)
      }
    })))

  it("agrees with aws-kinesis-agg's deaggregateSync on the same aggregates", () =>
    fc.assert(fc.property(userRecords(safeForAwsTables), (records) => {
      const data = aggregateWithAws(records)
      const ours = rightOf(deaggregate(carrier(data)))
      const theirs = deaggregateWithAws(data)
      // deaggregateSync gives a record without an explicit hash key index the table's first
      // entry (protobufjs's default index 0); the index is absent, so the KCL and shardline give none.
      const firstHashKey = fromBinary(AggregatedRecordSchema, bodyOf(data)).explicitHashKeyTable[0]
      expect(plain(ours)).toEqual(theirs.map((t) => ({
        partitionKey: t.partitionKey,
        explicitHashKey: t.explicitPartitionKey,
        data: hex(Buffer.from(t.data, "base64")),
        sub: t.subSequenceNumber
      })).map((t, i) => ({ ...t, explicitHashKey: ours[i]?.explicitHashKey === undefined ? undefined : t.explicitHashKey })))
      ours.forEach((u, i) => {
        if (u.explicitHashKey === undefined) expect(theirs[i]!.explicitPartitionKey).toBe(firstHashKey)
      })
      expect(theirs.every((t) => t.sequenceNumber === sequenceNumber)).toBe(true)
    })))

  it("decodes the body with the generated decoder, which gives exactly what fromBinary gives", () =>
    fc.assert(fc.property(userRecords(safeForAwsTables), (records) => {
      const body = bodyOf(aggregateWithAws(records))
      const fast = decodeAggregatedRecord(body)
      const reference = fromBinary(AggregatedRecordSchema, body)
      expect(equals(AggregatedRecordSchema, fast, reference)).toBe(true)
      expect(difference(fast, reference)).toBeUndefined()
    }), { numRuns: 50 }))

  it("passes a record without the magic through as one user record, bytes untouched", () =>
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 512 }).filter((d) => !isAggregated(d)),
      fc.option(explicitHashKey, { nil: undefined }),
      (data, hashKey) => {
        const users = rightOf(deaggregate({ ...carrier(data), explicitHashKey: hashKey }))
        expect(users).toEqual([{
          sequenceNumber,
          subSequenceNumber: 0,
          partitionKey: "carrier",
          explicitHashKey: hashKey,
          approximateArrivalTimestamp: arrival,
          data,
          aggregated: false
        }])
        expect(users[0]!.data).toBe(data)
      }
    )))

  it("gives aggregated user records views into the carrier, not copies", () => {
    const data = aggregateWithAws([{ partitionKey: "k", explicitHashKey: undefined, data: Uint8Array.from([1, 2, 3]) }])
    const [user] = rightOf(deaggregate(carrier(data)))
    expect(user!.data.buffer).toBe(data.buffer)
    expect(Array.from(user!.data)).toEqual([1, 2, 3])
  })

  it("expands an empty aggregate (magic and the MD5 of nothing) to no user records", () => {
    expect(rightOf(deaggregate(carrier(frame(new Uint8Array()))))).toEqual([])
  })
})

describe("a corrupt aggregate is a DeaggregateError, never a crash or a partial expansion", () => {
  const secret = "hunter2-secret"
  const withSecret = () =>
    aggregateWithAws([
      { partitionKey: secret, explicitHashKey: undefined, data: new TextEncoder().encode(secret) },
      { partitionKey: "k2", explicitHashKey: "340282366920938463463374607431768211455", data: Uint8Array.from([9]) }
    ])
  const expectTyped = (error: DeaggregateError, byteLength: number, reason: RegExp) => {
    expect(error).toBeInstanceOf(DeaggregateError)
    expect(error._tag).toBe("DeaggregateError")
    expect(error.sequenceNumber).toBe(sequenceNumber)
    expect(error.byteLength).toBe(byteLength)
    expect(error.reason).toMatch(reason)
    expect(error.message).toBe(`Cannot de-aggregate KPL record ${sequenceNumber} (${byteLength} bytes): ${error.reason}`)
    expect(error.message).not.toContain(secret)
  }

  it("any changed byte after the magic: MD5 checksum mismatch", () => {
    const data = withSecret()
    fc.assert(fc.property(fc.integer({ min: 4, max: data.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
      const corrupt = Uint8Array.from(data)
      corrupt[at] = corrupt[at]! ^ mask
      expectTyped(leftOf(deaggregate(carrier(corrupt))), data.length, /^MD5 checksum mismatch$/)
    }))
  })

  it("any truncation that keeps the magic", () => {
    const data = withSecret()
    fc.assert(fc.property(fc.integer({ min: 4, max: data.length - 1 }), (length) => {
      const error = leftOf(deaggregate(carrier(data.subarray(0, length))))
      expectTyped(error, length, length < 20 ? /^truncated: / : /^MD5 checksum mismatch$/)
    }))
  })

  it("garbage after the magic, with or without a matching MD5", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (garbage) => {
      expect(Either.isLeft(deaggregate(carrier(Uint8Array.from([...magic, ...garbage]))))).toBe(garbage.length < 16 || !md5(garbage.subarray(0, -16)).equals(garbage.subarray(-16)))
      // Framed with its MD5, the body decides: where fromBinary throws, so does the decoder.
      const framed = frame(garbage)
      const result = deaggregate(carrier(framed))
      let parsed: ReturnType<typeof fromBinary<typeof AggregatedRecordSchema>> | undefined
      try {
        parsed = fromBinary(AggregatedRecordSchema, garbage)
      } catch {
        parsed = undefined
      }
      if (parsed === undefined) expectTyped(leftOf(result), framed.length, /^invalid AggregatedRecord: /)
      else if (Either.isRight(result)) expect(result.right.length).toBe(parsed.records.length)
      else expectTyped(result.left, framed.length, /^user record \d+/)
    }), { numRuns: 300 })
    // A string field whose length runs past the end.
    const body = Uint8Array.from([0x0a, 0x05, 0x61])
    expectTyped(leftOf(deaggregate(carrier(frame(body)))), 23, /^invalid AggregatedRecord: premature EOF$/)
  })

  const record = (fields: { pk?: bigint; ehk?: bigint; data?: Uint8Array }) => {
    const w = new BinaryWriter()
    if (fields.pk !== undefined) w.tag(1, WireType.Varint).uint64(fields.pk)
    if (fields.ehk !== undefined) w.tag(2, WireType.Varint).uint64(fields.ehk)
    if (fields.data !== undefined) w.tag(3, WireType.LengthDelimited).bytes(fields.data)
    return w.finish()
  }
  const aggregateOf = (keys: ReadonlyArray<string>, hashKeys: ReadonlyArray<string>, records: ReadonlyArray<Uint8Array>) => {
    const w = new BinaryWriter()
    for (const k of keys) w.tag(1, WireType.LengthDelimited).string(k)
    for (const k of hashKeys) w.tag(2, WireType.LengthDelimited).string(k)
    for (const r of records) w.tag(3, WireType.LengthDelimited).bytes(r)
    return frame(w.finish())
  }

  it("a partition key or explicit hash key index outside its table", () => {
    const ok = record({ pk: 0n, data: Uint8Array.from([1]) })
    const badKey = aggregateOf([secret], [], [ok, record({ pk: 1n, data: Uint8Array.from([2]) })])
    expectTyped(leftOf(deaggregate(carrier(badKey))), badKey.length, /^user record 1: partition key index 1 outside a table of 1$/)
    const huge = aggregateOf([secret], [], [record({ pk: 2n ** 64n - 1n, data: Uint8Array.from([2]) })])
    expectTyped(leftOf(deaggregate(carrier(huge))), huge.length, /^user record 0: partition key index 18446744073709551615 outside/)
    const badHashKey = aggregateOf([secret], ["1"], [record({ pk: 0n, ehk: 1n, data: Uint8Array.from([2]) })])
    expectTyped(leftOf(deaggregate(carrier(badHashKey))), badHashKey.length, /^user record 0: explicit hash key index 1 outside a table of 1$/)
    const good = aggregateOf([secret], ["1"], [ok, record({ pk: 0n, ehk: 0n, data: new Uint8Array() })])
    expect(plain(rightOf(deaggregate(carrier(good))))).toEqual([
      { partitionKey: secret, explicitHashKey: undefined, data: "01", sub: 0 },
      { partitionKey: secret, explicitHashKey: "1", data: "", sub: 1 }
    ])
  })

  it("a user record without its required partition_key_index or data", () => {
    const noKey = aggregateOf(["k"], [], [record({ data: Uint8Array.from([1]) })])
    expectTyped(leftOf(deaggregate(carrier(noKey))), noKey.length, /^user record 0 has no partition_key_index$/)
    const noData = aggregateOf(["k"], [], [record({ pk: 0n })])
    expectTyped(leftOf(deaggregate(carrier(noData))), noData.length, /^user record 0 has no data$/)
  })

  it("tags and unknown fields are read past, as the KCL reads past them", () => {
    const tagged = create(AggregatedRecordSchema, {
      partitionKeyTable: ["k"],
      records: [create(RecordSchema, { partitionKeyIndex: 0n, data: Uint8Array.from([7]), tags: [{ key: "t", value: "v" }] })]
    })
    const body = toBinary(AggregatedRecordSchema, tagged)
    const withUnknown = Uint8Array.from([...body, 0x78, 0x01]) // field 15, varint 1
    expect(plain(rightOf(deaggregate(carrier(frame(withUnknown)))))).toEqual([
      { partitionKey: "k", explicitHashKey: undefined, data: "07", sub: 0 }
    ])
  })
})

describe("module loading", () => {
  // The generated decoder imports "shardline" (src/index.ts here) and calls Codec.fast and reads
  // FastRuntime when it loads; each way into the cycle must find them initialised.
  it.each([
    ["shardline", "shardline"],
    ["src/kpl", "../src/kpl/index.js"],
    ["the generated decoder", "../gen/shardline/kpl/v1/aggregated_record_shardline.js"]
  ])("works when %s is imported first", async (_, first) => {
    vi.resetModules()
    await import(first)
    const kpl = await import("../src/kpl/index.js")
    const generated = await import("../gen/shardline/kpl/v1/aggregated_record_shardline.js")
    const data = aggregateWithAws([{ partitionKey: "k", explicitHashKey: undefined, data: Uint8Array.from([1]) }])
    expect(rightOf(kpl.deaggregate(carrier(data))).map((u) => u.partitionKey)).toEqual(["k"])
    expect(generated.AggregatedRecordCodec.name).toBe("protobuf:shardline.kpl.v1.AggregatedRecord")
    expect(Either.isRight(generated.AggregatedRecordCodec.decode(bodyOf(data)))).toBe(true)
  })
})
