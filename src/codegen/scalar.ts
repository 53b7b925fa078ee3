import { type DescEnum, ScalarType } from "@bufbuild/protobuf"
import type { BodyContext } from "./context.js"

/**
 * Lines reading a varint length at `p` and declaring `end` (the position after the data),
 * failing when it lies past the buffer as protobuf-es does (sooner or later) for such lengths.
 */
export const readLength = (ctx: BodyContext, length: string, end: string): void => {
  const { out } = ctx
  varint(ctx, length, `${ctx.file.helper("varint32")}(r, p)`)
  out.line(`const ${end} = p + ${length}`)
  out.line(`if (${end} > len) ${ctx.file.helper("eof")}()`)
  ctx.usesLength = true
}

/** `let name = <varint32 at p>`, one-byte values inline. */
const varint = (ctx: BodyContext, name: string, slow: string): void => {
  const { out } = ctx
  out.line(`let ${name} = b[p]!`)
  out.line(`if (${name} < 0x80) p++`)
  out.open("else {")
  out.line(`${name} = ${slow}`)
  out.line("p = r.pos")
  out.close()
}

/**
 * Lines declaring `name` with a value of scalar `type` read at `p` (protobuf-es `readScalar`:
 * the wire type of the tag is not looked at). 64-bit values are bigints here.
 */
export const readScalar = (ctx: BodyContext, type: ScalarType, name: string, strict: boolean): void => {
  const { out, file } = ctx
  const h = file.helper
  switch (type) {
    case ScalarType.INT32:
      return varint(ctx, name, `${h("varint32")}(r, p) | 0`)
    case ScalarType.UINT32:
      return varint(ctx, name, `${h("varint32")}(r, p)`)
    case ScalarType.SINT32:
      varint(ctx, name, `${h("varint32")}(r, p)`)
      out.line(`${name} = (${name} >>> 1) ^ -(${name} & 1)`)
      return
    case ScalarType.BOOL:
      out.line(`let ${name}: boolean`)
      out.line(`const ${name}$ = b[p]!`)
      out.open(`if (${name}$ < 0x80) {`)
      out.line("p++")
      out.line(`${name} = ${name}$ !== 0`)
      out.middle("} else {")
      out.line(`${name} = ${h("bool")}(r, p)`)
      out.line("p = r.pos")
      out.close()
      return
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64: {
      const helper = type === ScalarType.INT64 ? "int64" : type === ScalarType.UINT64 ? "uint64" : "sint64"
      out.line(`const ${name} = ${h(helper)}(r, p)`)
      out.line("p = r.pos")
      return
    }
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      out.line(`const ${name} = ${h(type === ScalarType.FIXED32 ? "fixed32" : "sfixed32")}(b, p)`)
      out.line("p += 4")
      return
    case ScalarType.FLOAT:
      out.line(`const ${name} = ${h("float")}(r, p)`)
      out.line("p += 4")
      return
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      out.line(`const ${name} = ${h(type === ScalarType.FIXED64 ? "fixed64" : "sfixed64")}(b, p)`)
      out.line("p += 8")
      return
    case ScalarType.DOUBLE:
      out.line(`const ${name} = ${h("double")}(r, p)`)
      out.line("p += 8")
      return
    case ScalarType.STRING:
      readLength(ctx, `${name}n`, `${name}e`)
      out.line(`const ${name} = ${h("utf8")}(b, p, ${name}e, ${strict})`)
      out.line(`p = ${name}e`)
      return
    case ScalarType.BYTES:
      readLength(ctx, `${name}n`, `${name}e`)
      out.line(`const ${name} = b.subarray(p, ${name}e)`)
      out.line(`p = ${name}e`)
      return
  }
}

/** Types whose repeated fields may come packed (everything but strings and bytes). */
export const packable = (type: ScalarType): boolean => type !== ScalarType.STRING && type !== ScalarType.BYTES

export const is64 = (type: ScalarType): boolean =>
  type === ScalarType.INT64 || type === ScalarType.UINT64 || type === ScalarType.SINT64 ||
  type === ScalarType.FIXED64 || type === ScalarType.SFIXED64

/** protobuf-es `scalarZeroValue` as an expression. */
export const scalarZero = (ctx: BodyContext, type: ScalarType, longAsString: boolean): string => {
  switch (type) {
    case ScalarType.STRING:
      return `""`
    case ScalarType.BOOL:
      return "false"
    case ScalarType.BYTES:
      return "new Uint8Array(0)"
    default:
      if (is64(type)) return longAsString ? `"0"` : ctx.file.helper("zero64")
      return "0"
  }
}

export const enumZero = (desc: DescEnum): string => String(desc.values[0]!.number)

/**
 * A condition holding when `name` is a number of the closed enum `desc` (protobuf-es checks
 * `values.some(v => v.number === val)`).
 */
export const knownEnumValue = (desc: DescEnum, name: string): string => {
  const numbers = [...new Set(desc.values.map((v) => v.number))].sort((a, b) => a - b)
  const first = numbers[0]!
  const last = numbers[numbers.length - 1]!
  if (last - first + 1 === numbers.length) {
    return first === last ? `${name} === ${first}` : `${name} >= ${first} && ${name} <= ${last}`
  }
  return numbers.map((n) => `${name} === ${n}`).join(" || ")
}
