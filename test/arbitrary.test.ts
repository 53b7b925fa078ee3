import {
  clone,
  create,
  type DescMessage,
  type JsonValue,
  equals,
  fromBinary,
  fromJson,
  fromJsonString,
  isFieldSet,
  type Message,
  type MessageShape,
  ScalarType,
  toBinary,
  toJson,
  toJsonString
} from "@bufbuild/protobuf"
import {
  protoCamelCase,
  protoSnakeCase,
  reflect,
  type ReflectList,
  type ReflectMap,
  type ReflectMessage
} from "@bufbuild/protobuf/reflect"
import {
  type Any,
  anyPack,
  anyUnpack,
  TimestampSchema
} from "@bufbuild/protobuf/wkt"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import fc from "fast-check"
import {
  ClickSchema,
  ClickstreamEventSchema,
  file_shardline_examples_clickstream_v1_clickstream,
  type PageView,
  PageViewSchema
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { EditionsSchema, file_shardline_testkit_v1_editions, Shape } from "../gen/shardline/testkit/v1/editions_pb.js"
import {
  Color,
  file_shardline_testkit_v1_kitchen_sink,
  KitchenSinkSchema,
  LinkedListSchema,
  MapsSchema,
  OneofsSchema,
  PingSchema,
  ScalarsSchema,
  type Tree,
  TreeSchema,
  WellKnownSchema
} from "../gen/shardline/testkit/v1/kitchen_sink_pb.js"
import { file_shardline_testkit_v1_legacy, Legacy_HeaderSchema, LegacySchema, Level } from "../gen/shardline/testkit/v1/legacy_pb.js"
import { InvalidOption } from "../src/config/InvalidOption.js"
import { arbitraryMessage, type ArbitraryMessageOptions } from "../src/testing/arbitrary/index.js"
// Every message in gen/ (a new .proto file is covered without touching this test), and what an Any may pack.
import { registry, schemaFiles, schemas } from "./support/generated.js"

const sample = <Desc extends DescMessage>(schema: Desc, options: NoInfer<ArbitraryMessageOptions<Desc>> = {}, numRuns = 200) =>
  fc.sample(arbitraryMessage(schema, options), { numRuns, seed: 20_240_601 })

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * `equals` from protobuf-es, with Any payloads compared unpacked. It compares floats the IEEE
 * way, so NaN never equals NaN; NaN survives both formats, and then the encodings must be equal.
 */
const same = (schema: DescMessage, a: Message, b: Message) =>
  equals(schema, a, b, { registry, unpackAny: true }) || bytesEqual(toBinary(schema, a), toBinary(schema, b))

const isFloat = (type: ScalarType | undefined) => type === ScalarType.FLOAT || type === ScalarType.DOUBLE
const unsigned = (v: unknown) => (Object.is(v, -0) ? 0 : v)

/**
 * The one thing JSON text loses: `JSON.stringify(-0)` is "0", so -0 comes back as +0 (and a
 * singular implicit-presence float at +0 is unset). This is `message` with every -0 made +0,
 * inside Any payloads and Struct values too.
 */
const withoutNegativeZero = <M extends Message>(schema: DescMessage, message: M): M => {
  const copy = clone(schema, message)
  const walk = (r: ReflectMessage): void => {
    if (r.desc.typeName === "google.protobuf.Any") {
      const inner = anyUnpack(r.message as Any, registry)
      const desc = inner && registry.getMessage(inner.$typeName)
      if (inner && desc) {
        walk(reflect(desc, inner))
        anyPack(desc, inner, r.message as Any)
      }
      return
    }
    for (const f of r.fields) {
      if (!r.isSet(f)) continue
      if (f.fieldKind === "scalar" && isFloat(f.scalar)) r.set(f, unsigned(r.get(f)) as never)
      if (f.fieldKind === "message") {
        const m = r.get(f)
        walk(m)
        r.set(f, m)
      }
      if (f.fieldKind === "list") {
        const list = r.get(f) as ReflectList
        for (let i = 0; i < list.size; i++) {
          const item = list.get(i)
          if (f.listKind === "message") walk(item as ReflectMessage)
          list.set(i, f.listKind === "message" ? item : unsigned(item))
        }
      }
      if (f.fieldKind === "map") {
        const map = r.get(f) as ReflectMap
        for (const [key, value] of [...map]) {
          if (f.mapKind === "message") walk(value as ReflectMessage)
          map.set(key, f.mapKind === "message" ? value : unsigned(value))
        }
      }
    }
  }
  walk(reflect(schema, copy))
  return copy as M
}

const roundTrips = (schema: DescMessage, options: ArbitraryMessageOptions, numRuns: number) =>
  fc.assert(
    fc.property(arbitraryMessage(schema, { registry, ...options }), (message) => {
      const binary = fromBinary(schema, toBinary(schema, message))
      expect(same(schema, binary, message)).toBe(true)
      const json = fromJson(schema, toJson(schema, message, { registry }), { registry })
      expect(same(schema, json, message)).toBe(true)
      const text = fromJsonString(schema, toJsonString(schema, message, { registry }), { registry })
      expect(same(schema, text, withoutNegativeZero(schema, message))).toBe(true)
    }),
    { numRuns }
  )

describe("arbitraryMessage: round trips", () => {
  it("covers every message of every generated file", () => {
    expect(schemaFiles).toEqual(expect.arrayContaining([
      file_shardline_examples_clickstream_v1_clickstream,
      file_shardline_testkit_v1_kitchen_sink,
      file_shardline_testkit_v1_legacy,
      file_shardline_testkit_v1_editions
    ]))
    expect(schemas.map((s) => s.typeName)).toEqual(expect.arrayContaining([
      "shardline.examples.clickstream.v1.ClickstreamEvent",
      "shardline.testkit.v1.KitchenSink",
      "shardline.testkit.v1.Oneofs.Inner",
      "shardline.testkit.v1.Legacy.Header",
      "shardline.testkit.v1.Editions.Part"
    ]))
  })

  for (const schema of schemas) {
    it(`${schema.typeName} survives binary, JSON and JSON text`, () => roundTrips(schema, {}, 40))
    it(`${schema.typeName} with NaN, infinities, -0 and unknown enum numbers too`, () =>
      roundTrips(schema, { nonFiniteFloats: true, unknownEnumValues: true, maxDepth: 2 }, 20))
  }
})

/** How deep messages nest below `message` (0: no message-valued field set), Any payloads and Struct values included. */
const depthOf = (schema: DescMessage, message: Message): number => {
  const walk = (r: ReflectMessage): number => {
    if (r.desc.typeName === "google.protobuf.Any") {
      const inner = anyUnpack(r.message as Any, registry)
      const desc = inner && registry.getMessage(inner.$typeName)
      return inner && desc ? 1 + walk(reflect(desc, inner)) : 0
    }
    let deepest = 0
    for (const f of r.fields) {
      if (!r.isSet(f)) continue
      const children = f.fieldKind === "message"
        ? [r.get(f)]
        : f.fieldKind === "list" && f.listKind === "message"
        ? [...(r.get(f) as ReflectList)]
        : f.fieldKind === "map" && f.mapKind === "message"
        ? [...(r.get(f) as ReflectMap).values()]
        : []
      for (const child of children) deepest = Math.max(deepest, 1 + walk(child as ReflectMessage))
    }
    return deepest
  }
  return walk(reflect(schema, message))
}

const treeDepth = (tree: Tree): number => Math.max(0, ...tree.children.map((c) => 1 + treeDepth(c)))
const treeSize = (tree: Tree): number => 1 + tree.children.reduce((n, c) => n + treeSize(c), 0)
const codePoints = (s: string) => [...s].map((c) => c.codePointAt(0)!)
/** Valid UTF-8 text: encoding replaces a lone surrogate, so it would not come back. */
const wellFormed = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s)) === s
const all = <A>(xs: ReadonlyArray<A>, p: (x: A) => boolean) => xs.every(p)
const some = <A>(xs: ReadonlyArray<A>, p: (x: A) => boolean) => xs.some(p)

describe("arbitraryMessage: what it generates", () => {
  it("scalars over their whole range, 64-bit ones past 2^53, bigint or string as jstype says", () => {
    const xs = sample(ScalarsSchema)
    const int32 = xs.flatMap((x) => [x.int32Value, x.sint32Value, x.sfixed32Value, ...x.repeatedInt32])
    const uint32 = xs.flatMap((x) => [x.uint32Value, x.fixed32Value, ...x.repeatedFixed32])
    const int64 = xs.flatMap((x) => [x.int64Value, x.sint64Value, x.sfixed64Value, ...x.repeatedSint64])
    const uint64 = xs.flatMap((x) => [x.uint64Value, x.fixed64Value, ...x.repeatedUint64])
    expect(all(int32, (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31)).toBe(true)
    expect(some(int32, (n) => n < -(2 ** 30)) && some(int32, (n) => n > 2 ** 30)).toBe(true)
    expect(all(uint32, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32)).toBe(true)
    expect(some(uint32, (n) => n >= 2 ** 31)).toBe(true)
    expect(all(int64, (n) => typeof n === "bigint" && n >= -(2n ** 63n) && n < 2n ** 63n)).toBe(true)
    expect(some(int64, (n) => n < -(2n ** 53n)) && some(int64, (n) => n > 2n ** 53n)).toBe(true)
    expect(all(uint64, (n) => n >= 0n && n < 2n ** 64n)).toBe(true)
    expect(some(uint64, (n) => n >= 2n ** 63n)).toBe(true)
    const asString = xs.flatMap((x) => [x.int64AsString, ...x.repeatedSfixed64AsString])
    expect(all(asString, (s) => typeof s === "string" && BigInt(s).toString() === s)).toBe(true)
    expect(some(asString, (s) => BigInt(s) > 2n ** 53n)).toBe(true)
    expect(some(xs, (x) => x.optionalUint64AsString === undefined) && some(xs, (x) => typeof x.optionalUint64AsString === "string")).toBe(true)
    expect(all(xs.flatMap((x) => [x.floatValue, ...x.repeatedFloat]), (f) => Math.fround(f) === f)).toBe(true)
    expect(some(xs, (x) => x.boolValue) && some(xs, (x) => !x.boolValue)).toBe(true)
    expect(some(xs, (x) => x.bytesValue.length > 0)).toBe(true)
  })

  it("text is any Unicode UTF-8 can carry: beyond the BMP, never a lone surrogate", () => {
    const strings = sample(ScalarsSchema).flatMap((x) => [x.stringValue, ...x.repeatedString])
    expect(all(strings, wellFormed)).toBe(true)
    expect(some(strings, (s) => codePoints(s).some((c) => c > 0xffff))).toBe(true)
    expect(some(strings, (s) => codePoints(s).some((c) => c >= 0x80 && c <= 0xffff))).toBe(true)
  })

  it("NaN, infinities and -0 only with nonFiniteFloats", () => {
    const floats = (options: ArbitraryMessageOptions) =>
      sample(ScalarsSchema, options).flatMap((x) => [x.doubleValue, x.floatValue, ...x.repeatedDouble, ...x.repeatedFloat])
    const plain = floats({})
    expect(all(plain, (f) => Number.isFinite(f) && !Object.is(f, -0))).toBe(true)
    const edgy = floats({ nonFiniteFloats: true })
    for (const edge of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]) {
      expect(some(edgy, (f) => Object.is(f, edge))).toBe(true)
    }
    // A Value number must stay finite: JSON has no NaN.
    const numbers = sample(WellKnownSchema, { nonFiniteFloats: true }).flatMap((w) =>
      w.value?.kind.case === "numberValue" ? [w.value.kind.value] : []
    )
    expect(numbers.length).toBeGreaterThan(0)
    expect(all(numbers, Number.isFinite)).toBe(true)
  })

  it("known enum numbers, and unknown ones only for open enums with unknownEnumValues", () => {
    const known = new Set<number>([Color.UNSPECIFIED, Color.RED, Color.GREEN, Color.BLUE])
    const colors = (options: ArbitraryMessageOptions) =>
      sample(ScalarsSchema, options).flatMap((x) => [x.color, ...x.repeatedColor, ...(x.optionalColor === undefined ? [] : [x.optionalColor])])
    expect(all(colors({}), (c) => known.has(c))).toBe(true)
    expect(known.size).toBe(new Set(colors({})).size)
    expect(some(colors({ unknownEnumValues: true }), (c) => !known.has(c))).toBe(true)
    // Closed enums (proto2, and editions with enum_type = CLOSED) keep to their values.
    const levels = sample(LegacySchema, { unknownEnumValues: true }).flatMap((l) => [l.level, l.fallback, ...l.levels])
    expect(all(levels, (l) => l in Level)).toBe(true)
    const shapes = sample(EditionsSchema, { unknownEnumValues: true }).flatMap((e) => [e.shape, ...e.shapes])
    expect(all(shapes, (s) => s in Shape)).toBe(true)
  })

  it("oneofs: every case and none, a oneof inside a case's message too", () => {
    const xs = sample(OneofsSchema, {}, 400)
    const cases = new Set(xs.map((x) => x.choice.case))
    expect(cases).toEqual(new Set([undefined, ...OneofsSchema.oneofs[0]!.fields.map((f) => f.localName)]))
    expect(new Set(xs.map((x) => x.flag.case))).toEqual(new Set([undefined, "enabled", "weight"]))
    const inner = xs.flatMap((x) => (x.choice.case === "inner" ? [x.choice.value.detail.case] : []))
    expect(new Set(inner)).toEqual(new Set([undefined, "leaf", "outer", "detailColor", "detailRatio"]))
  })

  it("proto3 optional fields: unset, set, and set to zero, which binary keeps as set", () => {
    const xs = sample(ScalarsSchema)
    const field = ScalarsSchema.field.optionalInt32!
    expect(some(xs, (x) => x.optionalInt32 === undefined)).toBe(true)
    expect(some(xs, (x) => x.optionalInt32 !== undefined && x.optionalInt32 !== 0)).toBe(true)
    const zero = xs.find((x) => x.optionalInt32 === 0)!
    expect(isFieldSet(fromBinary(ScalarsSchema, toBinary(ScalarsSchema, zero)), field)).toBe(true)
    expect(some(xs, (x) => x.optionalString === "")).toBe(true)
  })

  it("proto2: required fields always set (beyond maxDepth too), optional ones unset or set, to the default too", () => {
    const xs = sample(LegacySchema, { maxDepth: 1 })
    for (const required of ["id", "version", "level", "header"] as const) {
      expect(all(xs, (x) => isFieldSet(x, LegacySchema.field[required]!))).toBe(true)
    }
    // At depth 1 `child` is the last message allowed; its required header is still there.
    const children = xs.flatMap((x) => (x.child ? [x.child] : []))
    expect(children.length).toBeGreaterThan(0)
    expect(all(children, (c) => c.header !== undefined && isFieldSet(c.header, Legacy_HeaderSchema.field.key!))).toBe(true)
    expect(all(children, (c) => c.child === undefined)).toBe(true)
    const enabled = LegacySchema.field.enabled!
    const unset = xs.find((x) => !isFieldSet(x, enabled))!
    expect(unset.enabled).toBe(true) // [default = true]
    const setToDefault = xs.find((x) => isFieldSet(x, enabled) && x.enabled)!
    expect(isFieldSet(fromBinary(LegacySchema, toBinary(LegacySchema, setToDefault)), enabled)).toBe(true)
    expect(some(xs, (x) => !isFieldSet(x, LegacySchema.field.fallback!) && x.fallback === Level.HIGH)).toBe(true)
    expect(some(xs, (x) => isFieldSet(x, LegacySchema.field.fallback!) && x.fallback === Level.HIGH)).toBe(true)
    expect(some(xs, (x) => !isFieldSet(x, LegacySchema.field.offsetAsString!) && x.offsetAsString === "-42")).toBe(true)
  })

  it("editions: explicit, implicit and legacy-required presence from features", () => {
    const xs = sample(EditionsSchema)
    expect(all(xs, (x) => isFieldSet(x, EditionsSchema.field.requiredName!))).toBe(true)
    expect(some(xs, (x) => !isFieldSet(x, EditionsSchema.field.explicitCount!))).toBe(true)
    expect(some(xs, (x) => isFieldSet(x, EditionsSchema.field.explicitCount!) && x.explicitCount === 0)).toBe(true)
    expect(some(xs, (x) => !isFieldSet(x, EditionsSchema.field.defaulted!) && x.defaulted === "edition")).toBe(true)
  })

  it("recursion reaches depth 2 and never passes maxDepth, direct and mutual", () => {
    for (const maxDepth of [0, 1, 3]) {
      const trees = sample(TreeSchema, { maxDepth })
      expect(all(trees, (t) => treeDepth(t) <= maxDepth)).toBe(true)
      expect(some(trees, (t) => treeDepth(t) === maxDepth)).toBe(true)
    }
    expect(some(sample(TreeSchema), (t) => treeDepth(t) >= 2)).toBe(true)
    for (const schema of [LinkedListSchema, PingSchema, KitchenSinkSchema] as const) {
      const depths = sample(schema as DescMessage, { maxDepth: 2, registry }, 60).map((m) => depthOf(schema, m))
      expect(Math.max(...depths)).toBe(2)
    }
  })

  it("repeated fields and maps hold at most maxCollectionSize, with every key type", () => {
    const xs = sample(MapsSchema, { maxCollectionSize: 2 })
    const sizes = xs.flatMap((m) =>
      MapsSchema.fields.map((f) => Object.keys((m as unknown as Record<string, object>)[f.localName]!).length)
    )
    expect(Math.max(...sizes)).toBe(2)
    expect(all(xs, (m) => all(Object.keys(m.boolKey), (k) => k === "true" || k === "false"))).toBe(true)
    expect(some(xs, (m) => some(Object.keys(m.sint64Key), (k) => BigInt(k) < -(2n ** 53n)))).toBe(true)
    expect(some(xs, (m) => some(Object.keys(m.uint32Key), (k) => Number(k) >= 2 ** 31))).toBe(true)
    expect(some(xs, (m) => some(Object.values(m.messageValue), (s) => s.$typeName === ScalarsSchema.typeName))).toBe(true)
    const lists = sample(ScalarsSchema, { maxCollectionSize: 3 }).map((s) => s.repeatedBytes.length)
    expect(Math.max(...lists)).toBe(3)
  })

  it("well-known types: valid ranges, unboxed wrappers, JSON-safe Struct and FieldMask, Any from the registry", () => {
    const xs = sample(WellKnownSchema, { registry })
    const timestamps = xs.flatMap((w) => [...(w.timestamp ? [w.timestamp] : []), ...w.timestamps])
    expect(all(timestamps, (t) => t.seconds >= -62_135_596_800n && t.seconds <= 253_402_300_799n)).toBe(true)
    expect(all(timestamps, (t) => t.nanos >= 0 && t.nanos <= 999_999_999)).toBe(true)
    expect(some(timestamps, (t) => t.seconds < 0n) && some(timestamps, (t) => t.seconds > 0n)).toBe(true)
    const durations = xs.flatMap((w) => [...(w.duration ? [w.duration] : []), ...w.durations])
    expect(all(durations, (d) => d.seconds >= -315_576_000_000n && d.seconds <= 315_576_000_000n)).toBe(true)
    expect(all(durations, (d) => Math.abs(d.nanos) <= 999_999_999 && !(d.seconds > 0n && d.nanos < 0) && !(d.seconds < 0n && d.nanos > 0))).toBe(true)
    expect(some(durations, (d) => d.nanos < 0)).toBe(true)
    expect(some(xs, (w) => w.int64Value === undefined) && some(xs, (w) => typeof w.int64Value === "bigint")).toBe(true)
    expect(some(xs, (w) => typeof w.bytesValue === "object" && w.bytesValue instanceof Uint8Array)).toBe(true)
    expect(some(xs, (w) => w.struct !== undefined && Object.keys(w.struct).length > 0)).toBe(true)
    const jsonNumbers = (v: JsonValue): Array<number> =>
      typeof v === "number" ? [v] : Array.isArray(v) ? v.flatMap(jsonNumbers) : v !== null && typeof v === "object" ? Object.values(v).flatMap(jsonNumbers) : []
    expect(all(xs.flatMap((w) => w.structs.flatMap(jsonNumbers)), Number.isFinite)).toBe(true)
    const paths = xs.flatMap((w) => w.fieldMask?.paths ?? [])
    expect(paths.length).toBeGreaterThan(0)
    expect(all(paths, (p) => p.length > 0 && protoSnakeCase(protoCamelCase(p)) === p)).toBe(true)
    const packed = new Set(xs.flatMap((w) => [w.any, ...w.anys]).flatMap((a) => (a ? [a.typeUrl] : [])))
    expect(packed.has("")).toBe(true)
    expect(packed.size).toBeGreaterThan(5)
    // Without a registry an Any can only be empty.
    expect(all(sample(WellKnownSchema).flatMap((w) => [w.any, ...w.anys]), (a) => a === undefined || a.typeUrl === "")).toBe(true)
  })

  it("overrides replace top-level fields and oneofs; typeOverrides every nested message of a type", () => {
    const urls = ["/a", "/b"]
    const views = sample(PageViewSchema, { overrides: { url: fc.constantFrom(...urls), loadTimeMs: fc.constant(7) } })
    expect(all(views, (v) => urls.includes(v.url) && v.loadTimeMs === 7)).toBe(true)
    const events = sample(ClickstreamEventSchema, {
      overrides: { event: fc.constant({ case: "click" as const, value: create(ClickSchema, { url: "/c" }) }) }
    })
    expect(all(events, (e) => e.event.case === "click" && e.event.value.url === "/c")).toBe(true)
    const epoch = create(TimestampSchema, { seconds: 0n })
    const sinks = sample(KitchenSinkSchema, { typeOverrides: { "google.protobuf.Timestamp": fc.constant(epoch) } }, 100)
    const stamps = sinks.flatMap((k) => k.wellKnown ? [k.wellKnown.timestamp, ...k.wellKnown.timestamps] : [])
    expect(stamps.filter((t) => t !== undefined).length).toBeGreaterThan(0)
    expect(all(stamps, (t) => t === undefined || equals(TimestampSchema, t, epoch))).toBe(true)
    // Converted to protobuf-es's local form where it unboxes: wrappers and Struct.
    const boxed = sample(WellKnownSchema, {
      typeOverrides: {
        "google.protobuf.Int32Value": fc.constant(null).map(() => create(WellKnownSchema.field.int32Value!.message!, { value: 5 }))
      }
    })
    expect(all(boxed, (w) => w.int32Value === undefined || w.int32Value === 5)).toBe(true)
  })
})

/** The shrunk counterexample of a property that must fail. */
const counterexample = <A>(arb: fc.Arbitrary<A>, predicate: (a: A) => boolean): A => {
  const result = fc.check(fc.property(arb, predicate), { seed: 7, numRuns: 500 })
  if (!result.failed || result.counterexample === null) throw new Error("expected the property to fail")
  return result.counterexample[0]
}

describe("arbitraryMessage: shrinking", () => {
  it("a PageView with a url shrinks to a one-character url, every other field empty", () => {
    const view = counterexample(arbitraryMessage(PageViewSchema), (v) => v.url === "")
    expect([...view.url]).toHaveLength(1)
    expect(equals(PageViewSchema, view, create(PageViewSchema, { url: view.url }))).toBe(true)
  })

  it("a tree deeper than 1 shrinks to a bare chain of three nodes", () => {
    const tree = counterexample(arbitraryMessage(TreeSchema), (t) => treeDepth(t) <= 1)
    expect(treeSize(tree)).toBe(3)
    expect(equals(TreeSchema, tree, create(TreeSchema, { children: [{ children: [{}] }] }))).toBe(true)
  })

  it("what a property does to its message never changes the messages tried next", () => {
    const tried = (mutate: boolean) => {
      const seen: Array<string> = []
      fc.check(
        fc.property(arbitraryMessage(TreeSchema), (tree) => {
          seen.push(toJsonString(TreeSchema, tree))
          const deep = treeDepth(tree) > 1
          if (mutate) for (const child of tree.children) child.children.push(create(TreeSchema, { label: "mutated" }))
          return !deep
        }),
        { seed: 7 }
      )
      return seen
    }
    const untouched = tried(false)
    expect(untouched.length).toBeGreaterThan(1)
    expect(tried(true)).toEqual(untouched)
  })

  it("an int64 past 2^53 shrinks to exactly ±2^53, every other field at its zero value", () => {
    const limit = 2n ** 53n
    const scalars = counterexample(arbitraryMessage(ScalarsSchema), (s) => s.int64Value > -limit && s.int64Value < limit)
    expect([limit, -limit]).toContain(scalars.int64Value)
    expect(equals(ScalarsSchema, scalars, create(ScalarsSchema, { int64Value: scalars.int64Value }))).toBe(true)
  })

  it("a purchase with a line item shrinks to that oneof case holding one empty item", () => {
    const event = counterexample(
      arbitraryMessage(ClickstreamEventSchema),
      (e) => !(e.event.case === "purchase" && e.event.value.items.length > 0)
    )
    const smallest = create(ClickstreamEventSchema, { event: { case: "purchase", value: { items: [{}] } } })
    expect(equals(ClickstreamEventSchema, event, smallest)).toBe(true)
  })
})

describe("arbitraryMessage: seeds", () => {
  it("the same seed gives the same messages, another seed different ones", () => {
    // A fresh arbitrary each time: nothing but fast-check's seeded randomness decides.
    const draw = (seed: number) => fc.sample(arbitraryMessage(KitchenSinkSchema, { registry }), { numRuns: 10, seed })
    const [first, again, other] = [draw(42), draw(42), draw(43)]
    expect(first.every((m, i) => same(KitchenSinkSchema, m, again[i]!))).toBe(true)
    expect(first.every((m, i) => bytesEqual(toBinary(KitchenSinkSchema, m), toBinary(KitchenSinkSchema, again[i]!)))).toBe(true)
    expect(first.some((m, i) => !same(KitchenSinkSchema, m, other[i]!))).toBe(true)
  })
})

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected an error")
}

describe("arbitraryMessage: bad options", () => {
  it.each([
    ["maxDepth", -1, "Invalid option maxDepth: got -1; expected a whole number of at least 0"],
    ["maxDepth", 1.5, "Invalid option maxDepth: got 1.5; expected a whole number of at least 0"],
    ["maxDepth", Number.NaN, "Invalid option maxDepth: got NaN; expected a whole number of at least 0"],
    ["maxCollectionSize", -3, "Invalid option maxCollectionSize: got -3; expected a whole number of at least 0"]
  ] as const)("%s = %s is an InvalidOption", (option, value, message) => {
    const error = thrown(() => arbitraryMessage(TreeSchema, { [option]: value }))
    expect(error).toBeInstanceOf(InvalidOption)
    expect((error as InvalidOption).message).toBe(message)
  })

  it("an override naming no field or oneof is an InvalidOption naming it and the members", () => {
    // @ts-expect-error `uri` is not a field of PageView
    const error = thrown(() => arbitraryMessage(PageViewSchema, { overrides: { uri: fc.constant("/") } }))
    expect(error).toBeInstanceOf(InvalidOption)
    expect((error as InvalidOption).message).toContain(`got "uri"; expected a field or oneof of ${PageViewSchema.typeName}`)
    expect((error as InvalidOption).message).toContain("url")
  })

  it("an override that is not an arbitrary, or on a well-known type built whole, is an InvalidOption", () => {
    const notArbitrary = thrown(() => arbitraryMessage(PageViewSchema, { overrides: { url: "/" as never } }))
    expect((notArbitrary as InvalidOption).message).toBe("Invalid option overrides.url: got string; expected a fast-check Arbitrary")
    const wholeType = thrown(() => arbitraryMessage(TimestampSchema, { overrides: { seconds: fc.constant(0n) } }))
    expect((wholeType as InvalidOption).message).toContain("google.protobuf.Timestamp is generated whole")
    expect(thrown(() => arbitraryMessage(TreeSchema, { registry: {} as never }))).toBeInstanceOf(InvalidOption)
  })

  it("a type override for a type the message never holds fails up front; one of the wrong type when generating", () => {
    const unknownType = thrown(() => arbitraryMessage(TreeSchema, { typeOverrides: { "pkg.Nope": fc.constant(create(TreeSchema)) } }))
    expect((unknownType as InvalidOption).message).toContain(`got "pkg.Nope"; expected a message type nested in ${TreeSchema.typeName}`)
    const wrongType = arbitraryMessage(PageViewSchema, { typeOverrides: { "google.protobuf.Timestamp": fc.constant(create(TreeSchema)) } })
    expect(() => fc.sample(wrongType, { numRuns: 50, seed: 1 })).toThrow(
      `typeOverrides["google.protobuf.Timestamp"] produced a ${TreeSchema.typeName}, not a google.protobuf.Timestamp`
    )
  })

  it("types: the message's own shape, and overrides typed by field", () => {
    expectTypeOf(arbitraryMessage(PageViewSchema)).toEqualTypeOf<fc.Arbitrary<PageView>>()
    const loose: ArbitraryMessageOptions = { maxDepth: 1 }
    expectTypeOf(arbitraryMessage(PageViewSchema, loose)).toEqualTypeOf<fc.Arbitrary<PageView>>()
    expectTypeOf(arbitraryMessage(LegacySchema)).toEqualTypeOf<fc.Arbitrary<MessageShape<typeof LegacySchema>>>()
    const typeOnly = () => {
      // @ts-expect-error url is a string
      arbitraryMessage(PageViewSchema, { overrides: { url: fc.integer() } })
      // A message field takes messages; a oneof its { case, value } union.
      arbitraryMessage(PageViewSchema, { overrides: { occurredAt: arbitraryMessage(TimestampSchema) } })
      arbitraryMessage(ClickstreamEventSchema, { overrides: { event: fc.constant({ case: undefined }) } })
      // @ts-expect-error not a case of the oneof
      arbitraryMessage(ClickstreamEventSchema, { overrides: { event: fc.constant({ case: "refund", value: 1 }) } })
    }
    expect(typeOnly).toBeTypeOf("function")
  })
})
