import { create, toBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { needsPrototype } from "../src/codegen/reader.js"
import { arbitraryMessage, type ArbitraryMessageOptions } from "../src/testing/arbitrary/index.js"
import { type Generated, generated, registry, schemaFiles, schemas } from "./support/generated.js"
import { expectSameDecode } from "./support/sameDecode.js"
import { concat, rewrite } from "./support/wire.js"

// Runs per property and schema; the schemas in gen/ are small, the hard ones recursive.
const runs = 30

const arbitrary = (g: Generated, options: ArbitraryMessageOptions = {}) =>
  arbitraryMessage(g.schema, { registry, maxDepth: 3, maxCollectionSize: 4, ...options })

const edgy: ArbitraryMessageOptions = { nonFiniteFloats: true, unknownEnumValues: true }

describe("generated decoders give what fromBinary gives", () => {
  it("exist for every message of every generated file", () => {
    expect(schemaFiles.length).toBeGreaterThanOrEqual(4)
    expect(generated.map((g) => g.schema.typeName).sort()).toEqual(schemas.map((s) => s.typeName).sort())
    expect(generated.map((g) => g.schema.typeName)).toEqual(expect.arrayContaining([
      "shardline.examples.clickstream.v1.ClickstreamEvent",
      "shardline.testkit.v1.KitchenSink",
      "shardline.testkit.v1.Legacy.Header",
      "shardline.testkit.v1.Editions.Part"
    ]))
    for (const g of generated) expect(g.codec.name).toBe(`protobuf:${g.schema.typeName}`)
  })

  it("build on protobuf-es's own prototype exactly for the messages create() builds on one", () => {
    for (const schema of schemas) {
      expect(needsPrototype(schema), schema.typeName).toBe(Object.getPrototypeOf(create(schema)) !== Object.prototype)
    }
    expect(needsPrototype(schemas.find((s) => s.typeName === "shardline.testkit.v1.Legacy")!)).toBe(true)
    expect(needsPrototype(schemas.find((s) => s.typeName === "shardline.testkit.v1.Editions")!)).toBe(true)
  })

  for (const g of generated) {
    const { schema } = g
    describe(schema.typeName, () => {
      it("arbitrary messages", () =>
        fc.assert(fc.property(arbitrary(g), (m) => {
          expectSameDecode(g, toBinary(schema, m))
        }), { numRuns: runs }))

      it("NaN, infinities, -0 and unknown enum numbers; packed and expanded repeated fields", () =>
        fc.assert(fc.property(arbitrary(g, edgy), (m) => {
          const bytes = toBinary(schema, m)
          expectSameDecode(g, bytes)
          expectSameDecode(g, rewrite(schema, bytes, { repeated: "packed" }))
          expectSameDecode(g, rewrite(schema, bytes, { repeated: "expanded" }))
        }), { numRuns: runs }))

      // A second occurrence of a field: last one wins for scalars, messages merge, lists append.
      it("two encodings back to back merge as fromBinary merges them", () =>
        fc.assert(fc.property(arbitrary(g, edgy), arbitrary(g, edgy), (a, b) => {
          expectSameDecode(g, concat(toBinary(schema, a), toBinary(schema, b)))
          expectSameDecode(g, concat(toBinary(schema, a), toBinary(schema, a)))
        }), { numRuns: runs }))
    })
  }
})
