/** PutRecords limits: entries per call, and bytes (data plus partition keys) packed into one call. */
export const MAX_CALL_RECORDS = 500
/**
 * Bytes packed into one PutRecords call of several records: 5 MiB, what every endpoint (and both
 * emulators) takes. Since large records AWS takes 10 MiB per request ({@link MAX_REQUEST_BYTES}):
 * a record over 1 MiB goes in a call of its own instead.
 */
export const MAX_CALL_BYTES = 5 * 1024 * 1024
/** The most one PutRecords request may carry since large records: 10 MiB, partition keys included. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024
/** A record's size limit (data plus partition key) on every stream whose limit was not raised: 1 MiB. */
export const MAX_RECORD_BYTES = 1024 * 1024
/** The most a stream's record size limit can be raised to (`MaxRecordSizeInKiB` 10240): 10 MiB. */
export const MAX_LARGE_RECORD_BYTES = 10 * 1024 * 1024

/** A partition key's size as Kinesis counts it against the limits: its UTF-8 bytes. */
export const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * A stream's record size limit in bytes from what DescribeStreamSummary answers
 * (`MaxRecordSizeInKiB`); 1 MiB when it says nothing (a stream never raised, or an emulator).
 */
export const recordLimitOf = (maxRecordSizeInKiB: number | undefined): number =>
  maxRecordSizeInKiB === undefined || !Number.isFinite(maxRecordSizeInKiB)
    ? MAX_RECORD_BYTES
    : Math.min(MAX_LARGE_RECORD_BYTES, Math.max(MAX_RECORD_BYTES, Math.floor(maxRecordSizeInKiB) * 1024))
