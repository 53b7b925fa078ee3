import { createHash } from "node:crypto"

/** A shard's slice of the 128-bit hash-key space, both ends included. */
export interface HashRange {
  readonly start: bigint
  readonly end: bigint
}

/** The hash key Kinesis routes a partition key by: the MD5 of its UTF-8 bytes as an unsigned 128-bit number. */
export const hashKeyOf = (partitionKey: string): bigint =>
  BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)

/** Whether a record with this partition key would go to the shard with this range. */
export const routesTo = (partitionKey: string, range: HashRange): boolean => {
  const key = hashKeyOf(partitionKey)
  return key >= range.start && key <= range.end
}
