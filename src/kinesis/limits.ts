/** PutRecords limits: entries per call, bytes per call and per record (data plus partition key). */
export const MAX_CALL_RECORDS = 500
export const MAX_CALL_BYTES = 5 * 1024 * 1024
export const MAX_RECORD_BYTES = 1024 * 1024

/** A partition key's size as Kinesis counts it against the limits: its UTF-8 bytes. */
export const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")
