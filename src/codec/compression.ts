import { constants as bufferConstants } from "node:buffer"
import {
  constants as zlibConstants,
  deflateRawSync,
  deflateSync,
  gunzipSync,
  gzipSync,
  inflateRawSync,
  inflateSync,
  type ZlibOptions
} from "node:zlib"
import { Data, Either } from "effect"
import { InvalidOption } from "../config/index.js"
import type { Codec, DecodeContext } from "./Codec.js"
import { DecodeError } from "./DecodeError.js"

/** A compressed framing node:zlib reads: gzip (RFC 1952), zlib (RFC 1950) or raw deflate (RFC 1951). */
export type CompressionFormat = "gzip" | "zlib" | "deflate-raw"

/** Options for {@link Codec.compressed} and its shorthands. */
export interface CompressionOptions {
  /**
   * How records are framed. `"auto"` (the default) reads gzip and zlib by their headers and hands
   * anything else to the inner codec as it is, so compressed and plain records can share a stream;
   * it writes gzip. Raw deflate has no header: it is only read when chosen here.
   */
  readonly format?: CompressionFormat | "auto" | undefined
  /**
   * The largest decompressed size accepted, in bytes: a record that would expand past it is a
   * {@link DecodeError} caused by {@link DecompressionLimitExceeded}, found without allocating more
   * than this. Default 16 MiB (above the 10 MiB maximum Kinesis record, so anything that fits in a
   * record uncompressed also reads compressed).
   */
  readonly maxBytes?: number | undefined
  /** zlib level for `encode`, 0 (store) to 9 (smallest); -1 is zlib's default (6). Default -1. */
  readonly level?: number | undefined
  /**
   * Accept a stream that stops before its end (no final block, no gzip or zlib trailer): what
   * writers that flush without closing produce, as older OpenTelemetry Collector Kinesis exporters
   * did. Such a record's checksum cannot be checked. Default false: a truncated record is a DecodeError.
   */
  readonly allowTruncated?: boolean | undefined
}

/**
 * A record's decompressed size would pass `maxBytes` (a zip bomb, or a cap set too low): the cause
 * of that record's {@link DecodeError}, so it goes to the dead letters like any poison record.
 *
 * @example
 * ```ts
 * if (error.cause instanceof DecompressionLimitExceeded) yield* Effect.logWarning(`bomb of ${error.cause.compressedBytes} bytes`)
 * ```
 */
export class DecompressionLimitExceeded extends Data.TaggedError("DecompressionLimitExceeded")<{
  readonly format: CompressionFormat
  readonly maxBytes: number
  readonly compressedBytes: number
}> {
  override get message() {
    return `${this.format} data of ${this.compressedBytes} bytes expands past maxBytes (${this.maxBytes} bytes)`
  }
}

/** 16 MiB: above the 10 MiB largest Kinesis record, a bound on what one record can hold in memory. */
const DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024

const inflaters = { gzip: gunzipSync, zlib: inflateSync, "deflate-raw": inflateRawSync } as const
const deflaters = { gzip: gzipSync, zlib: deflateSync, "deflate-raw": deflateRawSync } as const

/** gzip: ID1 ID2 and CM = 8 (deflate), the only method defined. */
const isGzip = (b: Uint8Array) => b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08
/**
 * zlib: CM = 8 with a window of at most 32 KiB, the check bits, no preset dictionary. Two bytes
 * are a weak signature (a protobuf record whose first field is varint field 1 = 29 has it, so
 * does text starting `x^`), which is why a zlib-looking record that does not inflate is read as it
 * is. gzip's three bytes cannot start protobuf (wire type 7), JSON or UTF-8 text.
 */
const isZlib = (b: Uint8Array) =>
  b.length >= 2 && (b[0]! & 0x0f) === 8 && b[0]! >> 4 <= 7 && (b[1]! & 0x20) === 0 && ((b[0]! << 8) | b[1]!) % 31 === 0

const tooLarge = (error: unknown) => (error as { code?: unknown } | null)?.code === "ERR_BUFFER_TOO_LARGE"

// zlib's own messages are fixed phrases; keep one only if it looks like one (never payload bytes).
const zlibPhrase = /^[a-z][a-z /-]{2,60}$/

/** Why node:zlib refused a record, without quoting it. */
const corruptReason = (format: CompressionFormat, error: unknown): string => {
  const message = error instanceof Error ? error.message : ""
  if ((error as { code?: unknown } | null)?.code === "Z_BUF_ERROR") return `truncated ${format} data (unexpected end of input)`
  if (message === "incorrect data check" || message === "incorrect length check") return `corrupt ${format} data: checksum mismatch (${message})`
  return zlibPhrase.test(message) ? `corrupt ${format} data: ${message}` : `corrupt ${format} data`
}

/** node:zlib answers a Buffer, often a view of a 16 KiB chunk: copy a small result so a kept message does not pin the chunk. */
const plain = (out: Buffer): Uint8Array =>
  out.buffer.byteLength === out.byteLength ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : new Uint8Array(out)

const checkedInteger = (option: string, value: number | undefined, fallback: number, min: number, max: number): number => {
  const n = value ?? fallback
  if (Number.isInteger(n) && n >= min && n <= max) return n
  throw new InvalidOption({ option, given: String(n), expected: `a whole number from ${min} to ${max}` })
}

const labels = { gzip: "gzip", zlib: "zlib", "deflate-raw": "deflate-raw", auto: "compressed" } as const

/**
 * A codec for compressed records: decompresses with node:zlib (at most `maxBytes`), then decodes
 * with `inner`; encodes with `inner`, then compresses. Throws {@link InvalidOption} for a bad option.
 *
 * @example
 * ```ts
 * // gzip, zlib or plain protobuf records, read alike; a record expanding past 64 MiB is a DecodeError.
 * const orders = Codec.compressed(Codec.protobuf(OrderSchema), { maxBytes: 64 * 1024 * 1024 })
 * ```
 */
export const compressed = <A>(inner: Codec<A>, options: CompressionOptions = {}): Codec<A> => {
  const format = options.format ?? "auto"
  if (typeof format !== "string" || !Object.hasOwn(labels, format)) {
    throw new InvalidOption({ option: "format", given: String(format), expected: `"gzip", "zlib", "deflate-raw" or "auto"` })
  }
  const maxBytes = checkedInteger("maxBytes", options.maxBytes, DEFAULT_MAX_DECOMPRESSED_BYTES, 1, bufferConstants.MAX_LENGTH)
  const level = checkedInteger("level", options.level, -1, -1, 9)
  const name = `${labels[format]}(${inner.name})`
  const read: ZlibOptions = options.allowTruncated === true
    ? { maxOutputLength: maxBytes, finishFlush: zlibConstants.Z_SYNC_FLUSH }
    : { maxOutputLength: maxBytes }
  const writeFormat: CompressionFormat = format === "auto" ? "gzip" : format
  const deflate = deflaters[writeFormat]
  const write: ZlibOptions = { level }

  /** The framing a record's bytes are in; undefined for plain bytes (auto only). */
  const formatOf = (bytes: Uint8Array): CompressionFormat | undefined =>
    format !== "auto" ? format : isGzip(bytes) ? "gzip" : isZlib(bytes) ? "zlib" : undefined
  /** A zlib-looking record read as it is when it does not inflate (auto only). */
  const mayBePlain = (detected: CompressionFormat, error: unknown) => format === "auto" && detected === "zlib" && !tooLarge(error)
  const inflate = (detected: CompressionFormat, bytes: Uint8Array): Uint8Array => plain(inflaters[detected](bytes, read))

  const wrapped = (bytes: Uint8Array, context: DecodeContext | undefined, reason: string, cause: unknown) =>
    Either.left(
      new DecodeError({
        codec: name,
        shardId: context?.shardId,
        sequenceNumber: context?.sequenceNumber,
        reason,
        byteLength: bytes.byteLength,
        cause
      })
    )
  /** The inner codec's answer, its error restated as this codec's (compressed size, this name). */
  const innerDecode = (bytes: Uint8Array, data: Uint8Array, context: DecodeContext | undefined, note: string): Either.Either<A, DecodeError> => {
    const result = inner.decode(data, context)
    return Either.isRight(result) ? result : wrapped(bytes, context, `${result.left.reason} (${note})`, result.left.cause)
  }

  const decode = (bytes: Uint8Array, context?: DecodeContext): Either.Either<A, DecodeError> => {
    const detected = formatOf(bytes)
    if (detected === undefined) return innerDecode(bytes, bytes, context, "read as is: no gzip or zlib header")
    let data: Uint8Array
    try {
      data = inflate(detected, bytes)
    } catch (error) {
      if (tooLarge(error)) {
        const cause = new DecompressionLimitExceeded({ format: detected, maxBytes, compressedBytes: bytes.byteLength })
        return wrapped(bytes, context, `${detected} data expands past maxBytes (${maxBytes} bytes)`, cause)
      }
      const reason = corruptReason(detected, error)
      if (mayBePlain(detected, error)) return innerDecode(bytes, bytes, context, `read as is: ${reason}`)
      return wrapped(bytes, context, reason, error)
    }
    return innerDecode(bytes, data, context, `after ${detected} decompression to ${data.byteLength} bytes`)
  }

  const innerOrThrow = inner.decodeOrThrow
  // Only over an inner fast path: the pipeline then calls `decode` for the error of a record that threw.
  const decodeOrThrow = innerOrThrow === undefined ? undefined : (bytes: Uint8Array): A => {
    const detected = formatOf(bytes)
    if (detected === undefined) return innerOrThrow(bytes)
    let data: Uint8Array
    try {
      data = inflate(detected, bytes)
    } catch (error) {
      if (mayBePlain(detected, error)) return innerOrThrow(bytes)
      throw error
    }
    return innerOrThrow(data)
  }

  const encode = (value: A): Uint8Array => plain(deflate(inner.encode(value), write))
  return decodeOrThrow === undefined ? { name, decode, encode } : { name, decode, decodeOrThrow, encode }
}

/**
 * gzip-compressed records (what the OpenTelemetry Collector's Kinesis exporter writes with
 * `compression: gzip`, and `gzip` or Node's `gzipSync`). Multi-member files are read whole.
 *
 * @example
 * ```ts
 * const spans = Codec.gzip(Codec.protobuf(TracesDataSchema))
 * ```
 */
export const gzip = <A>(inner: Codec<A>, options?: Omit<CompressionOptions, "format">): Codec<A> =>
  compressed(inner, { ...options, format: "gzip" })

/** zlib-wrapped deflate records (`compression: zlib` in the Collector, Node's `deflateSync`, Python's `zlib.compress`). */
export const zlib = <A>(inner: Codec<A>, options?: Omit<CompressionOptions, "format">): Codec<A> =>
  compressed(inner, { ...options, format: "zlib" })

/** Raw deflate records, with no header or checksum (`compression: flate` in the Collector, Node's `deflateRawSync`). */
export const deflateRaw = <A>(inner: Codec<A>, options?: Omit<CompressionOptions, "format">): Codec<A> =>
  compressed(inner, { ...options, format: "deflate-raw" })
