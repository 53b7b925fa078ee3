import { type DescMessage, equals, fromBinary, isFieldSet, type Message, toBinary } from "@bufbuild/protobuf"
import { reflect, type ReflectList, type ReflectMap, type ReflectMessage } from "@bufbuild/protobuf/reflect"
import { expect } from "vitest"
import { type Generated, registry } from "./generated.js"

type Attempt<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: unknown }

export const attempt = <A>(f: () => A): Attempt<A> => {
  try {
    return { ok: true, value: f() }
  } catch (error) {
    return { ok: false, error }
  }
}

const describe = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : typeof value === "string" ? JSON.stringify(value) : Object.is(value, -0) ? "-0" : String(value)

/**
 * Where `a` and `b` differ as JavaScript values, or undefined: prototypes (protobuf-es keeps
 * proto2 defaults on one), own keys in their order, -0 and NaN, bytes, bigints. Stricter than
 * `toStrictEqual`, which ignores key order and prototypes' contents.
 */
export const difference = (a: unknown, b: unknown, path = "message"): string | undefined => {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`
  if (typeof a !== "object" || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${describe(a)} vs ${describe(b)}`
  }
  const x = a as Record<PropertyKey, unknown>
  const y = b as Record<PropertyKey, unknown>
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: different prototypes`
  if (x instanceof Uint8Array) {
    const u = y as unknown as Uint8Array
    return x.length === u.length && x.every((v, i) => v === u[i]) ? undefined : `${path}: bytes [${x}] vs [${u}]`
  }
  const keysA = Reflect.ownKeys(x)
  const keysB = Reflect.ownKeys(y)
  if (keysA.join() !== keysB.join()) return `${path}: keys ${keysA.map(String).join(",")} vs ${keysB.map(String).join(",")}`
  for (const key of keysA) {
    const d = difference(x[key], y[key], `${path}.${String(key)}`)
    if (d !== undefined) return d
  }
  return undefined
}

/** Where `isFieldSet` answers differently for `a` and `b`, down through every message they hold. */
export const presenceDifference = (desc: DescMessage, a: Message, b: Message, path = desc.typeName): string | undefined => {
  const ra = reflect(desc, a)
  const rb = reflect(desc, b)
  for (const field of desc.fields) {
    const set = isFieldSet(a, field)
    if (set !== isFieldSet(b, field)) return `${path}.${field.localName}: isFieldSet ${set} vs ${!set}`
    if (!set) continue
    const pairs: Array<[ReflectMessage, ReflectMessage]> = []
    if (field.fieldKind === "message") pairs.push([ra.get(field), rb.get(field)])
    if (field.fieldKind === "list" && field.listKind === "message") {
      const la = ra.get(field) as ReflectList
      const lb = rb.get(field) as ReflectList
      for (let i = 0; i < la.size; i++) pairs.push([la.get(i) as ReflectMessage, lb.get(i) as ReflectMessage])
    }
    if (field.fieldKind === "map" && field.mapKind === "message") {
      const ma = ra.get(field) as ReflectMap
      const mb = rb.get(field) as ReflectMap
      for (const [key, value] of ma) pairs.push([value as ReflectMessage, mb.get(key) as ReflectMessage])
    }
    for (const [x, y] of pairs) {
      const d = presenceDifference(x.desc, x.message, y.message, `${path}.${field.localName}`)
      if (d !== undefined) return d
    }
  }
  return undefined
}

const hasNaN = (value: unknown): boolean =>
  Number.isNaN(value) ||
  (typeof value === "object" && value !== null && !(value instanceof Uint8Array) && Object.values(value).some(hasNaN))

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Asserts the generated decoder's message is fromBinary's: by protobuf-es `equals` (or equal
 * encodings where NaN makes `equals` false), `isFieldSet` everywhere, `$unknown`, byte-identical
 * re-encoding, `toStrictEqual` and {@link difference}.
 */
export const expectSameMessage = (desc: DescMessage, fast: Message, slow: Message): void => {
  expect(difference(fast, slow)).toBeUndefined()
  expect(presenceDifference(desc, fast, slow)).toBeUndefined()
  expect(fast.$unknown).toStrictEqual(slow.$unknown)
  const encodedFast = attempt(() => toBinary(desc, fast))
  const encodedSlow = attempt(() => toBinary(desc, slow))
  expect(encodedFast.ok).toBe(encodedSlow.ok)
  if (encodedFast.ok && encodedSlow.ok) expect(bytesEqual(encodedFast.value, encodedSlow.value)).toBe(true)
  // Unpacking an Any throws when its bytes are not its type (two Anys merged by a repeated field).
  const unpacked = attempt(() => equals(desc, fast, slow, { registry, unpackAny: true }))
  const equal = unpacked.ok ? unpacked.value : equals(desc, fast, slow)
  // NaN never equals NaN; then the encodings must be equal, or (required fields missing) nothing else may differ.
  const sameEncoding = encodedFast.ok && encodedSlow.ok && bytesEqual(encodedFast.value, encodedSlow.value)
  expect(equal || sameEncoding || hasNaN(slow)).toBe(true)
  expect(fast).toStrictEqual(slow)
}

/** Decodes `bytes` both ways: both throw, or both give the same message. Answers which. */
export const expectSameDecode = (g: Generated, bytes: Uint8Array): "threw" | "decoded" => {
  const slow = attempt(() => fromBinary(g.schema, bytes))
  const fast = attempt(() => g.decode(bytes))
  const said = (a: Attempt<unknown>) => (a.ok ? "decoded" : `threw ${String(a.error)}`)
  expect(fast.ok, `${g.schema.typeName} [${bytes}]: fromBinary ${said(slow)}, generated ${said(fast)}`).toBe(slow.ok)
  if (!slow.ok || !fast.ok) return "threw"
  expectSameMessage(g.schema, fast.value, slow.value)
  return "decoded"
}
