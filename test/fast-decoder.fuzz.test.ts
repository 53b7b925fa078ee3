import { toBinary } from "@bufbuild/protobuf"
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { arbitraryMessage } from "../src/testing/arbitrary/index.js"
import { type Generated, generated, registry } from "./support/generated.js"
import { expectSameDecode } from "./support/sameDecode.js"
import { arbitraryRawField, concat, rewrite } from "./support/wire.js"

// Malformed input must fail in the generated decoder exactly where it fails in fromBinary, and
// anything fromBinary accepts must come out the same.

const runs = 40

const valid = (g: Generated) =>
  arbitraryMessage(g.schema, { registry, maxDepth: 2, maxCollectionSize: 3, nonFiniteFloats: true, unknownEnumValues: true })
    .map((m) => toBinary(g.schema, m))

/** Tally of both outcomes, so a property that only ever throws (or never does) is noticed. */
const tally = () => {
  const seen = { threw: 0, decoded: 0 }
  return { seen, add: (outcome: "threw" | "decoded") => void seen[outcome]++ }
}

describe("generated decoders fail where fromBinary fails", () => {
  for (const g of generated) {
    const { schema } = g
    describe(schema.typeName, () => {
      it("random bytes", () => {
        const { add } = tally()
        fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => add(expectSameDecode(g, bytes))), { numRuns: runs * 2 })
      })

      it("fields of every wire type, known and unknown numbers, put into every message of a valid encoding", () => {
        const { add, seen } = tally()
        fc.assert(
          fc.property(valid(g), fc.array(fc.array(arbitraryRawField(schema), { maxLength: 3 }), { maxLength: 4 }), (bytes, extras) => {
            // The n-th message met gets the n-th list: top level and nested ones of this type alike.
            add(expectSameDecode(g, rewrite(schema, bytes, { repeated: "keep", insert: (n) => extras[n] ?? [] })))
            add(expectSameDecode(g, concat(bytes, ...extras.flat())))
          }),
          { numRuns: runs }
        )
        expect(seen.decoded).toBeGreaterThan(0)
      })

      it("valid encodings with a byte flipped, inserted or deleted", () => {
        const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom("flip", "insert", "delete") })
        fc.assert(
          fc.property(valid(g), fc.array(edit, { minLength: 1, maxLength: 3 }), (bytes, edits) => {
            let b = Array.from(bytes)
            for (const { at, byte, kind } of edits) {
              const i = b.length === 0 ? 0 : at % (b.length + (kind === "insert" ? 1 : 0))
              if (kind === "flip" && b.length > 0) b[i] = b[i]! ^ (byte || 1)
              if (kind === "insert") b = [...b.slice(0, i), byte, ...b.slice(i)]
              if (kind === "delete") b = [...b.slice(0, i), ...b.slice(i + 1)]
            }
            expectSameDecode(g, new Uint8Array(b))
          }),
          { numRuns: runs }
        )
      })

      it("every truncation of a valid encoding", () =>
        fc.assert(
          fc.property(valid(g), (bytes) => {
            for (let n = 0; n < bytes.length; n++) expectSameDecode(g, bytes.subarray(0, n))
          }),
          { numRuns: 10 }
        ))
    })
  }
})
