import { clone, type DescMessage, type Message, type MessageShape, type Registry } from "@bufbuild/protobuf"
import { AnySchema } from "@bufbuild/protobuf/wkt"
import fc from "fast-check"
import { InvalidOption } from "../../config/InvalidOption.js"
import { makeBuilder } from "./builder.js"
import { isSpecialWellKnown } from "./wellKnown.js"

/** Arbitraries for fields and oneofs of a message, by localName; a oneof's yields `{ case, value }`. */
export type FieldOverrides<Desc extends DescMessage> = {
  readonly [K in Exclude<keyof MessageShape<Desc>, "$typeName" | "$unknown">]?: fc.Arbitrary<MessageShape<Desc>[K]>
}

/** How {@link arbitraryMessage} generates. */
export interface ArbitraryMessageOptions<Desc extends DescMessage = DescMessage> {
  /**
   * How deep messages nest: the top-level message is at depth 0, a message in one of its fields
   * at 1. Beyond the bound optional message fields stay unset and repeated or map fields of
   * messages empty; a proto2 required message field is still set, with only required messages
   * below it. Default 3.
   */
  readonly maxDepth?: number
  /** Most items of a repeated field, entries of a map, paths of a FieldMask, members of a Struct. Default 4. */
  readonly maxCollectionSize?: number
  /** Also NaN, Infinity, -Infinity and -0 in float and double fields. Default false. */
  readonly nonFiniteFloats?: boolean
  /** Also numbers outside the enum in open (proto3) enum fields; closed enums never get them. Default false. */
  readonly unknownEnumValues?: boolean
  /**
   * The message types a `google.protobuf.Any` may pack; without it every Any is empty. JSON
   * needs the same registry: `toJson(schema, message, { registry })`.
   */
  readonly registry?: Registry
  /** Arbitraries for fields or oneofs of the top-level message, by localName. */
  readonly overrides?: FieldOverrides<Desc>
  /**
   * Arbitraries for every nested message of a type, by full name (the top-level message is
   * built from its fields). Values must be messages of that type in their message form, even
   * where protobuf-es holds them unboxed (wrappers) or as JSON (Struct); they are converted.
   */
  readonly typeOverrides?: Readonly<Record<string, fc.Arbitrary<Message>>>
}

/**
 * Any valid message of `schema`, built by reflection over its descriptor: scalars over their
 * whole range, open and closed enums, presence, oneofs, maps, recursion up to `maxDepth`, and
 * the well-known types within what both the binary and the JSON format accept. Values shrink
 * towards the empty message and depend only on fast-check's seed.
 *
 * @example
 * ```ts
 * import { fromBinary, toBinary, equals } from "@bufbuild/protobuf"
 * import fc from "fast-check"
 * import { arbitraryMessage } from "shardline/testing"
 * import { PageViewSchema } from "./gen/shardline/examples/clickstream/v1/clickstream_pb.js"
 *
 * const pageViews = arbitraryMessage(PageViewSchema, {
 *   overrides: { url: fc.constantFrom("/", "/cart", "/checkout") }
 * })
 * fc.assert(fc.property(pageViews, (view) =>
 *   equals(PageViewSchema, fromBinary(PageViewSchema, toBinary(PageViewSchema, view)), view)))
 * ```
 *
 * @throws InvalidOption for a negative or fractional bound, or an override naming no field or type.
 */
export function arbitraryMessage<Desc extends DescMessage>(
  schema: Desc,
  // Desc comes from the schema alone: options typed for any message must not widen the result.
  options: NoInfer<ArbitraryMessageOptions<Desc>> = {}
): fc.Arbitrary<MessageShape<Desc>> {
  const maxDepth = wholeNumber("maxDepth", options.maxDepth, 3)
  const maxCollectionSize = wholeNumber("maxCollectionSize", options.maxCollectionSize, 4)
  const { registry } = options
  if (registry !== undefined && (registry as Registry | null)?.kind !== "registry") {
    throw new InvalidOption({ option: "registry", given: typeof registry, expected: "a Registry from createRegistry" })
  }
  const anyTypes = registry === undefined ? [] : [...registry].filter((type) => type.kind === "message")

  const overrides: Record<string, fc.Arbitrary<unknown>> = { ...options.overrides }
  const members = schema.members.map((m) => m.localName)
  for (const [name, arb] of Object.entries(overrides)) {
    if (!members.includes(name)) {
      throw new InvalidOption({
        option: "overrides",
        given: JSON.stringify(name),
        expected: `a field or oneof of ${schema.typeName} (${members.join(", ")})`
      })
    }
    checkArbitrary(`overrides.${name}`, arb)
  }
  if (Object.keys(overrides).length > 0 && isSpecialWellKnown(schema)) {
    throw new InvalidOption({
      option: "overrides",
      given: Object.keys(overrides).join(", "),
      expected: `none: ${schema.typeName} is generated whole, to stay valid`
    })
  }

  const typeOverrides = new Map<string, fc.Arbitrary<Message>>()
  const usable = nestedTypeNames(schema, anyTypes)
  for (const [typeName, arb] of Object.entries(options.typeOverrides ?? {})) {
    if (!usable.has(typeName)) {
      throw new InvalidOption({
        option: "typeOverrides",
        given: JSON.stringify(typeName),
        expected: `a message type nested in ${schema.typeName} (${[...usable].sort().join(", ") || "none"})`
      })
    }
    checkArbitrary(`typeOverrides[${JSON.stringify(typeName)}]`, arb)
    typeOverrides.set(typeName, arb.map((m) => checkType(typeName, m)))
  }

  const builder = makeBuilder({
    maxDepth,
    maxCollectionSize,
    nonFiniteFloats: options.nonFiniteFloats ?? false,
    unknownEnumValues: options.unknownEnumValues ?? false,
    anyTypes,
    typeOverrides
  })
  // Messages are mutable, and nested ones are shared with fast-check's own copy of the value:
  // a property that changes what it is given would otherwise change what shrinking starts from.
  return builder.top(schema, overrides).map((message) => clone(schema, message as MessageShape<Desc>))
}

const wholeNumber = (option: string, value: number | undefined, fallback: number): number => {
  const n = value ?? fallback
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidOption({ option, given: String(n), expected: "a whole number of at least 0" })
  }
  return n
}

const checkArbitrary = (option: string, value: unknown): void => {
  // Duck-typed, so an arbitrary from another copy of fast-check is accepted too.
  const ok = value instanceof fc.Arbitrary ||
    (typeof value === "object" && value !== null && typeof (value as { generate?: unknown }).generate === "function")
  if (!ok) throw new InvalidOption({ option, given: typeof value, expected: "a fast-check Arbitrary" })
}

const checkType = (typeName: string, value: Message): Message => {
  if (value?.$typeName !== typeName) {
    throw new Error(`typeOverrides["${typeName}"] produced a ${value?.$typeName ?? typeof value}, not a ${typeName}`)
  }
  return value
}

/** Message types generated below `schema`: through fields, and through Any into `anyTypes`. */
const nestedTypeNames = (schema: DescMessage, anyTypes: ReadonlyArray<DescMessage>): Set<string> => {
  const seen = new Set<string>()
  const stack = [schema]
  const visit = (desc: DescMessage) => {
    if (seen.has(desc.typeName)) return
    seen.add(desc.typeName)
    stack.push(desc)
  }
  for (let desc = stack.pop(); desc !== undefined; desc = stack.pop()) {
    if (desc.typeName === AnySchema.typeName) anyTypes.forEach(visit)
    // The special well-known types are built whole (Struct and Value nest as JSON), not by field.
    if (isSpecialWellKnown(desc)) continue
    for (const field of desc.fields) if (field.message !== undefined) visit(field.message)
  }
  return seen
}
