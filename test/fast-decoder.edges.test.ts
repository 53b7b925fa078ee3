import { fromBinary, isFieldSet } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import { LegacySchema } from "../gen/shardline/testkit/v1/legacy_pb.js"
import { decodeLegacy } from "../gen/shardline/testkit/v1/legacy_shardline.js"
import { type Generated, generated } from "./support/generated.js"
import { expectSameDecode } from "./support/sameDecode.js"

// Hand-made encodings for what random ones rarely reach: the limits and leniencies of
// protobuf-es's reader, which the generated decoders must copy, not fix.

const decoderOf = (typeName: string): Generated => {
  const g = generated.find((x) => x.schema.typeName === `shardline.${typeName}`)
  if (g === undefined) throw new Error(`no generated decoder for ${typeName}`)
  return g
}

const varint = (n: number | bigint): Array<number> => {
  const out: Array<number> = []
  let v = BigInt.asUintN(64, BigInt(n))
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}
const tag = (no: number, wireType: number) => varint(((no << 3) | wireType) >>> 0)
const delimited = (no: number, data: ReadonlyArray<number>) => [...tag(no, 2), ...varint(data.length), ...data]
const text = (s: string) => [...new TextEncoder().encode(s)]
const nested = (depth: number, no: number): Array<number> => (depth === 0 ? [] : delimited(no, nested(depth - 1, no)))
const unknownGroups = (depth: number): Array<number> => (depth === 0 ? [] : [...tag(900, 3), ...unknownGroups(depth - 1), ...tag(900, 4)])

type Case = readonly [label: string, typeName: string, bytes: ReadonlyArray<number>, outcome: "threw" | "decoded"]

const cases: ReadonlyArray<Case> = [
  // Nesting: fromBinary counts the top message as depth 1 and stops past 100.
  ["99 nested messages", "testkit.v1.LinkedList", nested(99, 2), "decoded"],
  ["100 nested messages", "testkit.v1.LinkedList", nested(100, 2), "threw"],
  ["unknown groups 99 deep at the top", "testkit.v1.LinkedList", unknownGroups(99), "decoded"],
  ["unknown groups 100 deep at the top", "testkit.v1.LinkedList", unknownGroups(100), "threw"],
  ["unknown groups 98 deep one message down", "testkit.v1.LinkedList", delimited(2, unknownGroups(98)), "decoded"],
  ["unknown groups 99 deep one message down", "testkit.v1.LinkedList", delimited(2, unknownGroups(99)), "threw"],
  // Tags.
  ["a tag in five bytes", "testkit.v1.LinkedList", [0x88, 0x80, 0x80, 0x80, 0x00, 0x05], "decoded"],
  ["a five-byte tag past 32 bits", "testkit.v1.LinkedList", [0x88, 0x80, 0x80, 0x80, 0x10, 0x05], "threw"],
  ["a tag in six bytes", "testkit.v1.LinkedList", [0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x05], "threw"],
  ["an overlong two-byte tag", "testkit.v1.LinkedList", [0x88, 0x00, 0x05], "decoded"],
  ["field number 0", "testkit.v1.LinkedList", [0x00, 0x05], "threw"],
  ["wire type 6", "testkit.v1.LinkedList", [0x0e, 0x05], "threw"],
  ["wire type 7 on an unknown field", "testkit.v1.LinkedList", [...tag(50, 7), 0x05], "threw"],
  ["a stray end-group tag of a known field: read as the field", "testkit.v1.LinkedList", [...tag(1, 4), 0x05], "decoded"],
  ["a stray end-group tag of an unknown field", "testkit.v1.LinkedList", [...tag(50, 4)], "threw"],
  ["a known field with the wrong wire type", "testkit.v1.LinkedList", [...tag(1, 2), 0x05], "decoded"],
  // Varints.
  ["int32 in ten bytes", "testkit.v1.LinkedList", [0x08, ...varint(-5)], "decoded"],
  ["int32 in eleven bytes", "testkit.v1.LinkedList", [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "threw"],
  ["an unknown varint in eleven bytes", "testkit.v1.LinkedList", [...tag(50, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "decoded"],
  ["a length in ten bytes, bits past 32 dropped", "testkit.v1.Tree", [0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x61], "decoded"],
  ["a varint running off the end", "testkit.v1.LinkedList", [0x08, 0x80], "threw"],
  ["a bool of bits past 32", "testkit.v1.Scalars", [...tag(13, 0), ...varint(1n << 40n)], "decoded"],
  ["a fixed64 running off the end", "testkit.v1.Scalars", [...tag(10, 1), 1, 2, 3], "threw"],
  // Lengths and overruns: a message may read past its own end as long as the buffer goes on.
  ["a message whose last field ends past the message", "examples.clickstream.v1.Purchase", [...delimited(5, [0x18]), 0x05], "decoded"],
  ["a message whose length passes the end", "examples.clickstream.v1.Purchase", [...tag(5, 2), 0x05, 0x18, 0x05], "threw"],
  ["a packed run whose last varint ends past the run", "testkit.v1.Scalars", [...delimited(33, [0x80]), 0x01], "decoded"],
  ["a string whose length passes the end", "testkit.v1.Scalars", [...tag(14, 2), 0x05, 0x61], "threw"],
  // Groups.
  ["a group", "testkit.v1.Legacy", [...tag(22, 3), ...delimited(23, text("n")), ...tag(22, 4)], "decoded"],
  ["a group closed by another field's end tag", "testkit.v1.Legacy", [...tag(22, 3), ...tag(21, 4)], "threw"],
  ["a group never closed", "testkit.v1.Legacy", [...tag(22, 3), ...delimited(23, text("n"))], "threw"],
  ["a group field sent length-prefixed: still read as a group", "testkit.v1.Legacy", [...tag(22, 2), ...tag(22, 4)], "decoded"],
  ["a delimited editions message", "testkit.v1.Editions", [...tag(7, 3), ...delimited(1, text("p")), ...tag(7, 4)], "decoded"],
  ["an unknown group closed by another number", "testkit.v1.LinkedList", [...tag(50, 3), ...tag(51, 4)], "threw"],
  // Map entries: fields 1 and 2 whatever their wire type; other numbers' tags consumed, their data not.
  ["a map entry with an extra field's tag", "testkit.v1.Maps", delimited(12, [...tag(3, 0), ...delimited(1, text("k"))]), "decoded"],
  ["a map entry with an extra field's data", "testkit.v1.Maps", delimited(12, [...tag(3, 0), 0x00]), "threw"],
  ["a map entry without key or value", "testkit.v1.Maps", [...delimited(2, []), ...delimited(11, []), ...delimited(13, []), ...delimited(17, [])], "decoded"],
  ["map keys of 64 bits and bools", "testkit.v1.Maps", [...delimited(2, [0x08, ...varint(-3)]), ...delimited(11, [0x08, 0x01])], "decoded"],
  ["a map value in a group tag", "testkit.v1.Maps", delimited(12, [...tag(1, 3), 0x01, 0x61, ...tag(2, 5), 0x01, 0x62]), "decoded"],
  // Text: proto3 and editions verify UTF-8, proto2 replaces; a byte order mark is dropped.
  ["invalid UTF-8 in a proto3 string", "testkit.v1.Scalars", delimited(14, [0xc3, 0x28]), "threw"],
  ["invalid UTF-8 in a proto2 string", "testkit.v1.Legacy", delimited(5, [0x61, 0xff, 0x62]), "decoded"],
  ["invalid UTF-8 in a proto3 map key", "testkit.v1.Maps", delimited(12, delimited(1, [0xff])), "threw"],
  ["a byte order mark", "testkit.v1.Scalars", delimited(14, [0xef, 0xbb, 0xbf, 0x61]), "decoded"],
  ["a long non-ASCII string", "testkit.v1.Scalars", delimited(14, text("ü".repeat(100))), "decoded"],
  // Repeated occurrences.
  ["a wrapper twice", "testkit.v1.WellKnown", [...delimited(7, [0x08, 0x05, ...tag(9, 0), 0x01]), ...delimited(7, [])], "decoded"],
  ["a Struct twice, with an unset Value", "testkit.v1.WellKnown", [...delimited(12, delimited(1, delimited(1, text("a")))), ...delimited(12, delimited(1, [...delimited(1, text("b")), ...delimited(2, [0x20, 0x01])]))], "decoded"],
  ["a oneof message twice, then another case", "testkit.v1.Oneofs", [...delimited(4, delimited(1, text("a"))), ...delimited(4, [...tag(2, 2), 0x00]), ...delimited(1, text("t"))], "decoded"],
  ["a oneof Struct twice", "testkit.v1.Oneofs", [...delimited(8, delimited(1, delimited(1, text("a")))), ...delimited(8, [])], "decoded"]
]

describe("generated decoders at the edges of protobuf-es's reader", () => {
  it.each(cases)("%s (%s)", (_, typeName, bytes, outcome) => {
    expect(expectSameDecode(decoderOf(typeName), new Uint8Array(bytes))).toBe(outcome)
  })

  it("a closed enum's unknown number goes to $unknown, and is lost there when unknown fields follow (as in protobuf-es)", () => {
    const level7 = [...tag(3, 0), 7]
    const unknown = [...tag(50, 0), 1]
    const closedOnly = decodeLegacy(new Uint8Array(level7))
    expect(closedOnly.$unknown).toEqual([{ no: 3, wireType: 0, data: new Uint8Array([7]) }])
    expect(isFieldSet(closedOnly, LegacySchema.field.level!)).toBe(false)
    for (const bytes of [[...level7, ...unknown], [...unknown, ...level7]]) {
      const g = decoderOf("testkit.v1.Legacy")
      expectSameDecode(g, new Uint8Array(bytes))
      expect(decodeLegacy(new Uint8Array(bytes)).$unknown).toEqual([{ no: 50, wireType: 0, data: new Uint8Array([1]) }])
    }
    // Repeated closed enum fields and map values keep any number.
    const kept = decodeLegacy(new Uint8Array([...tag(16, 0), 9, ...delimited(18, [...delimited(1, text("k")), ...tag(2, 0), 9])]))
    expect(kept.levels).toEqual([9])
    expect(kept.levelsByName).toEqual({ k: 9 })
  })

  it("an empty proto2 message: defaults on protobuf-es's prototype, nothing set", () => {
    const empty = decodeLegacy(new Uint8Array(0))
    expect(Object.getPrototypeOf(empty)).toBe(Object.getPrototypeOf(fromBinary(LegacySchema, new Uint8Array(0))))
    expect([empty.name, empty.retries, empty.enabled, empty.big, empty.offsetAsString]).toEqual(["anonymous", 3, true, 18446744073709551615n, "-42"])
    for (const field of LegacySchema.fields) expect(isFieldSet(empty, field), field.name).toBe(false)
    expect(Object.keys(empty)).toEqual(Object.keys(fromBinary(LegacySchema, new Uint8Array(0))))
  })

  it("input that is a view into a larger buffer, at an odd offset", () => {
    const g = decoderOf("testkit.v1.Scalars")
    const data = [...tag(1, 1), 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, ...tag(2, 5), 0, 0, 0x80, 0x3f, ...tag(10, 1), 1, 2, 3, 4, 5, 6, 7, 8, ...delimited(14, text("x"))]
    const buffer = new Uint8Array([9, 9, 9, ...data, 9, 9])
    expect(expectSameDecode(g, buffer.subarray(3, 3 + data.length))).toBe("decoded")
    expect(expectSameDecode(g, Buffer.from(buffer.buffer, 3, data.length))).toBe("decoded")
  })

  it("bytes fields are views of the input, as fromBinary's are", () => {
    const input = new Uint8Array(delimited(10, [1, 2, 3]))
    const blob = decodeLegacy(input).blob
    expect(blob.buffer).toBe(input.buffer)
    expect([...blob]).toEqual([1, 2, 3])
  })
})
