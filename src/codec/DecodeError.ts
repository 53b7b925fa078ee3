import { Data } from "effect"

/**
 * A record's bytes could not be decoded by a codec. Carries where the record came from and
 * how long it was, never the bytes themselves: records may hold personal data and this
 * message ends up in logs.
 *
 * @example
 * ```ts
 * const error = new DecodeError({ codec: "utf8", shardId: "shardId-000000000000", reason: "invalid UTF-8", byteLength: 3 })
 * error.message // "Cannot decode record of shard shardId-000000000000 as utf8 (3 bytes): invalid UTF-8"
 * ```
 */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  /** The codec's name, e.g. `protobuf:shardline.examples.clickstream.v1.PageView`. */
  readonly codec: string
  readonly shardId?: string | undefined
  readonly sequenceNumber?: string | undefined
  /** Why decoding failed; must not quote the payload. */
  readonly reason: string
  /** Size of the payload that failed to decode. */
  readonly byteLength: number
  readonly cause?: unknown
}> {
  override get message() {
    const record = this.sequenceNumber === undefined ? "record" : `record ${this.sequenceNumber}`
    const shard = this.shardId === undefined ? "" : ` of shard ${this.shardId}`
    return `Cannot decode ${record}${shard} as ${this.codec} (${this.byteLength} bytes): ${this.reason}`
  }
}

// Only names from the schema survive in reasons; values, keys and snippets come from the payload.
const safeJsonDetail =
  /^(set multiple times|oneof set multiple times by [\w.]+ and [\w.]+|maximum recursion depth of \d+ reached|invalid RFC 3339 string|must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z inclusive|(list item|map value) must not be null|unexpected (NaN|infinite) number|path names must be lowerCamelCase|"@type" is (empty|invalid))$/

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Reason for a failed `JSON.parse`; V8 quotes the offending text, so keep only the position. */
export const jsonSyntaxReason = (error: unknown): string => {
  const message = messageOf(error)
  const position = /at position (\d+)/.exec(message)
  if (position !== null) return `invalid JSON at position ${position[1]}`
  return /end of JSON input/.test(message) ? "invalid JSON: unexpected end of input" : "invalid JSON"
}

/**
 * Reason for an error from protobuf-es `fromJson`/`fromJsonString`: the part naming the
 * message or field is kept, the detail only when it is one of the known payload-free phrases.
 */
export const protobufJsonReason = (error: unknown): string => {
  if (error instanceof Error && (error instanceof SyntaxError || error.cause instanceof SyntaxError)) {
    return jsonSyntaxReason(error.cause instanceof SyntaxError ? error.cause : error)
  }
  const message = messageOf(error)
  const head = /^cannot decode ([\w. ]+?) from JSON[: ]?\s*/.exec(message)
  if (head === null) return "invalid protobuf JSON"
  const detail = message.slice(head[0].length)
  const where = `cannot decode ${head[1]} from JSON`
  if (safeJsonDetail.test(detail)) return `${where}: ${detail}`
  if (/^key .* is unknown$/s.test(detail)) return `${where}: unknown key`
  const duplicate = /^duplicate (object|map) key/.exec(detail)
  if (duplicate !== null) return `${where}: duplicate ${duplicate[1]} key`
  const expected = /^(expected [\w ()]+?),? got /.exec(detail)
  if (expected !== null) return `${where}: ${expected[1]}`
  return `${where}: invalid value`
}

/** Reason for an error from protobuf-es `fromBinary`; its messages never quote the payload. */
export const protobufBinaryReason = (error: unknown): string => {
  const message = messageOf(error)
  return error instanceof TypeError && /utf-?8/i.test(message) ? "invalid UTF-8 in a string field" : message
}
