import type { ErrorClass } from "../retry/index.js"

/** PutRecords limits: entries per call, bytes per call and per record (data plus partition key). */
export const MAX_CALL_RECORDS = 500
export const MAX_CALL_BYTES = 5 * 1024 * 1024
export const MAX_RECORD_BYTES = 1024 * 1024

const DECIMAL = /^\d{1,39}$/
const HASH_KEY_SPACE = 2n ** 128n

/** A decimal in [0, 2^128), as PutRecords takes an ExplicitHashKey. */
export const validHashKey = (key: unknown): key is string =>
  typeof key === "string" && DECIMAL.test(key) && BigInt(key) < HASH_KEY_SPACE

export const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

/** Starts with the KPL magic F3 89 9A C2. */
export const isMagic = (data: Uint8Array): boolean =>
  data.length >= 4 && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2

/**
 * How a refused PutRecords entry is retried, by its ErrorCode: throughput limits as throttles,
 * internal failures as transient faults; anything else (KMS access, disabled or missing keys) is
 * never retried.
 */
export const classOfErrorCode = (errorCode: string): ErrorClass | undefined => {
  switch (errorCode) {
    case "ProvisionedThroughputExceededException":
    case "KMSThrottlingException":
      return "throttled"
    case "InternalFailure":
    case "ServiceUnavailable":
      return "transient"
    default:
      return undefined
  }
}
