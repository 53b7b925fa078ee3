import type { ErrorClass } from "../retry/index.js"

const DECIMAL = /^\d{1,39}$/
const HASH_KEY_SPACE = 2n ** 128n

/** A decimal in [0, 2^128), as PutRecords takes an ExplicitHashKey. */
export const validHashKey = (key: unknown): key is string =>
  typeof key === "string" && DECIMAL.test(key) && BigInt(key) < HASH_KEY_SPACE

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
