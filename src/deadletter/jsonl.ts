import type { DeadLetterRecord } from "./DeadLetter.js"

// One dead letter per line, as JSON; bytes as base64. Versioned, so the format can grow.

interface Line {
  readonly v: 1
  readonly streamName: string
  readonly shardId: string
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
  readonly partitionKey: string
  readonly approximateArrivalTimestamp: string | null
  readonly data: string
  readonly reason: { readonly kind: string; readonly message: string; readonly attempts: number }
  readonly failedAt: string
}

export const encodeDeadLetter = (r: DeadLetterRecord): string => {
  const line: Line = {
    v: 1,
    streamName: r.streamName,
    shardId: r.shardId,
    sequenceNumber: r.sequenceNumber,
    subSequenceNumber: r.subSequenceNumber,
    partitionKey: r.partitionKey,
    approximateArrivalTimestamp: r.approximateArrivalTimestamp?.toISOString() ?? null,
    data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString("base64"),
    reason: { kind: r.reason.kind, message: r.reason.message, attempts: r.reason.attempts },
    failedAt: r.failedAt.toISOString()
  }
  return JSON.stringify(line)
}

const isString = (u: unknown): u is string => typeof u === "string"
const isCount = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u) && u >= 0
const isDate = (u: unknown): u is string => typeof u === "string" && !Number.isNaN(Date.parse(u))

/** A line back to a dead letter, or a message saying what is wrong with it. */
export const decodeDeadLetter = (text: string): DeadLetterRecord | string => {
  let u: unknown
  try {
    u = JSON.parse(text)
  } catch {
    return "not JSON"
  }
  if (typeof u !== "object" || u === null) return "not a JSON object"
  const o = u as Record<string, unknown>
  if (o.v !== 1) return `unknown format version ${JSON.stringify(o.v)}`
  const reason = o.reason as Record<string, unknown> | null | undefined
  if (
    !isString(o.streamName) || !isString(o.shardId) || !isString(o.sequenceNumber) || !isCount(o.subSequenceNumber) ||
    !isString(o.partitionKey) || !(o.approximateArrivalTimestamp === null || isDate(o.approximateArrivalTimestamp)) ||
    !isString(o.data) || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.data) || !isDate(o.failedAt) ||
    typeof reason !== "object" || reason === null || !isString(reason.kind) || !isString(reason.message) || !isCount(reason.attempts)
  ) {
    return "a field is missing or of the wrong type"
  }
  return {
    streamName: o.streamName,
    shardId: o.shardId,
    sequenceNumber: o.sequenceNumber,
    subSequenceNumber: o.subSequenceNumber,
    partitionKey: o.partitionKey,
    approximateArrivalTimestamp: o.approximateArrivalTimestamp === null ? undefined : new Date(o.approximateArrivalTimestamp as string),
    data: new Uint8Array(Buffer.from(o.data, "base64")),
    reason: { kind: reason.kind, message: reason.message, attempts: reason.attempts },
    failedAt: new Date(o.failedAt as string)
  }
}
