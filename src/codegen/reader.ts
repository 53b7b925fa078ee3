import { type DescField, type DescMessage, type DescOneof, ScalarType } from "@bufbuild/protobuf"
import { Edition, FeatureSet_FieldPresence, isWrapperDesc } from "@bufbuild/protobuf/wkt"
import type { Printable } from "@bufbuild/protoplugin"
import type { BodyContext, FileContext } from "./context.js"
import { Lines } from "./emit.js"
import { enumZero, is64, knownEnumValue, packable, readLength, readScalar, scalarZero } from "./scalar.js"

const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT

/**
 * Whether protobuf-es's `create()` builds messages of this type on a prototype holding the
 * defaults of explicit-presence fields (its `needsPrototypeChain`).
 */
export const needsPrototype = (desc: DescMessage): boolean => {
  switch (desc.file.edition) {
    case Edition.EDITION_PROTO3:
      return false
    case Edition.EDITION_PROTO2:
      return true
    default:
      return desc.fields.some((f) => f.presence !== IMPLICIT && f.fieldKind !== "message" && !f.oneof)
  }
}

/** Fields and oneofs that are own properties of a zero message, with their zero values, in `create()`'s order. */
const ownZeros = (ctx: BodyContext, desc: DescMessage): Array<[string, string]> => {
  const zeros: Array<[string, string]> = []
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      zeros.push([member.localName, "{ case: undefined }"])
      continue
    }
    if (member.presence !== IMPLICIT) continue
    switch (member.fieldKind) {
      case "list":
        zeros.push([member.localName, "[]"])
        break
      case "map":
        zeros.push([member.localName, "{}"])
        break
      case "scalar":
        if (member.getDefaultValue() !== undefined) throw new Error(`${member.toString()}: a default on an implicit-presence field`)
        zeros.push([member.localName, scalarZero(ctx, member.scalar, member.longAsString)])
        break
      case "enum":
        zeros.push([member.localName, enumZero(member.enum)])
        break
      case "message":
        break
    }
  }
  return zeros
}

/** How protobuf-es keeps a message of this type in this field: unboxed wrapper, JSON object, or the message. */
const localForm = (field: DescField, desc: DescMessage): "wrapper" | "struct" | "message" => {
  if (field.fieldKind === "message" && !field.oneof && isWrapperDesc(desc)) return "wrapper"
  if (desc.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value") return "struct"
  return "message"
}

/** Assigns `value` to a field, through its oneof if it has one. */
const assign = (field: DescField, value: string): string =>
  field.oneof ? `m.${field.oneof.localName} = { case: "${field.localName}", value: ${value} }` : `m.${field.localName} = ${value}`

const emitScalar = (ctx: BodyContext, field: DescField & { fieldKind: "scalar" }): void => {
  readScalar(ctx, field.scalar, "v", field.utf8Validation)
  ctx.out.line(assign(field, field.longAsString && is64(field.scalar) ? "String(v)" : "v"))
}

const emitEnum = (ctx: BodyContext, field: DescField & { fieldKind: "enum" }): void => {
  readScalar(ctx, ScalarType.INT32, "v", false)
  if (field.enum.open) {
    ctx.out.line(assign(field, "v"))
    return
  }
  ctx.out.line(`if (${knownEnumValue(field.enum, "v")}) ${assign(field, "v")}`)
  ctx.out.line(`else ${ctx.file.helper("unknownEnum")}(m, ${field.number}, wt, v)`)
}

/** Lines reading a message of this field's type, length-prefixed or delimited, into `m`. */
const emitMessage = (ctx: BodyContext, field: DescField & { fieldKind: "message" }): void => {
  const { out, file } = ctx
  const desc = field.message
  const read = file.reader(desc)
  const [end, group] = delimitedOrLength(ctx, field.delimitedEncoding, field.number)
  const form = localForm(field, desc)
  out.line("r.pos = p")
  if (field.oneof) {
    const oneof: DescOneof = field.oneof
    const toMessage = form === "struct" ? `${file.helper("jsonToStruct")}(o.value)` : "o.value"
    out.line(`const o = m.${oneof.localName}`)
    out.line("const v = ", read, `(r, ${end}, ${group}, o.case === "${field.localName}" ? ${toMessage} : undefined, undefined)`)
    out.line(assign(field, form === "struct" ? `${file.helper("structToJson")}(v)` : "v"))
  } else if (form === "wrapper") {
    out.line(`const prev = m.${field.localName}`)
    out.line(
      `m.${field.localName} = `,
      read,
      `(r, ${end}, ${group}, prev === undefined ? undefined : { $typeName: "${desc.typeName}", value: prev }, undefined).value`
    )
  } else if (form === "struct") {
    out.line(`const prev = m.${field.localName}`)
    out.line(
      `m.${field.localName} = ${file.helper("structToJson")}(`,
      read,
      `(r, ${end}, ${group}, prev === undefined ? undefined : ${file.helper("jsonToStruct")}(prev), undefined))`
    )
  } else {
    out.line(`m.${field.localName} = `, read, `(r, ${end}, ${group}, m.${field.localName}, undefined)`)
  }
  out.line("p = r.pos")
}

/** Reads the length of a length-prefixed message; answers the end and group arguments of its reader. */
const delimitedOrLength = (ctx: BodyContext, delimited: boolean, number: number): [string, string] => {
  if (delimited) {
    ctx.usesLength = true
    return ["len", String(number)]
  }
  readLength(ctx, "n", "e")
  return ["e", "0"]
}

const emitList = (ctx: BodyContext, field: DescField & { fieldKind: "list" }): void => {
  const { out, file } = ctx
  if (field.listKind === "message") {
    const [end, group] = delimitedOrLength(ctx, field.delimitedEncoding, field.number)
    out.line("r.pos = p")
    const item = localForm(field, field.message) === "struct"
      ? [`m.${field.localName}.push(${file.helper("structToJson")}(`, file.reader(field.message), `(r, ${end}, ${group}, undefined, undefined)))`]
      : [`m.${field.localName}.push(`, file.reader(field.message), `(r, ${end}, ${group}, undefined, undefined))`]
    out.line(...item)
    out.line("p = r.pos")
    return
  }
  const type = field.listKind === "scalar" ? field.scalar : ScalarType.INT32
  const value = field.listKind === "scalar" && field.longAsString && is64(type) ? "String(v)" : "v"
  out.line(`const a = m.${field.localName}`)
  if (!packable(type)) {
    readScalar(ctx, type, "v", field.utf8Validation)
    out.line(`a.push(${value})`)
    return
  }
  // Packed and unpacked are both accepted, whatever the field declares.
  out.open("if (wt === 2) {")
  readLength(ctx, "n", "e")
  out.open("while (p < e) {")
  readScalar(ctx, type, "v", field.utf8Validation)
  out.line(`a.push(${value})`)
  out.close()
  out.middle("} else {")
  readScalar(ctx, type, "v", field.utf8Validation)
  out.line(`a.push(${value})`)
  out.close()
}

/**
 * A map entry as protobuf-es reads it (`readMapEntry`): fields 1 and 2 by number whatever their
 * wire type, any other field number's tag consumed and nothing else, missing key or value zero.
 */
const emitMap = (ctx: BodyContext, field: DescField & { fieldKind: "map" }): void => {
  const { out, file } = ctx
  readLength(ctx, "n", "e")
  const key = field.mapKey
  const keyIsNumber = !is64(key) && key !== ScalarType.STRING && key !== ScalarType.BOOL
  out.line(keyIsNumber ? "let k = 0" : key === ScalarType.STRING ? `let k = ""` : key === ScalarType.BOOL ? `let k = "false"` : `let k = "0"`)
  let final = "v"
  switch (field.mapKind) {
    case "scalar":
      if (field.scalar === ScalarType.BYTES) {
        out.line("let v: Uint8Array | undefined")
        final = "v ?? new Uint8Array(0)"
      } else {
        out.line(`let v${is64(field.scalar) ? ": bigint" : ""} = ${scalarZero(ctx, field.scalar, false)}`)
      }
      break
    case "enum":
      out.line(`let v = ${enumZero(field.enum)}`)
      break
    case "message":
      out.line("let v: ", file.shape(field.message), " | undefined")
      final = localForm(field, field.message) === "struct"
        ? `v === undefined ? {} : ${file.helper("structToJson")}(v)`
        : ""
      break
  }
  out.open("while (p < e) {")
  out.line("let t = b[p]!")
  out.open("if (t < 0x80) {")
  out.line("p++")
  out.line(`if (t < 8 || (t & 7) > 5) ${file.helper("illegalTag")}(t)`)
  out.middle("} else {")
  out.line(`t = ${file.helper("tag")}(r, p)`)
  out.line("p = r.pos")
  out.close()
  out.open("if (t >>> 3 === 1) {")
  readScalar(ctx, key, "x", field.utf8Validation)
  out.line(`k = ${keyIsNumber || key === ScalarType.STRING ? "x" : "String(x)"}`)
  out.middle("} else if (t >>> 3 === 2) {")
  switch (field.mapKind) {
    case "scalar":
      readScalar(ctx, field.scalar, "y", field.utf8Validation)
      out.line("v = y")
      break
    case "enum":
      readScalar(ctx, ScalarType.INT32, "y", false)
      out.line("v = y")
      break
    case "message":
      readLength(ctx, "yn", "ye")
      out.line("r.pos = p")
      out.line("v = ", file.reader(field.message), "(r, ye, 0, undefined, undefined)")
      out.line("p = r.pos")
      break
  }
  out.close()
  out.close()
  if (final === "") out.line(`m.${field.localName}[k] = v ?? `, file.create, "(", file.schema(field.message!), ")")
  else out.line(`m.${field.localName}[k] = ${final}`)
}

const emitField = (ctx: BodyContext, field: DescField): void => {
  const { out } = ctx
  out.open(`case ${field.number}: {`)
  switch (field.fieldKind) {
    case "scalar":
      emitScalar(ctx, field)
      break
    case "enum":
      emitEnum(ctx, field)
      break
    case "message":
      emitMessage(ctx, field)
      break
    case "list":
      emitList(ctx, field)
      break
    case "map":
      emitMap(ctx, field)
      break
  }
  out.line("break")
  out.close()
}

/**
 * The reader of one message type, protobuf-es's `readMessage` specialized: fields by number in a
 * switch, unknown fields kept in `$unknown`, a group ending at its end-group tag. `target` is
 * the message a repeated occurrence merges into.
 */
export const emitReader = (file: FileContext, desc: DescMessage, declaration: Printable, exported: boolean): Lines => {
  const out = new Lines()
  const body = new Lines()
  const ctx: BodyContext = { file, out: body, usesLength: false }
  const h = file.helper
  const shape = file.shape(desc)

  body.open("while (p < end) {")
  body.line("let t = b[p]!")
  body.line("if (t < 0x80) p++")
  body.open("else {")
  body.line(`t = ${h("tag")}(r, p)`)
  body.line("p = r.pos")
  body.close()
  body.line("const wt = t & 7")
  body.open("if (wt > 3) {")
  body.open("if (wt === 4) {")
  body.open("if (group !== 0) {")
  body.line("endNo = t >>> 3")
  body.line("break")
  body.close()
  body.close(`} else if (wt !== 5) ${h("illegalTag")}(t)`)
  body.close()
  // A projection (pick<Message>) reads only the fields it names; everything else is skipped unread.
  body.open("if (keep !== undefined && keep[t >>> 3] !== true) {")
  body.line(`p = ${h("skip")}(r, p, t)`)
  body.line("continue")
  body.close()
  body.open("switch (t >>> 3) {")
  for (const field of desc.fields) emitField(ctx, field)
  body.open("default: {")
  body.line("const s = p")
  body.line(`p = ${h("skip")}(r, p, t)`)
  body.line(";(unk ??= []).push({ no: t >>> 3, wireType: wt, data: b.subarray(s, p) })")
  body.close()
  body.close()
  body.close()

  if (exported) out.line(`/** Reads a ${desc.typeName} for the generated decoders; not meant to be called by hand. */`)
  out.open(
    declaration,
    "(r: ",
    file.runtimeTypes,
    ".FastReader, end: number, group: number, target: ",
    shape,
    " | undefined, keep: ReadonlyArray<boolean> | undefined): ",
    shape,
    " {"
  )
  out.line(`if (++r.depth > ${h("maxDepth")}) ${h("tooDeep")}("${desc.typeName}")`)
  out.line("const b = r.buf")
  if (ctx.usesLength) out.line("const len = b.length")
  out.line("let p = r.pos")
  out.line("let m: ", shape)
  out.line("let unk: ", file.unknownField, "[] | undefined")
  out.open("if (target === undefined) {")
  const zeros = ownZeros(ctx, desc)
  if (needsPrototype(desc)) {
    out.line("const w = Object.create(", file.prototype(desc), ") as ", file.runtimeTypes, ".Writable<", shape, ">")
    out.line(`w.$typeName = "${desc.typeName}"`)
    for (const [key, zero] of zeros) out.line(`w.${key} = ${zero}`)
    out.line("m = w")
  } else {
    out.line(`m = { $typeName: "${desc.typeName}"${zeros.map(([key, zero]) => `, ${key}: ${zero}`).join("")} }`)
  }
  out.middle("} else {")
  out.line("m = target")
  out.line("unk = m.$unknown")
  out.close()
  out.line("let endNo = 0")
  out.append(body)
  out.line(`if (endNo !== group) ${h("invalidEndGroup")}()`)
  out.line("if (unk !== undefined && unk.length > 0) m.$unknown = unk")
  out.line("r.pos = p")
  out.line("r.depth--")
  out.line("return m")
  out.close()
  return out
}
