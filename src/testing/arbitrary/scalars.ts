/**
 * Arbitraries for protobuf scalar, enum and map-key values, each over the type's whole range.
 */
import { type DescEnum, type DescField, ScalarType } from "@bufbuild/protobuf"
import { scalarZeroValue } from "@bufbuild/protobuf/reflect"
import fc from "fast-check"

/** How wide scalar values range; see `ArbitraryMessageOptions`. */
export interface ScalarOptions {
  readonly nonFiniteFloats: boolean
  readonly unknownEnumValues: boolean
}

const int32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff })
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff })
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })

/** -0 is one of the non-finite-float edge cases, so it appears only when they are asked for. */
const positiveZero = (x: number): number => (x === 0 ? 0 : x)
const floatEdges = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0)

const float32 = fc.float({ noNaN: true, noDefaultInfinity: true }).map(positiveZero)
const float32WithEdges = fc.oneof({ arbitrary: fc.float(), weight: 4 }, { arbitrary: floatEdges, weight: 1 })
const float64 = fc.double({ noNaN: true, noDefaultInfinity: true }).map(positiveZero)
const float64WithEdges = fc.oneof({ arbitrary: fc.double(), weight: 4 }, { arbitrary: floatEdges, weight: 1 })

/** A finite double (JSON numbers, `google.protobuf.Value`); -0 only with `nonFiniteFloats`. */
export const finiteDouble = (options: ScalarOptions): fc.Arbitrary<number> =>
  options.nonFiniteFloats ? fc.double({ noNaN: true, noDefaultInfinity: true }) : float64

/**
 * Any Unicode text UTF-8 can carry: whole code points (astral ones included, never a lone
 * surrogate), mixed with grapheme clusters (combining marks, emoji sequences).
 */
export const text: fc.Arbitrary<string> = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }))

/**
 * Text usable as a key of a protobuf-es map or Struct. Those are plain objects, where
 * `__proto__` cannot be an own key (assigning it sets the prototype), so it is left out.
 */
export const objectKey: fc.Arbitrary<string> = text.filter((key) => key !== "__proto__")

/** A value of a scalar type; 64-bit integers are bigint, or decimal strings with `longAsString`. */
export const scalarArbitrary = (
  type: ScalarType,
  longAsString: boolean,
  options: ScalarOptions
): fc.Arbitrary<unknown> => {
  switch (type) {
    case ScalarType.DOUBLE:
      return options.nonFiniteFloats ? float64WithEdges : float64
    case ScalarType.FLOAT:
      return options.nonFiniteFloats ? float32WithEdges : float32
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return longAsString ? int64.map(String) : int64
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return longAsString ? uint64.map(String) : uint64
    case ScalarType.BOOL:
      return fc.boolean()
    case ScalarType.STRING:
      return text
    case ScalarType.BYTES:
      return fc.uint8Array()
  }
}

/** A map key in protobuf-es's representation: the key's decimal or `true`/`false` text. */
export const mapKeyArbitrary = (type: ScalarType): fc.Arbitrary<string> => {
  switch (type) {
    case ScalarType.STRING:
      return objectKey
    case ScalarType.BOOL:
      return fc.boolean().map(String)
    default:
      return scalarArbitrary(type, false, { nonFiniteFloats: false, unknownEnumValues: false }).map(String)
  }
}

/**
 * A value of an enum: one of its numbers, shrinking to the first (the zero value). With
 * `unknownEnumValues`, open enums also get other int32 numbers; closed enums never do, since a
 * parser moves such numbers to unknown fields. `google.protobuf.NullValue` neither: its only
 * JSON form is `null`, so a different number could not be written.
 */
export const enumArbitrary = (desc: DescEnum, options: ScalarOptions): fc.Arbitrary<number> => {
  const known = fc.constantFrom(...desc.values.map((value) => value.number))
  if (!options.unknownEnumValues || !desc.open || desc.typeName === "google.protobuf.NullValue") return known
  const unknown = int32.filter((n) => desc.value[n] === undefined)
  return fc.oneof({ arbitrary: known, weight: 3 }, { arbitrary: unknown, weight: 1 })
}

/**
 * The value a scalar or enum field reads as when unset: its `[default = ...]`, else the zero
 * value. Setting it explicitly still makes the field present where presence is explicit.
 */
export const defaultValue = (field: DescField): unknown => {
  if (field.fieldKind === "enum") return field.getDefaultValue() ?? field.enum.values[0]?.number ?? 0
  if (field.fieldKind !== "scalar") throw new Error(`${field.toString()} has no scalar default`)
  const value = field.getDefaultValue() ?? scalarZeroValue(field.scalar, field.longAsString)
  if (value instanceof Uint8Array) return value.slice()
  return field.longAsString && typeof value === "bigint" ? value.toString() : value
}
