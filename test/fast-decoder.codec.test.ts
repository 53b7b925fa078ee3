import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import fc from "fast-check"
import {
  type ClickstreamEvent,
  ClickstreamEventSchema,
  type PageView,
  PageViewSchema
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import {
  ClickstreamEventCodec,
  decodeClickstreamEvent,
  decodePageView,
  PageViewCodec,
  pickClickstreamEvent,
  pickPageView
} from "../gen/shardline/examples/clickstream/v1/clickstream_shardline.js"
import { type Batch, type CheckpointStore, Codec, DecodeError, InvalidOption, Pipeline } from "../src/index.js"
import { arbitraryMessage, PipelineTest } from "../src/testing/index.js"
import { generated, registry } from "./support/generated.js"
import { difference, expectSameMessage } from "./support/sameDecode.js"
import { leftOf } from "./support/outcomes.js"

const context = { shardId: "shardId-000000000003", sequenceNumber: "49590338271490256608559692538361571095921575989136588898" }
const secret = new TextEncoder().encode("hunter2")

describe("Codec.fast", () => {
  it("is the generated codec: named like Codec.protobuf, typed by the schema", () => {
    expect(PageViewCodec.name).toBe(Codec.protobuf(PageViewSchema).name)
    expect(Codec.fast(PageViewSchema, decodePageView).name).toBe("protobuf:shardline.examples.clickstream.v1.PageView")
    expectTypeOf(PageViewCodec).toEqualTypeOf<Codec<PageView>>()
    expectTypeOf(Codec.fast(ClickstreamEventSchema, decodeClickstreamEvent)).toEqualTypeOf<Codec<ClickstreamEvent>>()
    expectTypeOf<Codec.Type<typeof ClickstreamEventCodec>>().toEqualTypeOf<ClickstreamEvent>()
  })

  it("decodes what Codec.protobuf decodes and encodes with toBinary", () =>
    fc.assert(fc.property(arbitraryMessage(ClickstreamEventSchema), (event) => {
      const bytes = toBinary(ClickstreamEventSchema, event)
      const fast = ClickstreamEventCodec.decode(bytes, context)
      const slow = Codec.protobuf(ClickstreamEventSchema).decode(bytes, context)
      if (Either.isLeft(fast) || Either.isLeft(slow)) throw new Error("expected both to decode")
      expectSameMessage(ClickstreamEventSchema, fast.right, slow.right)
      expect(ClickstreamEventCodec.encode(event)).toEqual(bytes)
    }), { numRuns: 50 }))

  const malformed: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
    ["a tag with wire type 6", [0x1a, secret.length, ...secret, 0x0e, 0x00]],
    ["a length running past the end", [0x1a, 0x40, ...secret]],
    ["a truncated varint", [0x1a, secret.length, ...secret, 0x28, 0xff, 0xff]],
    ["invalid UTF-8 in a string field", [0x1a, secret.length, ...secret, 0x0a, 0x02, 0xc3, 0x28]]
  ]
  for (const [label, data] of malformed) {
    it(`fails on ${label} with the DecodeError Codec.protobuf gives, never quoting the record`, () => {
      const bytes = new Uint8Array(data)
      const fast = leftOf(PageViewCodec.decode(bytes, context))
      const slow = leftOf(Codec.protobuf(PageViewSchema).decode(bytes, context))
      expect(fast).toBeInstanceOf(DecodeError)
      expect(fast).toMatchObject({
        _tag: "DecodeError",
        codec: "protobuf:shardline.examples.clickstream.v1.PageView",
        shardId: context.shardId,
        sequenceNumber: context.sequenceNumber,
        byteLength: bytes.byteLength,
        reason: slow.reason
      })
      expect(fast.cause).toBeInstanceOf(Error)
      expect(fast.message).toBe(slow.message)
      expect(fast.message).not.toContain("hunter2")
    })
  }
})

const events = (n: number): Array<ClickstreamEvent> =>
  Array.from({ length: n }, (_, i) =>
    create(ClickstreamEventSchema, {
      eventId: `evt-${i}`,
      tenant: i % 2 === 0 ? "a" : "b",
      event: { case: "pageView", value: { sessionId: `s-${i % 5}`, url: `/p/${i}`, attributes: { n: String(i) } } }
    })
  )

const run = (codec: Codec<ClickstreamEvent>, records: ReadonlyArray<{ partitionKey: string; data: Uint8Array }>) =>
  PipelineTest.run(Pipeline.fromKinesis({ streamName: "events", codec, batchInterval: "1 second", maxBatchRecords: 7 }), {
    records,
    shardCount: 3
  })

const delivered = (batches: ReadonlyArray<Batch<ClickstreamEvent>>) =>
  batches.flatMap((b) => b.records).map((r) => ({ shardId: r.shardId, sequenceNumber: r.sequenceNumber, value: r.value }))

describe("Codec.fast in a pipeline", () => {
  const records = events(40).map((event) => ({ partitionKey: event.eventId, data: toBinary(ClickstreamEventSchema, event) }))

  it.effect("delivers the values Codec.protobuf delivers, record for record", () =>
    Effect.gen(function* () {
      const fast = delivered(yield* run(ClickstreamEventCodec, records))
      const slow = delivered(yield* run(Codec.protobuf(ClickstreamEventSchema), records))
      expect(fast).toHaveLength(40)
      expect(fast.map(({ shardId, sequenceNumber }) => [shardId, sequenceNumber])).toEqual(
        slow.map(({ shardId, sequenceNumber }) => [shardId, sequenceNumber])
      )
      fast.forEach((record, i) => expectSameMessage(ClickstreamEventSchema, record.value, slow[i]!.value))
    }))

  it.effect("fails on a bad record with a DecodeError naming its shard and sequence number", () =>
    Effect.gen(function* () {
      const bad = [...records.slice(0, 3), { partitionKey: "bad", data: new Uint8Array([0x0a, 0x40, 0x01]) }]
      const error = yield* Effect.flip(run(ClickstreamEventCodec, bad))
      expect(error).toBeInstanceOf(DecodeError)
      const decodeError = error as DecodeError
      expect(decodeError.codec).toBe("protobuf:shardline.examples.clickstream.v1.ClickstreamEvent")
      expect(decodeError.shardId).toMatch(/^shardId-/)
      expect(decodeError.sequenceNumber).toMatch(/^\d+$/)
      const slow = yield* Effect.flip(run(Codec.protobuf(ClickstreamEventSchema), bad))
      expect(decodeError.message).toBe((slow as DecodeError).message)
    }))
})

describe("projections: pick<Message>(...fields)", () => {
  it("read the named fields and oneofs as fromBinary does; the rest stay at their zero values", () => {
    for (const g of generated) {
      const members = g.schema.members.map((m) => m.localName)
      fc.assert(
        fc.property(arbitraryMessage(g.schema, { registry, maxDepth: 2, maxCollectionSize: 3 }), fc.subarray(members), (message, picked) => {
          const bytes = toBinary(g.schema, message)
          const full = fromBinary(g.schema, bytes) as unknown as Record<string, unknown>
          const zero = create(g.schema) as unknown as Record<string, unknown>
          const codec = g.pick(...picked)
          const result = codec.decode(bytes)
          if (Either.isLeft(result)) throw result.left
          const value = result.right as unknown as Record<string, unknown>
          expect(Object.getPrototypeOf(value)).toBe(Object.getPrototypeOf(full))
          expect(value.$unknown).toBeUndefined()
          for (const name of members) {
            expect(difference(value[name], (picked.includes(name) ? full : zero)[name], name)).toBeUndefined()
          }
        }),
        { numRuns: 10 }
      )
    }
  })

  it("skip the other fields unread: bad text there is no error, in a picked field it is", () => {
    const badUrl = new Uint8Array([0x0a, 0x01, 0x61, 0x1a, 0x02, 0xc3, 0x28])
    const sessions = pickPageView("sessionId")
    expect(Either.getOrThrow(sessions.decode(badUrl)).sessionId).toBe("a")
    expect(Either.isLeft(pickPageView("url").decode(badUrl, context))).toBe(true)
    expect(Either.isLeft(PageViewCodec.decode(badUrl))).toBe(true)
    expect(sessions.name).toBe("protobuf:shardline.examples.clickstream.v1.PageView{sessionId}")
  })

  it("are typed as a Pick of the message, and refuse names it does not have", () => {
    const codec = pickClickstreamEvent("tenant", "event")
    expectTypeOf(codec).toEqualTypeOf<Codec<Pick<ClickstreamEvent, "$typeName" | "tenant" | "event">>>()
    const pipeline = Pipeline.fromKinesis({ streamName: "events", codec, batchInterval: "1 second" }).pipe(
      Pipeline.map((event) => event.tenant)
    )
    expectTypeOf(pipeline).toEqualTypeOf<Pipeline.Pipeline<string, never, CheckpointStore>>()
    // @ts-expect-error not a field of PageView
    expect(() => pickPageView("uri")).toThrow(InvalidOption)
    // @ts-expect-error $unknown is not a field
    expect(() => pickPageView("$unknown")).toThrow("Invalid option fields: got \"$unknown\"")
  })
})
