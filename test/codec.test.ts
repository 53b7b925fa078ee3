import { create, type DescMessage, equals, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf"
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import fc from "fast-check"
import {
  ClickSchema,
  type ClickstreamEvent,
  ClickstreamEventSchema,
  type PageView,
  PageViewSchema,
  PurchaseSchema
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Codec, DecodeError } from "../src/codec/index.js"
import {
  arbitraryClick,
  arbitraryClickstreamEvent,
  arbitraryPageView,
  arbitraryPurchase
} from "./arbitraries/clickstream.js"
import { leftOf, rightOf, thrownBy } from "./support/outcomes.js"

const context = { shardId: "shardId-000000000007", sequenceNumber: "49590338271490256608559692538361571095921575989136588898" }
const secret = "hunter2"
const utf8 = (text: string) => new TextEncoder().encode(text)
const cat = (...parts: ReadonlyArray<ArrayLike<number>>) => Uint8Array.from(parts.flatMap((p) => Array.from(p)))
// A string field (url = 3) holding the secret, so leaking the payload would show.
const secretField = cat([0x1a, secret.length], utf8(secret))

const expectNoPayload = (error: DecodeError, payload: Uint8Array) => {
  const hex = Buffer.from(payload).toString("hex")
  expect(error.message).not.toContain(secret)
  expect(error.message.toLowerCase()).not.toContain(hex)
  expect(error.message).not.toContain(Array.from(payload).join(","))
}

// it.prop from @effect/vitest runs effect's bundled fast-check 3, whose types reject fast-check 4 arbitraries.
const property = <A>(name: string, arbitrary: fc.Arbitrary<A>, predicate: (value: A) => void) =>
  it(name, () => fc.assert(fc.property(arbitrary, predicate)))

const roundTrips = <Desc extends DescMessage>(
  format: "binary" | "JSON",
  schema: Desc,
  arbitrary: fc.Arbitrary<MessageShape<Desc>>
) =>
  property(`round-trips ${schema.name} through ${format}`, arbitrary, (value) => {
    const codec = format === "binary" ? Codec.protobuf(schema) : Codec.protobufJson(schema)
    const decoded = rightOf(codec.decode(codec.encode(value)))
    expect(equals(schema, decoded, value)).toBe(true)
  })

/** Spans [start, end) of the payloads of top-level length-delimited fields. */
const lengthDelimitedSpans = (bytes: Uint8Array): ReadonlyArray<readonly [number, number]> => {
  const reader = new BinaryReader(bytes)
  const spans: Array<readonly [number, number]> = []
  while (reader.pos < reader.len) {
    const [, wireType] = reader.tag()
    if (wireType === WireType.LengthDelimited) {
      const length = reader.uint32()
      spans.push([reader.pos, reader.pos + length])
      reader.pos += length
    } else {
      reader.skip(wireType)
    }
  }
  return spans
}

// JSON has no -0: JSON.stringify(-0) is "0".
const withoutNegativeZero = (value: fc.JsonValue): fc.JsonValue =>
  typeof value === "number"
    ? value + 0
    : Array.isArray(value)
    ? value.map(withoutNegativeZero)
    : value !== null && typeof value === "object"
    ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v ?? null)]))
    : value

const truncatedEvents = arbitraryClickstreamEvent
  .map((event) => toBinary(ClickstreamEventSchema, event))
  .map((bytes) => ({ bytes, spans: lengthDelimitedSpans(bytes).filter(([start, end]) => end > start) }))
  .filter(({ spans }) => spans.length > 0)
  .chain(({ bytes, spans }) =>
    fc.constantFrom(...spans).chain(([start, end]) =>
      fc.integer({ min: start, max: end - 1 }).map((cut) => bytes.subarray(0, cut))
    )
  )

describe("Codec.protobuf", () => {
  roundTrips("binary", PageViewSchema, arbitraryPageView)
  roundTrips("binary", ClickSchema, arbitraryClick)
  roundTrips("binary", PurchaseSchema, arbitraryPurchase)
  roundTrips("binary", ClickstreamEventSchema, arbitraryClickstreamEvent)

  it("is named after the message type", () => {
    expect(Codec.protobuf(PageViewSchema).name).toBe("protobuf:shardline.examples.clickstream.v1.PageView")
  })

  const malformed = [
    { label: "a tag with wire type 6", bytes: cat(secretField, [0x0e, 0x00]), reason: "illegal tag: field no 1 wire type 6" },
    { label: "a tag with wire type 7", bytes: cat(secretField, [0x0f]), reason: "illegal tag: field no 1 wire type 7" },
    { label: "a length running past the end", bytes: cat([0x1a, 0x40], utf8(secret)), reason: "premature EOF" },
    { label: "a truncated varint", bytes: cat(secretField, [0x28, 0xff, 0xff]), reason: "premature EOF" },
    { label: "a truncated tag", bytes: cat(secretField, [0x80]), reason: "premature EOF" },
    {
      label: "invalid UTF-8 in a string field",
      bytes: cat(secretField, [0x0a, 0x02, 0xc3, 0x28]),
      reason: "invalid UTF-8 in a string field"
    }
  ]
  for (const { bytes, label, reason } of malformed) {
    it.effect(`fails with a DecodeError on ${label}`, () =>
      Effect.gen(function*() {
        const thrown = thrownBy(() => fromBinary(PageViewSchema, bytes))
        expect(thrown).toBeInstanceOf(Error)
        const error = yield* Effect.flip(Codec.protobuf(PageViewSchema).decode(bytes, context))
        expect(error).toBeInstanceOf(DecodeError)
        expect(error).toMatchObject({
          _tag: "DecodeError",
          codec: "protobuf:shardline.examples.clickstream.v1.PageView",
          shardId: context.shardId,
          sequenceNumber: context.sequenceNumber,
          byteLength: bytes.byteLength,
          reason,
          cause: thrown
        })
        expect(error.message).toContain(`(${bytes.byteLength} bytes)`)
        expect(error.message).toContain(context.sequenceNumber)
        expectNoPayload(error, bytes)
      }))
  }

  property("agrees with fromBinary on events truncated inside a length-delimited field", truncatedEvents, (bytes) => {
    const codec = Codec.protobuf(ClickstreamEventSchema)
    let expected: ClickstreamEvent | undefined
    try {
      expected = fromBinary(ClickstreamEventSchema, bytes)
    } catch {
      expected = undefined
    }
    const result = codec.decode(bytes, context)
    if (expected === undefined) {
      expect(leftOf(result).byteLength).toBe(bytes.byteLength)
    } else {
      expect(equals(ClickstreamEventSchema, rightOf(result), expected)).toBe(true)
    }
  })

  it("keeps or drops unknown fields as asked", () => {
    const known = toBinary(PageViewSchema, create(PageViewSchema, { url: "/home" }))
    const withUnknown = cat(known, new BinaryWriter().tag(99, WireType.Varint).uint32(42).finish())
    const keep = Codec.protobuf(PageViewSchema)
    expect(keep.encode(rightOf(keep.decode(withUnknown)))).toEqual(withUnknown)
    const dropOnRead = Codec.protobuf(PageViewSchema, { readUnknownFields: false })
    expect(dropOnRead.encode(rightOf(dropOnRead.decode(withUnknown)))).toEqual(known)
    const dropOnWrite = Codec.protobuf(PageViewSchema, { writeUnknownFields: false })
    expect(dropOnWrite.encode(rightOf(dropOnWrite.decode(withUnknown)))).toEqual(known)
  })
})

describe("Codec.protobufJson", () => {
  roundTrips("JSON", PageViewSchema, arbitraryPageView)
  roundTrips("JSON", ClickSchema, arbitraryClick)
  roundTrips("JSON", PurchaseSchema, arbitraryPurchase)
  roundTrips("JSON", ClickstreamEventSchema, arbitraryClickstreamEvent)

  const pageViews = Codec.protobufJson(PageViewSchema)

  it("is named after the message type", () => {
    expect(pageViews.name).toBe("json:shardline.examples.clickstream.v1.PageView")
  })

  it("rejects invalid UTF-8", () => {
    const bytes = cat(utf8(`{"url":"${secret}`), [0xff], utf8(`"}`))
    const error = leftOf(pageViews.decode(bytes, context))
    expect(error).toMatchObject({ reason: "invalid UTF-8", byteLength: bytes.byteLength, shardId: context.shardId })
    expectNoPayload(error, bytes)
  })

  const invalid = [
    { label: "truncated JSON", text: `{"url":"${secret}"` },
    { label: "text that is not JSON", text: `${secret} is not json` },
    { label: "a key the schema does not know", text: `{"url":"/a","${secret}":"x"}` },
    { label: "a value of the wrong type", text: `{"loadTimeMs":"${secret}"}` },
    { label: "a fractional integer", text: `{"loadTimeMs":1234.5678}` },
    { label: "an unknown enum name", text: `{"device":"${secret}"}` }
  ]
  for (const { label, text } of invalid) {
    it(`fails with a DecodeError that does not quote the record on ${label}`, () => {
      const bytes = utf8(text)
      const error = leftOf(pageViews.decode(bytes, context))
      expect(error).toMatchObject({ codec: pageViews.name, byteLength: bytes.byteLength, ...context })
      expect(error.message).toMatch(/^Cannot decode record \d+ of shard shardId-000000000007 as json:/)
      expectNoPayload(error, bytes)
      expect(error.message).not.toContain("1234.5678")
    })
  }

  it("accepts unknown keys and enum names only with ignoreUnknownFields", () => {
    const bytes = utf8(`{"url":"/a","referer":"typo","device":"DEVICE_TYPE_WATCH"}`)
    expect(leftOf(pageViews.decode(bytes)).reason).toContain("unknown key")
    const lenient = Codec.protobufJson(PageViewSchema, { ignoreUnknownFields: true })
    expect(equals(PageViewSchema, rightOf(lenient.decode(bytes)), create(PageViewSchema, { url: "/a" }))).toBe(true)
  })

  it("accepts a leading byte order mark", () => {
    const decoded = rightOf(pageViews.decode(cat([0xef, 0xbb, 0xbf], utf8(`{"url":"/a"}`))))
    expect(decoded.url).toBe("/a")
  })
})

describe("Codec.utf8, Codec.bytes and Codec.json", () => {
  property("utf8 round-trips any well-formed text", fc.string({ unit: "binary" }), (text) => {
    expect(rightOf(Codec.utf8.decode(Codec.utf8.encode(text)))).toBe(text)
  })

  it("utf8 keeps a leading U+FEFF as text", () => {
    expect(rightOf(Codec.utf8.decode(Codec.utf8.encode("\uFEFFhi")))).toBe("\uFEFFhi")
  })

  it("utf8 rejects invalid UTF-8 instead of replacing it", () => {
    const bytes = cat(utf8(secret), [0xc3, 0x28])
    const error = leftOf(Codec.utf8.decode(bytes, { shardId: "s-1" }))
    expect(error).toMatchObject({ codec: "utf8", reason: "invalid UTF-8", shardId: "s-1", byteLength: 9 })
    expect(error.message).toBe("Cannot decode record of shard s-1 as utf8 (9 bytes): invalid UTF-8")
  })

  property("bytes is the identity", fc.uint8Array(), (bytes) => {
    expect(Codec.bytes.encode(bytes)).toBe(bytes)
    expect(rightOf(Codec.bytes.decode(bytes))).toBe(bytes)
  })

  property("json round-trips JSON values", fc.jsonValue().map(withoutNegativeZero), (value) => {
    const codec = Codec.json()
    expect(rightOf(codec.decode(codec.encode(value)))).toStrictEqual(value)
  })

  it("json fails with a DecodeError on invalid JSON and invalid UTF-8", () => {
    const codec = Codec.json()
    for (const bytes of [utf8(`{"password":"${secret}`), utf8(`${secret}`), cat(utf8(`"${secret}`), [0xff, 0x22])]) {
      const error = leftOf(codec.decode(bytes, context))
      expect(error).toMatchObject({ codec: "json", byteLength: bytes.byteLength, ...context })
      expectNoPayload(error, bytes)
    }
  })

  it("json refuses to encode what JSON cannot hold", () => {
    expect(() => Codec.json<undefined>().encode(undefined)).toThrow(TypeError)
  })
})

describe("DecodeError", () => {
  it("says which record failed, leaving out what is unknown", () => {
    const base = { codec: "utf8", reason: "invalid UTF-8", byteLength: 3 }
    expect(new DecodeError({ ...base, ...context }).message).toBe(
      `Cannot decode record ${context.sequenceNumber} of shard ${context.shardId} as utf8 (3 bytes): invalid UTF-8`
    )
    expect(new DecodeError({ ...base, sequenceNumber: "42" }).message).toBe(
      "Cannot decode record 42 as utf8 (3 bytes): invalid UTF-8"
    )
    expect(new DecodeError(base).message).toBe("Cannot decode record as utf8 (3 bytes): invalid UTF-8")
  })
})

describe("types", () => {
  it("infers the message type from the schema", () => {
    const codec = Codec.protobuf(PageViewSchema)
    expectTypeOf(codec).toEqualTypeOf<Codec<PageView>>()
    expectTypeOf(Codec.protobufJson(PageViewSchema)).toEqualTypeOf<Codec<PageView>>()
    expectTypeOf<Codec.Type<typeof codec>>().toEqualTypeOf<PageView>()
    expectTypeOf(codec.decode).returns.toEqualTypeOf<Either.Either<PageView, DecodeError>>()
    expectTypeOf(Codec.utf8).toEqualTypeOf<Codec<string>>()
    expectTypeOf(Codec.json<{ id: string }>()).toEqualTypeOf<Codec<{ id: string }>>()
    // @ts-expect-error a PageView codec does not encode a Click
    const misuse = () => codec.encode(create(ClickSchema))
    expect(misuse).toBeTypeOf("function")
  })
})
