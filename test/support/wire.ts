import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf"
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import fc from "fast-check"

type ScalarMethod = "double" | "float" | "int64" | "uint64" | "int32" | "fixed64" | "fixed32" | "bool" | "uint32" | "sfixed32" | "sfixed64" | "sint32" | "sint64"

const method: Record<Exclude<ScalarType, ScalarType.STRING | ScalarType.BYTES>, ScalarMethod> = {
  [ScalarType.DOUBLE]: "double",
  [ScalarType.FLOAT]: "float",
  [ScalarType.INT64]: "int64",
  [ScalarType.UINT64]: "uint64",
  [ScalarType.INT32]: "int32",
  [ScalarType.FIXED64]: "fixed64",
  [ScalarType.FIXED32]: "fixed32",
  [ScalarType.BOOL]: "bool",
  [ScalarType.UINT32]: "uint32",
  [ScalarType.SFIXED32]: "sfixed32",
  [ScalarType.SFIXED64]: "sfixed64",
  [ScalarType.SINT32]: "sint32",
  [ScalarType.SINT64]: "sint64"
}

const elementWireType = (m: ScalarMethod): WireType =>
  m === "double" || m === "fixed64" || m === "sfixed64" ? WireType.Bit64 : m === "float" || m === "fixed32" || m === "sfixed32" ? WireType.Bit32 : WireType.Varint

const packableMethod = (field: DescField): ScalarMethod | undefined => {
  if (field.fieldKind !== "list") return undefined
  if (field.listKind === "enum") return "int32"
  if (field.listKind !== "scalar" || field.scalar === ScalarType.STRING || field.scalar === ScalarType.BYTES) return undefined
  return method[field.scalar]
}

/** Message types nested in a field, by field number of the value (1 for a plain message field, 2 in a map entry). */
const nestedMessage = (field: DescField): DescMessage | undefined =>
  field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined

/** What to do to each message of an encoding on the way through. */
export interface Rewrite {
  /** Repeated numeric fields: all packed, all one element per tag, or as they came. */
  readonly repeated: "packed" | "expanded" | "keep"
  /** Raw fields (tag and data) to put at the start of the n-th message met, outermost first. */
  readonly insert?: (n: number) => ReadonlyArray<Uint8Array>
}

/**
 * Re-encodes a valid encoding of `desc`, field by field, recursing into length-prefixed
 * messages and map values: repeated numeric fields packed or expanded, extra raw fields inserted.
 * What comes out decodes to the same message (plus whatever was inserted).
 */
export const rewrite = (desc: DescMessage, bytes: Uint8Array, how: Rewrite): Uint8Array => {
  let visited = 0
  const walk = (desc: DescMessage, bytes: Uint8Array): Uint8Array => {
    const n = visited++
    const reader = new BinaryReader(bytes)
    const writer = new BinaryWriter()
    for (const extra of how.insert?.(n) ?? []) writer.raw(extra)
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag()
      const field = desc.fields.find((f) => f.number === no)
      const scalar = field && packableMethod(field)
      if (field && scalar && how.repeated !== "keep") {
        const values: Array<unknown> = []
        if (wireType === WireType.LengthDelimited) {
          const end = reader.uint32() + reader.pos
          while (reader.pos < end) values.push(reader[scalar]())
        } else {
          values.push(reader[scalar]())
        }
        const write = (v: unknown) => (writer[scalar] as (v: unknown) => BinaryWriter).call(writer, v)
        if (how.repeated === "packed") {
          writer.tag(no, WireType.LengthDelimited).fork()
          values.forEach(write)
          writer.join()
        } else {
          for (const v of values) {
            writer.tag(no, elementWireType(scalar))
            write(v)
          }
        }
        continue
      }
      const message = field && nestedMessage(field)
      if (message && wireType === WireType.LengthDelimited) {
        writer.tag(no, wireType).bytes(walk(message, reader.bytes()))
        continue
      }
      if (field?.fieldKind === "map" && field.mapKind === "message" && wireType === WireType.LengthDelimited) {
        const entry = new BinaryReader(reader.bytes())
        writer.tag(no, wireType).fork()
        while (entry.pos < entry.len) {
          const [entryNo, entryWireType] = entry.tag()
          writer.tag(entryNo, entryWireType)
          if (entryNo === 2 && entryWireType === WireType.LengthDelimited) writer.bytes(walk(field.message, entry.bytes()))
          else writer.raw(entry.skip(entryWireType, entryNo))
        }
        writer.join()
        continue
      }
      writer.tag(no, wireType).raw(reader.skip(wireType, no))
    }
    return writer.finish()
  }
  return walk(desc, bytes)
}

const tagBytes = (no: number, wireType: number): Array<number> => varintBytes(BigInt(((no << 3) | wireType) >>> 0))

const varintBytes = (value: bigint): Array<number> => {
  const out: Array<number> = []
  let v = BigInt.asUintN(64, value)
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}

/**
 * One raw field: a field number of `desc` or one it does not have, any wire type (end-group
 * rarely, as a stray), and data of that wire type: varints up to 64 bits and overlong ones,
 * fixed-size bytes, length-prefixed bytes (sometimes a field inside), groups of such fields.
 */
export const arbitraryRawField = (desc: DescMessage): fc.Arbitrary<Uint8Array> => {
  const known = desc.fields.map((f) => f.number)
  const number = fc.oneof(
    { weight: 3, arbitrary: known.length > 0 ? fc.constantFrom(...known) : fc.integer({ min: 1, max: 50 }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 60 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 29 - 1 }) }
  )
  const { field } = fc.letrec<{ field: Array<number>; group: Array<number> }>((tie) => ({
    field: fc.oneof(
      { maxDepth: 3, depthIdentifier: "raw field" },
      { weight: 4, arbitrary: fc.tuple(number, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([no, v]) => [...tagBytes(no, 0), ...varintBytes(v)]) },
      { weight: 1, arbitrary: fc.tuple(number, fc.integer({ min: 0, max: 4 })).map(([no, extra]) => [...tagBytes(no, 0), ...Array<number>(9 + extra).fill(0xff), 0x01]) },
      { weight: 2, arbitrary: fc.tuple(number, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([no, d]) => [...tagBytes(no, 1), ...d]) },
      { weight: 2, arbitrary: fc.tuple(number, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([no, d]) => [...tagBytes(no, 5), ...d]) },
      { weight: 3, arbitrary: fc.tuple(number, fc.uint8Array({ maxLength: 12 })).map(([no, d]) => [...tagBytes(no, 2), ...varintBytes(BigInt(d.length)), ...d]) },
      { weight: 2, arbitrary: fc.tuple(number, tie("field")).map(([no, d]) => [...tagBytes(no, 2), ...varintBytes(BigInt(d.length)), ...d]) },
      { weight: 1, arbitrary: tie("group") },
      { weight: 1, arbitrary: number.map((no) => tagBytes(no, 4)) }
    ),
    group: fc.tuple(number, fc.array(tie("field"), { maxLength: 3, depthIdentifier: "raw field" }), fc.nat(4)).map(([no, inner, matching]) => [
      ...tagBytes(no, 3),
      ...inner.flat(),
      ...tagBytes(matching > 0 ? no : no + 1, 4)
    ])
  }))
  return (field as fc.Arbitrary<Array<number>>).map((bytes) => new Uint8Array(bytes))
}

export const concat = (...parts: ReadonlyArray<ArrayLike<number>>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
