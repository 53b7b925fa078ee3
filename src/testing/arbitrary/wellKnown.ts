/**
 * Arbitraries for the well-known types whose valid values are narrower than their fields allow:
 * Timestamp and Duration ranges, JSON-representable Struct/Value/ListValue, FieldMask paths that
 * survive the JSON form, and Any packing registered messages. The other well-known types
 * (wrappers, Empty) are plain messages and need nothing special.
 */
import { create, type DescMessage, fromJson, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf"
import {
  AnySchema,
  DurationSchema,
  FieldMaskSchema,
  ListValueSchema,
  StructSchema,
  TimestampSchema,
  ValueSchema
} from "@bufbuild/protobuf/wkt"
import fc from "fast-check"
import { finiteDouble, objectKey, type ScalarOptions, text } from "./scalars.js"

/** What the well-known arbitraries need from the message builder. */
export interface WellKnownContext extends ScalarOptions {
  readonly maxDepth: number
  readonly maxCollectionSize: number
  /** Any values packing each message an Any at `depth` may hold (none beyond the depth bound). */
  readonly anyPayloads: (depth: number) => ReadonlyArray<fc.Arbitrary<Message>>
}

/** 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, the range of RFC 3339 (and protobuf JSON). */
export const minTimestampSeconds = -62_135_596_800n
export const maxTimestampSeconds = 253_402_300_799n
/** ±10,000 years, the range protobuf allows a Duration. */
export const maxDurationSeconds = 315_576_000_000n

/** A fresh value each time, so no two messages share a mutable object. */
export const fresh = <A>(make: () => A): fc.Arbitrary<A> => fc.constant(null).map(make)

const nanos = fc.integer({ min: 0, max: 999_999_999 })

const timestamp: fc.Arbitrary<Message> = fc
  .record({ seconds: fc.bigInt({ min: minTimestampSeconds, max: maxTimestampSeconds }), nanos })
  .map((init) => create(TimestampSchema, init))

// nanos carry the sign of seconds; with zero seconds either sign is valid.
const duration: fc.Arbitrary<Message> = fc
  .record({ seconds: fc.bigInt({ min: -maxDurationSeconds, max: maxDurationSeconds }), nanos, negative: fc.boolean() })
  .map(({ negative, nanos, seconds }) => {
    const flip = nanos !== 0 && (seconds < 0n || (seconds === 0n && negative))
    return create(DurationSchema, { seconds, nanos: flip ? -nanos : nanos })
  })

// snake_case words each starting with a letter, so lowerCamelCase (the JSON form) maps back.
const pathWord = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/)
const pathSegment = fc.array(pathWord, { minLength: 1, maxLength: 3 }).map((words) => words.join("_"))
const fieldPath = fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((segments) => segments.join("."))

const fieldMask = (ctx: WellKnownContext): fc.Arbitrary<Message> =>
  fc.array(fieldPath, { maxLength: ctx.maxCollectionSize }).map((paths) => create(FieldMaskSchema, { paths }))

/** JSON values by depth: a Value at depth d holds a Struct or ListValue at d + 1, whose items are at d + 2. */
interface JsonArbitraries {
  readonly value: (depth: number) => fc.Arbitrary<JsonValue>
  readonly object: (depth: number) => fc.Arbitrary<JsonObject>
  readonly array: (depth: number) => fc.Arbitrary<Array<JsonValue>>
}

const jsonCache = new WeakMap<WellKnownContext, JsonArbitraries>()

const jsonArbitraries = (ctx: WellKnownContext): JsonArbitraries => {
  const cached = jsonCache.get(ctx)
  if (cached !== undefined) return cached
  // JSON has no NaN or Infinity, so Value numbers are finite whatever the options say.
  const leaf: fc.Arbitrary<JsonValue> = fc.oneof(fc.constant(null), fc.boolean(), finiteDouble(ctx), text)
  const values = new Map<number, fc.Arbitrary<JsonValue>>()
  const value = (depth: number): fc.Arbitrary<JsonValue> => {
    let arb = values.get(depth)
    if (arb === undefined) {
      arb = depth + 1 > ctx.maxDepth ? leaf : fc.oneof({ withCrossShrink: true }, leaf, object(depth + 1), array(depth + 1))
      values.set(depth, arb)
    }
    return arb
  }
  const object = (depth: number): fc.Arbitrary<JsonObject> =>
    depth + 1 > ctx.maxDepth
      ? fresh(() => ({}))
      : fc.dictionary(objectKey, value(depth + 1), { maxKeys: ctx.maxCollectionSize, noNullPrototype: true })
  const array = (depth: number): fc.Arbitrary<Array<JsonValue>> =>
    depth + 1 > ctx.maxDepth ? fresh(() => []) : fc.array(value(depth + 1), { maxLength: ctx.maxCollectionSize })
  const made = { value, object, array }
  jsonCache.set(ctx, made)
  return made
}

/**
 * The arbitrary for a well-known type at `depth` (0 is the top-level message), or undefined
 * when the generic field-by-field arbitrary already makes only valid values.
 */
export const wellKnownArbitrary = (
  desc: DescMessage,
  depth: number,
  ctx: WellKnownContext
): fc.Arbitrary<Message> | undefined => {
  switch (desc.typeName) {
    case "google.protobuf.Timestamp":
      return timestamp
    case "google.protobuf.Duration":
      return duration
    case "google.protobuf.FieldMask":
      return fieldMask(ctx)
    case "google.protobuf.Struct":
      return jsonArbitraries(ctx).object(depth).map((json) => fromJson(StructSchema, json))
    case "google.protobuf.Value":
      return jsonArbitraries(ctx).value(depth).map((json) => fromJson(ValueSchema, json))
    case "google.protobuf.ListValue":
      return jsonArbitraries(ctx).array(depth).map((json) => fromJson(ListValueSchema, json))
    case "google.protobuf.Any":
      // The empty Any (no type URL) is valid in both formats and needs no registry.
      return fc.oneof({ withCrossShrink: true }, fresh(() => create(AnySchema)), ...ctx.anyPayloads(depth))
    default:
      return undefined
  }
}

const special = new Set([
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Any"
])

/** Whether `wellKnownArbitrary` builds this type as a whole rather than field by field. */
export const isSpecialWellKnown = (desc: DescMessage): boolean => special.has(desc.typeName)
