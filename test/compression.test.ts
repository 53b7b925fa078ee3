import { equals, toBinary } from "@bufbuild/protobuf"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import {
  constants as zlibConstants,
  deflateRawSync,
  deflateSync,
  gunzipSync,
  gzipSync,
  inflateRawSync,
  inflateSync
} from "node:zlib"
import { AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { ClickstreamEventSchema, type PageView, PageViewSchema } from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Codec, type CompressionFormat, DecodeError, DecompressionLimitExceeded, InvalidOption } from "../src/index.js"
import { arbitraryClickstreamEvent } from "./arbitraries/clickstream.js"
import { leftOf, rightOf, thrownBy } from "./support/outcomes.js"
import { concat as cat } from "./support/wire.js"

const MiB = 1024 * 1024
const formats: ReadonlyArray<CompressionFormat> = ["gzip", "zlib", "deflate-raw"]
const compress = { gzip: gzipSync, zlib: deflateSync, "deflate-raw": deflateRawSync } as const
const decompress = { gzip: gunzipSync, zlib: inflateSync, "deflate-raw": inflateRawSync } as const
const codecFor = <A>(format: CompressionFormat | "auto", inner: Codec<A>, options: { readonly maxBytes?: number; readonly level?: number } = {}) =>
  Codec.compressed(inner, { ...options, format })

const context = { shardId: "shardId-000000000003", sequenceNumber: "49590338271490256608559692538361571095921575989136588898" }
const secret = "hunter2-secret-payload"
const utf8 = (text: string) => new TextEncoder().encode(text)

const expectNoPayload = (error: DecodeError, payload: Uint8Array) => {
  expect(error.message).not.toContain(secret)
  if (payload.length > 0) expect(error.message.toLowerCase()).not.toContain(Buffer.from(payload).toString("hex").slice(0, 16))
}
// it.prop from @effect/vitest runs effect's bundled fast-check 3, whose types reject fast-check 4 arbitraries.
const property = <A>(name: string, arbitrary: fc.Arbitrary<A>, predicate: (value: A) => void, runs = 100) =>
  it(name, () => fc.assert(fc.property(arbitrary, predicate), { numRuns: runs }))

// --- framing by hand: what other tools write --------------------------------------------------

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
const crc32 = (bytes: Uint8Array) => {
  let c = 0xffffffff
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
const adler32 = (bytes: Uint8Array) => {
  let a = 1
  let b = 0
  for (const x of bytes) {
    a = (a + x) % 65521
    b = (b + a) % 65521
  }
  return ((b << 16) | a) >>> 0
}
const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]

/** A gzip member with the optional header fields the gzip tool and others write (FEXTRA, FNAME, FCOMMENT, FHCRC). */
const gzipWithHeader = (data: Uint8Array, fields: { readonly name?: string; readonly comment?: string; readonly extra?: Uint8Array; readonly headerCrc?: boolean }) => {
  const flags = (fields.headerCrc ? 0x02 : 0) | (fields.extra ? 0x04 : 0) | (fields.name !== undefined ? 0x08 : 0) | (fields.comment !== undefined ? 0x10 : 0)
  let header = cat([0x1f, 0x8b, 0x08, flags], le32(1_700_000_000), [0x00, 0x03])
  if (fields.extra) header = cat(header, [fields.extra.length & 0xff, fields.extra.length >> 8], fields.extra)
  if (fields.name !== undefined) header = cat(header, utf8(fields.name), [0])
  if (fields.comment !== undefined) header = cat(header, utf8(fields.comment), [0])
  if (fields.headerCrc) header = cat(header, le32(crc32(header)).slice(0, 2))
  return cat(header, deflateRawSync(data), le32(crc32(data)), le32(data.length))
}

/** Deflate blocks flushed but never finished: what a writer that flushes without closing leaves (old Collector exporters). */
const unterminated = (format: CompressionFormat, data: Uint8Array) => {
  const body = deflateRawSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH })
  if (format === "gzip") return cat([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff], body)
  return format === "zlib" ? cat([0x78, 0x01], body) : body
}
/** Flushed, then closed (an empty final block): what the Collector's exporter writes since it closes its writers. */
const flushedThenClosed = (format: CompressionFormat, data: Uint8Array) => {
  const body = cat(deflateRawSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH }), [0x03, 0x00])
  if (format === "gzip") return cat([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff], body, le32(crc32(data)), le32(data.length))
  return format === "zlib" ? cat([0x78, 0x01], body, be32(adler32(data))) : body
}

// --- bombs, built small: a fully flushed deflate segment of 1 MiB of zeros, repeated ------------

const zeroSegment = deflateRawSync(new Uint8Array(MiB), { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH })
/** A valid stream of `mib` MiB of zeros in `format`, about 1 KiB per MiB, never expanded here. */
const bomb = (format: CompressionFormat, mib: number): Uint8Array => {
  if (format === "gzip") {
    // A multi-member gzip: every member is 1 MiB of zeros.
    const member = gzipSync(new Uint8Array(MiB), { level: 9 })
    return cat(...Array.from({ length: mib }, () => member))
  }
  const body = cat(...Array.from({ length: mib }, () => zeroSegment), [0x03, 0x00])
  // The Adler-32 of n zeros: a = 1, b = n mod 65521.
  return format === "zlib" ? cat([0x78, 0xda], body, be32((((mib * MiB) % 65521) << 16 | 1) >>> 0)) : body
}

describe("Codec.compressed: round trips", () => {
  for (const format of [...formats, "auto"] as const) {
    property(`${format}: any bytes come back as they went in, through decode and decodeOrThrow`, fc.uint8Array({ maxLength: 4096 }), (bytes) => {
      const codec = codecFor(format, Codec.bytes)
      expect(rightOf(codec.decode(codec.encode(bytes)))).toEqual(bytes)
    })
    property(`${format}: any ClickstreamEvent round-trips through protobuf, decode and decodeOrThrow alike`, arbitraryClickstreamEvent, (event) => {
      const codec = codecFor(format, Codec.protobuf(ClickstreamEventSchema))
      const bytes = codec.encode(event)
      expect(equals(ClickstreamEventSchema, rightOf(codec.decode(bytes, context)), event)).toBe(true)
      expect(equals(ClickstreamEventSchema, codec.decodeOrThrow!(bytes), event)).toBe(true)
    }, 50)
  }

  for (const format of formats) {
    property(`${format}: reads what node:zlib writes at any level, and writes what node:zlib reads`, fc.tuple(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: -1, max: 9 })), ([bytes, level]) => {
      const codec = codecFor(format, Codec.bytes, { level })
      expect(rightOf(codec.decode(compress[format](bytes, { level })))).toEqual(bytes)
      expect(new Uint8Array(decompress[format](codec.encode(bytes)))).toEqual(bytes)
    }, 50)
  }

  it("auto writes gzip; the result is a plain Uint8Array that does not pin node:zlib's 16 KiB chunk", () => {
    const codec = Codec.compressed(Codec.utf8)
    const encoded = codec.encode("hello")
    expect(Array.from(encoded.subarray(0, 3))).toEqual([0x1f, 0x8b, 0x08])
    const decoded = rightOf(Codec.compressed(Codec.bytes).decode(encoded))
    expect(decoded.constructor).toBe(Uint8Array)
    expect(decoded.buffer.byteLength).toBe(5)
  })

  it("level changes the size, not the content", () => {
    const text = "GET /api/orders 200 ".repeat(500)
    const [stored, best] = [Codec.gzip(Codec.utf8, { level: 0 }).encode(text), Codec.gzip(Codec.utf8, { level: 9 }).encode(text)]
    expect(stored.length).toBeGreaterThan(text.length)
    expect(best.length).toBeLessThan(text.length / 20)
    expect(rightOf(Codec.gzip(Codec.utf8).decode(stored))).toBe(text)
  })

  it("names say the framing and the inner codec; types are the inner codec's", () => {
    expect(Codec.gzip(Codec.protobuf(PageViewSchema)).name).toBe("gzip(protobuf:shardline.examples.clickstream.v1.PageView)")
    expect(Codec.zlib(Codec.json()).name).toBe("zlib(json)")
    expect(Codec.deflateRaw(Codec.utf8).name).toBe("deflate-raw(utf8)")
    expect(Codec.compressed(Codec.bytes).name).toBe("compressed(bytes)")
    expectTypeOf(Codec.gzip(Codec.protobuf(PageViewSchema))).toEqualTypeOf<Codec<PageView>>()
    expectTypeOf(Codec.compressed(Codec.json<{ readonly id: string }>(), { format: "zlib" })).toEqualTypeOf<Codec<{ readonly id: string }>>()
    // A fast path only over an inner one.
    expect(Codec.gzip(Codec.protobuf(PageViewSchema)).decodeOrThrow).toBeTypeOf("function")
    expect(Codec.gzip(Codec.utf8).decodeOrThrow).toBeUndefined()
  })
})

describe("Codec.compressed: what other tools write", () => {
  const data = utf8(`{"endpoint":"GET /orders","status":200,"note":"${secret}"}`)

  it("gzip with FNAME, FCOMMENT, FEXTRA and FHCRC header fields (the gzip tool writes FNAME)", () => {
    for (const fields of [{ name: "orders.json" }, { comment: "exported" }, { extra: new Uint8Array([0x41, 0x70, 2, 0, 7, 7]) }, { name: "a", comment: "b", headerCrc: true }]) {
      const bytes = gzipWithHeader(data, fields)
      expect(rightOf(Codec.gzip(Codec.bytes).decode(bytes))).toEqual(data)
      expect(rightOf(Codec.compressed(Codec.bytes).decode(bytes))).toEqual(data)
    }
  })

  it("multi-member gzip (concatenated files) reads as the members' concatenation", () => {
    const bytes = cat(gzipSync(utf8("first,")), gzipWithHeader(utf8("second"), { name: "b.txt" }))
    expect(rightOf(Codec.compressed(Codec.utf8).decode(bytes))).toBe("first,second")
  })

  it("zlib headers of every window size and level are detected", () => {
    for (const windowBits of [9, 10, 12, 15]) {
      for (const level of [0, 1, 6, 9]) {
        const bytes = deflateSync(data, { windowBits, level })
        expect(rightOf(Codec.compressed(Codec.bytes).decode(bytes))).toEqual(data)
      }
    }
  })

  it("streams flushed then closed (the Collector's Kinesis exporter today) read in every format", () => {
    for (const format of formats) expect(rightOf(codecFor(format, Codec.bytes).decode(flushedThenClosed(format, data)))).toEqual(data)
    expect(rightOf(Codec.compressed(Codec.bytes).decode(flushedThenClosed("zlib", data)))).toEqual(data)
  })

  it("streams flushed but never closed are truncated records unless allowTruncated", () => {
    for (const format of formats) {
      const bytes = unterminated(format, data)
      const error = leftOf(codecFor(format, Codec.bytes).decode(bytes, context))
      expect(error.reason).toBe(`truncated ${format} data (unexpected end of input)`)
      expect(rightOf(Codec.compressed(Codec.bytes, { format, allowTruncated: true }).decode(bytes))).toEqual(data)
    }
  })
})

describe("Codec.compressed with format auto: plain records pass through", () => {
  property("any bytes without a gzip header decode to themselves", fc.uint8Array({ maxLength: 512 }).filter((b) => !(b[0] === 0x1f && b[1] === 0x8b)), (bytes) => {
    expect(rightOf(Codec.compressed(Codec.bytes).decode(bytes))).toEqual(bytes)
  }, 1000)

  property("any plain ClickstreamEvent decodes as the inner codec decodes it", arbitraryClickstreamEvent, (event) => {
    const bytes = toBinary(ClickstreamEventSchema, event)
    const codec = Codec.compressed(Codec.protobuf(ClickstreamEventSchema))
    expect(equals(ClickstreamEventSchema, rightOf(codec.decode(bytes)), event)).toBe(true)
    expect(equals(ClickstreamEventSchema, codec.decodeOrThrow!(bytes), event)).toBe(true)
  })

  it("records that only look like zlib are read as they are: `x^` text, a protobuf whose field 3 is 25", () => {
    // 0x78 0x5e and 0x18 0x19 are valid zlib headers (CM 8, window <= 32 KiB, check bits right).
    for (const [cmf, flg] of [[0x78, 0x5e], [0x18, 0x19]] as const) expect((cmf * 256 + flg) % 31).toBe(0)
    expect(rightOf(Codec.compressed(Codec.utf8).decode(utf8("x^2 + y^2")))).toBe("x^2 + y^2")
    const looksLikeZlib = new Uint8Array([0x18, 0x19, 0x20, 0x05]) // status = 25, latency_ms = 5
    const codec = Codec.compressed(Codec.protobuf(AccessLogEventSchema))
    expect(rightOf(codec.decode(looksLikeZlib))).toMatchObject({ status: 25, latencyMs: 5 })
    expect(codec.decodeOrThrow!(looksLikeZlib)).toMatchObject({ status: 25, latencyMs: 5 })
  })

  it("a plain record the inner codec refuses is its DecodeError, restated under this codec's name", () => {
    const error = leftOf(Codec.compressed(Codec.utf8).decode(new Uint8Array([0xff, 0xfe]), context))
    expect(error.codec).toBe("compressed(utf8)")
    expect(error.reason).toBe("invalid UTF-8 (read as is: no gzip or zlib header)")
    expect(error).toMatchObject(context)
  })
})

describe("Codec.compressed: zip bombs stop at maxBytes", () => {
  it("the cap is exact: maxBytes decompressed bytes decode, one more is DecompressionLimitExceeded, in every format", () => {
    const payload = new Uint8Array(1000).fill(7)
    for (const format of formats) {
      const bytes = compress[format](payload)
      expect(rightOf(codecFor(format, Codec.bytes, { maxBytes: 1000 }).decode(bytes))).toEqual(payload)
      const error = leftOf(codecFor(format, Codec.bytes, { maxBytes: 999 }).decode(bytes, context))
      expect(error).toBeInstanceOf(DecodeError)
      expect(error.cause).toEqual(new DecompressionLimitExceeded({ format, maxBytes: 999, compressedBytes: bytes.byteLength }))
      expect(error.reason).toBe(`${format} data expands past maxBytes (999 bytes)`)
      expect(error.cause).toHaveProperty("message", `${format} data of ${bytes.byteLength} bytes expands past maxBytes (999 bytes)`)
      expect(error).toMatchObject({ ...context, codec: `${format}(bytes)`, byteLength: bytes.byteLength })
    }
  })

  it("the bombs are what they claim: 4 MiB of zeros in each format", () => {
    for (const format of formats) expect(decompress[format](bomb(format, 4)).equals(Buffer.alloc(4 * MiB))).toBe(true)
  })

  it("a 256 MiB bomb is a DecodeError under the default 16 MiB cap, without memory growing by anything like 256 MiB", () => {
    const codec = Codec.compressed(Codec.protobuf(AccessLogEventSchema))
    for (const format of formats) {
      const bytes = bomb(format, 256)
      expect(bytes.byteLength).toBeLessThan(MiB)
      const explicit = codecFor(format, Codec.protobuf(AccessLogEventSchema))
      const before = process.memoryUsage()
      const started = performance.now()
      for (const c of format === "deflate-raw" ? [explicit] : [explicit, codec]) {
        const error = leftOf(c.decode(bytes, context))
        expect(error.cause).toBeInstanceOf(DecompressionLimitExceeded)
        expect(error.cause).toMatchObject({ _tag: "DecompressionLimitExceeded", format, maxBytes: 16 * MiB, compressedBytes: bytes.byteLength })
        expect(error.message).toContain("expands past maxBytes (16777216 bytes)")
        // The fast path throws (the pipeline then asks `decode` for the error).
        expect(thrownBy(() => c.decodeOrThrow!(bytes))).toBeInstanceOf(RangeError)
      }
      const after = process.memoryUsage()
      // Each decode stops after at most 16 MiB; 256 MiB expanded would show in rss and arrayBuffers.
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(80 * MiB)
      expect(after.rss - before.rss).toBeLessThan(128 * MiB)
      expect(performance.now() - started).toBeLessThan(5_000)
    }
  })

  it("maxBytes can be raised for payloads that compress better than 16x", () => {
    const bytes = bomb("zlib", 24)
    expect(leftOf(Codec.zlib(Codec.bytes).decode(bytes)).cause).toBeInstanceOf(DecompressionLimitExceeded)
    expect(rightOf(Codec.zlib(Codec.bytes, { maxBytes: 32 * MiB }).decode(bytes)).byteLength).toBe(24 * MiB)
  })
})

describe("Codec.compressed: corrupt data is a DecodeError with a reason, never the payload", () => {
  const payload = utf8(`{"user":"${secret}","items":[1,2,3],"note":"${secret}"}`)
  const cases: ReadonlyArray<readonly [string, CompressionFormat | "auto", Uint8Array, string]> = [
    ["truncated gzip", "gzip", gzipSync(payload).subarray(0, 20), "truncated gzip data (unexpected end of input)"],
    ["an empty record as gzip", "gzip", new Uint8Array(0), "truncated gzip data (unexpected end of input)"],
    ["zlib data read as gzip", "gzip", deflateSync(payload), "corrupt gzip data: incorrect header check"],
    ["plain text read as zlib", "zlib", payload, "corrupt zlib data: incorrect header check"],
    ["a gzip CRC-32 mismatch", "gzip", (() => { const b = gzipSync(payload); b[b.length - 6]! ^= 1; return b })(), "corrupt gzip data: checksum mismatch (incorrect data check)"],
    ["a gzip length mismatch", "auto", (() => { const b = gzipSync(payload); b[b.length - 1]! ^= 1; return b })(), "corrupt gzip data: checksum mismatch (incorrect length check)"],
    ["a zlib Adler-32 mismatch", "zlib", (() => { const b = deflateSync(payload); b[b.length - 1]! ^= 1; return b })(), "corrupt zlib data: checksum mismatch (incorrect data check)"],
    ["an invalid deflate block", "deflate-raw", new Uint8Array([0xff, 0xff, 0xff, 0x00]), "corrupt deflate-raw data: invalid block type"],
    ["garbage after a gzip header (auto)", "auto", cat([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff], [0xff, 0xee, 0xdd]), "corrupt gzip data: invalid block type"]
  ]
  for (const [label, format, bytes, reason] of cases) {
    it(label, () => {
      const codec = codecFor(format, Codec.protobuf(PageViewSchema))
      const error = leftOf(codec.decode(bytes, context))
      expect(error.reason).toBe(reason)
      expect(error).toMatchObject({ ...context, byteLength: bytes.byteLength })
      expect(error.cause).toBeInstanceOf(Error)
      expectNoPayload(error, bytes)
      expect(thrownBy(() => codec.decodeOrThrow!(bytes))).toBeInstanceOf(Error)
    })
  }

  it("a zlib-looking record that inflates to nothing good and is no good plain either: both reasons", () => {
    const bytes = cat([0x78, 0x9c], [0xff, 0xff, 0xff]) // a zlib header, then no valid deflate
    const error = leftOf(Codec.compressed(Codec.utf8).decode(bytes, context))
    expect(error.reason).toBe("invalid UTF-8 (read as is: corrupt zlib data: invalid block type)")
  })

  it("a record that decompresses but is not a valid inner record names both steps, sized as compressed", () => {
    const inner = new Uint8Array([0x0f, ...utf8(secret)]) // wire type 7 does not exist
    const bytes = gzipSync(inner)
    const error = leftOf(Codec.gzip(Codec.protobuf(PageViewSchema)).decode(bytes, context))
    expect(error.codec).toBe("gzip(protobuf:shardline.examples.clickstream.v1.PageView)")
    expect(error.reason).toMatch(new RegExp(`\\(after gzip decompression to ${inner.byteLength} bytes\\)$`))
    expect(error.byteLength).toBe(bytes.byteLength)
    expectNoPayload(error, inner)
  })

  property("no bytes make any compressed codec throw from decode", fc.tuple(fc.constantFrom(...formats, "auto" as const), fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    fc.uint8Array({ maxLength: 256 }).map((b) => cat([0x1f, 0x8b, 0x08], b)),
    fc.uint8Array({ maxLength: 256 }).map((b) => cat([0x78, 0x9c], b))
  )), ([format, bytes]) => {
    const result = codecFor(format, Codec.protobuf(PageViewSchema), { maxBytes: 4096 }).decode(bytes)
    if (Either.isLeft(result)) expect(result.left).toBeInstanceOf(DecodeError)
  }, 500)
})

describe("Codec.compressed: options are checked when the codec is made", () => {
  const invalid = (f: () => unknown, option: string) => {
    const error = thrownBy(f)
    expect(error).toBeInstanceOf(InvalidOption)
    expect((error as InvalidOption).option).toBe(option)
  }
  it("maxBytes must be a whole number from 1 to the largest Buffer; level from -1 to 9; format one of four", () => {
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 33]) invalid(() => Codec.gzip(Codec.bytes, { maxBytes }), "maxBytes")
    for (const level of [-2, 10, 0.5]) invalid(() => Codec.zlib(Codec.bytes, { level }), "level")
    for (const format of ["brotli", "toString", "constructor"]) invalid(() => Codec.compressed(Codec.bytes, { format: format as CompressionFormat }), "format")
    expect(Codec.gzip(Codec.bytes, { maxBytes: 1, level: 0 }).name).toBe("gzip(bytes)")
  })
})
