/**
 * The reflective builder: one fast-check arbitrary per message type and depth, assembled from
 * the descriptors out of records, options, arrays, dictionaries and oneofs, so every value
 * shrinks field by field. Depth-indexed (not `fc.letrec`): a message at depth `d` only refers to
 * arbitraries at `d + 1`, so recursive types end at the bound by construction.
 */
import { create, type DescField, type DescMessage, type DescOneof, type Message, toJson } from "@bufbuild/protobuf"
import {
  anyPack,
  FeatureSet_FieldPresence,
  isWrapperDesc,
  type Struct,
  StructSchema,
  ValueSchema
} from "@bufbuild/protobuf/wkt"
import fc from "fast-check"
import { defaultValue, enumArbitrary, mapKeyArbitrary, scalarArbitrary, type ScalarOptions } from "./scalars.js"
import { fresh, wellKnownArbitrary, type WellKnownContext } from "./wellKnown.js"

/** Options resolved and checked by `arbitraryMessage`. */
export interface BuildOptions extends ScalarOptions {
  readonly maxDepth: number
  readonly maxCollectionSize: number
  /** Message types an Any may pack. */
  readonly anyTypes: ReadonlyArray<DescMessage>
  /** Arbitraries replacing every nested message of a type, by type name. */
  readonly typeOverrides: ReadonlyMap<string, fc.Arbitrary<Message>>
}

export type MemberOverrides = Readonly<Record<string, fc.Arbitrary<unknown>>>

export interface MessageBuilder {
  /** The top-level message (depth 0); `overrides` replace members by localName. */
  readonly top: (desc: DescMessage, overrides: MemberOverrides) => fc.Arbitrary<Message>
}

const { EXPLICIT, LEGACY_REQUIRED } = FeatureSet_FieldPresence

export const makeBuilder = (options: BuildOptions): MessageBuilder => {
  const { maxCollectionSize, maxDepth } = options
  const memo = new Map<string, fc.Arbitrary<Message>>()
  const building = new Set<string>()

  const context: WellKnownContext = {
    ...options,
    anyPayloads: (depth) =>
      depth + 1 > maxDepth ? [] : options.anyTypes.map((type) => message(type, depth + 1).map((m) => anyPack(type, m)))
  }

  /** A nested message: its type's override, its well-known arbitrary, or field by field. */
  const message = (desc: DescMessage, depth: number): fc.Arbitrary<Message> => {
    // Beyond the bound only required fields hold messages, alike at every depth.
    const level = Math.min(depth, maxDepth + 1)
    const key = `${desc.typeName}@${level}`
    const cached = memo.get(key)
    if (cached !== undefined) return cached
    if (building.has(key)) {
      throw new Error(`${desc.typeName} has no finite value: its required message fields form a cycle`)
    }
    building.add(key)
    const made = options.typeOverrides.get(desc.typeName) ?? wellKnownArbitrary(desc, level, context) ??
      fields(desc, level, {})
    building.delete(key)
    memo.set(key, made)
    return made
  }

  /** The message in a field of a message at `depth`, or undefined when it must stay unset. */
  const nested = (field: DescField, desc: DescMessage, depth: number): fc.Arbitrary<unknown> | undefined => {
    if (depth + 1 > maxDepth && field.presence !== LEGACY_REQUIRED) return undefined
    const arb = message(desc, depth + 1)
    // protobuf-es holds a wrapper in a singular field outside a oneof as its bare value, and a
    // Struct anywhere but inside Value as a JSON object; `create` expects the same.
    if (field.fieldKind === "message" && field.oneof === undefined && isWrapperDesc(desc)) {
      return arb.map((m) => (m as Message & { readonly value: unknown }).value)
    }
    if (desc.typeName === StructSchema.typeName && field.parent.typeName !== ValueSchema.typeName) {
      return arb.map((m) => toJson(StructSchema, m as Struct))
    }
    return arb
  }

  /** The value of a scalar, enum or message field when set; undefined when it cannot be. */
  const singular = (field: DescField, depth: number): fc.Arbitrary<unknown> | undefined => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarArbitrary(field.scalar, field.longAsString, options)
      case "enum":
        return enumArbitrary(field.enum, options)
      case "message":
        return nested(field, field.message, depth)
      default:
        throw new Error(`${field.toString()} is a ${field.fieldKind} field, not a singular one`)
    }
  }

  const member = (field: DescField, depth: number): fc.Arbitrary<unknown> => {
    switch (field.fieldKind) {
      case "list": {
        const item = field.listKind === "scalar"
          ? scalarArbitrary(field.scalar, field.longAsString, options)
          : field.listKind === "enum"
          ? enumArbitrary(field.enum, options)
          : nested(field, field.message, depth)
        return item === undefined ? fresh(() => []) : fc.array(item, { maxLength: maxCollectionSize })
      }
      case "map": {
        const value = field.mapKind === "scalar"
          ? scalarArbitrary(field.scalar, false, options)
          : field.mapKind === "enum"
          ? enumArbitrary(field.enum, options)
          : nested(field, field.message, depth)
        if (value === undefined) return fresh(() => ({}))
        return fc.dictionary(mapKeyArbitrary(field.mapKey), value, { maxKeys: maxCollectionSize, noNullPrototype: true })
      }
      default: {
        const value = singular(field, depth)
        if (value === undefined) return fc.constant(undefined)
        if (field.presence === LEGACY_REQUIRED) return value
        if (field.fieldKind === "message") return fc.option(value, { nil: undefined })
        // Implicit presence: the zero value is "unset". Explicit presence: unset, or set to the
        // value an unset field reads as (still present, and the binary format says so), or set.
        // Both shrink towards the first.
        const zero = { arbitrary: fresh(() => defaultValue(field)), weight: 1 }
        return field.presence === EXPLICIT
          ? fc.oneof({ withCrossShrink: true }, { arbitrary: fc.constant(undefined), weight: 1 }, zero, { arbitrary: value, weight: 4 })
          : fc.oneof({ withCrossShrink: true }, zero, { arbitrary: value, weight: 5 })
      }
    }
  }

  /** Exactly one case or none; shrinks towards none. */
  const oneof = (group: DescOneof, depth: number): fc.Arbitrary<unknown> => {
    const cases = group.fields.flatMap((field) => {
      const value = singular(field, depth)
      return value === undefined ? [] : [fc.record({ case: fc.constant(field.localName), value })]
    })
    return fc.oneof({ withCrossShrink: true }, fresh(() => ({ case: undefined })), ...cases)
  }

  const fields = (desc: DescMessage, depth: number, overrides: MemberOverrides): fc.Arbitrary<Message> => {
    const model: Record<string, fc.Arbitrary<unknown>> = {}
    for (const m of desc.members) {
      model[m.localName] = overrides[m.localName] ?? (m.kind === "oneof" ? oneof(m, depth) : member(m, depth))
    }
    return fc.record(model).map((init) => create(desc, init))
  }

  return {
    top: (desc, overrides) =>
      (Object.keys(overrides).length === 0 ? wellKnownArbitrary(desc, 0, context) : undefined) ??
        fields(desc, 0, overrides)
  }
}
