import {
  type BinaryReadOptions,
  type BinaryWriteOptions,
  type DescMessage,
  fromBinary,
  fromJsonString,
  type JsonReadOptions,
  type MessageShape,
  type Registry,
  toBinary,
  toJsonString
} from "@bufbuild/protobuf"
import { Either } from "effect"
import { compressed, deflateRaw, gzip, zlib } from "./compression.js"
import { DecodeError, jsonSyntaxReason, protobufBinaryReason, protobufJsonReason } from "./DecodeError.js"

/** Where a record came from, copied into the {@link DecodeError} when it cannot be decoded. */
export interface DecodeContext {
  readonly shardId?: string | undefined
  readonly sequenceNumber?: string | undefined
}

/**
 * Turns a record's bytes into a value of type `A` and back. `decode` never throws and runs no
 * Effect, so a pipeline can decode a whole batch in a plain loop; an `Either` is also an
 * `Effect<A, DecodeError>` when one is wanted.
 *
 * @example
 * ```ts
 * const codec = Codec.protobuf(PageViewSchema)
 * const result = codec.decode(record.data, { shardId, sequenceNumber })
 * if (Either.isLeft(result)) yield* Effect.logWarning(result.left.message)
 * ```
 */
export interface Codec<A> {
  /** Shown in errors, e.g. `protobuf:shardline.examples.clickstream.v1.PageView`, `utf8`. */
  readonly name: string
  readonly decode: (bytes: Uint8Array, context?: DecodeContext) => Either.Either<A, DecodeError>
  /**
   * The same decoding that throws on bad bytes instead of answering an `Either`: what the pipeline's
   * decode loop uses when a codec has it (one object less per record); it then calls `decode` for
   * the error of a record that threw. Optional.
   */
  readonly decodeOrThrow?: (bytes: Uint8Array) => A
  /** Throws only for values that are not `A` (a bug, not a data error). */
  readonly encode: (value: A) => Uint8Array
}

export declare namespace Codec {
  /**
   * The decoded type of a codec.
   *
   * @example
   * ```ts
   * type View = Codec.Type<typeof pageViews> // PageView
   * ```
   */
  export type Type<C> = C extends Codec<infer A> ? A : never
}

/** Options for {@link Codec.protobuf}. */
export interface ProtobufOptions {
  /** Keep fields unknown to the schema so they survive a re-encode. Default `true`. */
  readonly readUnknownFields?: boolean | undefined
  /** Write kept unknown fields back out on encode. Default `true`. */
  readonly writeUnknownFields?: boolean | undefined
}

/** Options for {@link Codec.protobufJson}. */
export interface ProtobufJsonOptions {
  /** Accept keys and enum names the schema does not know. Default `false`: they are errors. */
  readonly ignoreUnknownFields?: boolean | undefined
  /** Needed to read and write `google.protobuf.Any` and extensions. */
  readonly registry?: Registry | undefined
}

// ignoreBOM: true keeps a leading U+FEFF as content, so utf8 round-trips exactly.
const utf8Decoder = /* @__PURE__ */ new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
// JSON text may start with a BOM (some producers write one); JSON.parse would reject it.
const jsonTextDecoder = /* @__PURE__ */ new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = /* @__PURE__ */ new TextEncoder()

const fail = (
  codec: string,
  bytes: Uint8Array,
  context: DecodeContext | undefined,
  reason: string,
  cause?: unknown
): Either.Either<never, DecodeError> =>
  Either.left(
    new DecodeError({
      codec,
      shardId: context?.shardId,
      sequenceNumber: context?.sequenceNumber,
      reason,
      byteLength: bytes.byteLength,
      cause
    })
  )

const invalidUtf8 = "invalid UTF-8"

/**
 * Binary protobuf records, decoded with protobuf-es `fromBinary`.
 *
 * @example
 * ```ts
 * const pageViews = Codec.protobuf(PageViewSchema) // Codec<PageView>
 * const bytes = pageViews.encode(create(PageViewSchema, { url: "/home" }))
 * ```
 */
const protobuf = <Desc extends DescMessage>(
  schema: Desc,
  options?: ProtobufOptions
): Codec<MessageShape<Desc>> => {
  const read: Partial<BinaryReadOptions> = {}
  if (options?.readUnknownFields !== undefined) read.readUnknownFields = options.readUnknownFields
  const write: Partial<BinaryWriteOptions> = {}
  if (options?.writeUnknownFields !== undefined) write.writeUnknownFields = options.writeUnknownFields
  return binary(schema, (bytes) => fromBinary(schema, bytes, read), write)
}

/** A binary protobuf codec around `decode`: a throw becomes a {@link DecodeError}, encoding is `toBinary`. */
const binary = <Desc extends DescMessage>(
  schema: Desc,
  decode: (bytes: Uint8Array) => MessageShape<Desc>,
  write: Partial<BinaryWriteOptions> = {}
): Codec<MessageShape<Desc>> => {
  const name = `protobuf:${schema.typeName}`
  return {
    name,
    decodeOrThrow: decode,
    decode: (bytes, context) => {
      try {
        return Either.right(decode(bytes))
      } catch (error) {
        return fail(name, bytes, context, protobufBinaryReason(error), error)
      }
    },
    encode: (value) => toBinary(schema, value, write)
  }
}

/**
 * Binary protobuf records, decoded by a decoder generated by `protoc-gen-shardline`: the same
 * messages `Codec.protobuf` gives (unknown fields kept), several times faster. The generated
 * `_shardline.ts` file has one of these ready per message, e.g. `PageViewCodec`.
 *
 * @example
 * ```ts
 * import { decodePageView } from "./gen/clickstream_shardline.js"
 * const pageViews = Codec.fast(PageViewSchema, decodePageView) // Codec<PageView>
 * ```
 */
const fast = <Desc extends DescMessage>(
  schema: Desc,
  decode: (bytes: Uint8Array) => MessageShape<Desc>
): Codec<MessageShape<Desc>> => binary(schema, decode)

/**
 * Records holding protobuf JSON text (UTF-8), decoded with protobuf-es `fromJsonString`.
 * Error reasons name the message or field but never quote the record.
 *
 * @example
 * ```ts
 * const pageViews = Codec.protobufJson(PageViewSchema, { ignoreUnknownFields: true })
 * pageViews.decode(new TextEncoder().encode(`{"url":"/home"}`)) // Right(PageView)
 * ```
 */
const protobufJson = <Desc extends DescMessage>(
  schema: Desc,
  options?: ProtobufJsonOptions
): Codec<MessageShape<Desc>> => {
  const name = `json:${schema.typeName}`
  const read: Partial<JsonReadOptions> = { registry: options?.registry }
  if (options?.ignoreUnknownFields !== undefined) read.ignoreUnknownFields = options.ignoreUnknownFields
  const write = { registry: options?.registry }
  return {
    name,
    decode: (bytes, context) => {
      let text: string
      try {
        text = jsonTextDecoder.decode(bytes)
      } catch {
        return fail(name, bytes, context, invalidUtf8)
      }
      try {
        return Either.right(fromJsonString(schema, text, read))
      } catch (error) {
        // No cause: protobuf-es and V8 quote the payload in theirs, and loggers print causes.
        return fail(name, bytes, context, protobufJsonReason(error))
      }
    },
    encode: (value) => utf8Encoder.encode(toJsonString(schema, value, write))
  }
}

/**
 * UTF-8 text. Invalid UTF-8 is a {@link DecodeError}, not replaced with U+FFFD.
 *
 * @example
 * ```ts
 * Codec.utf8.decode(new Uint8Array([0x68, 0x69])) // Right("hi")
 * ```
 */
const utf8: Codec<string> = {
  name: "utf8",
  decode: (bytes, context) => {
    try {
      return Either.right(utf8Decoder.decode(bytes))
    } catch {
      return fail("utf8", bytes, context, invalidUtf8)
    }
  },
  encode: (value) => utf8Encoder.encode(value)
}

/**
 * The record's bytes as they are.
 *
 * @example
 * ```ts
 * Codec.bytes.decode(record.data) // Right(record.data)
 * ```
 */
const bytes: Codec<Uint8Array> = {
  name: "bytes",
  decode: (data) => Either.right(data),
  encode: (value) => value
}

/**
 * Plain JSON over UTF-8. The result is not validated: `A` is what you promise the records hold.
 *
 * @example
 * ```ts
 * const orders = Codec.json<{ readonly id: string }>()
 * orders.decode(new TextEncoder().encode(`{"id":"o-1"}`)) // Right({ id: "o-1" })
 * ```
 */
const json = <A = unknown>(): Codec<A> => ({
  name: "json",
  decode: (data, context) => {
    let text: string
    try {
      text = jsonTextDecoder.decode(data)
    } catch {
      return fail("json", data, context, invalidUtf8)
    }
    try {
      return Either.right(JSON.parse(text) as A)
    } catch (error) {
      return fail("json", data, context, jsonSyntaxReason(error))
    }
  },
  encode: (value) => {
    const text: string | undefined = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`Codec.json cannot encode a value of type ${typeof value}`)
    return utf8Encoder.encode(text)
  }
})

/**
 * Constructors for {@link Codec}s.
 *
 * @example
 * ```ts
 * const events = Codec.protobuf(ClickstreamEventSchema) // Codec<ClickstreamEvent>
 * ```
 */
export const Codec = { protobuf, fast, protobufJson, utf8, bytes, json, compressed, gzip, zlib, deflateRaw } as const
