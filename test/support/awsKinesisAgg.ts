import { createRequire } from "node:module"

// aws-kinesis-agg's own index.d.ts imports aws-sdk v2 and aws-lambda types; only what the tests use.
export interface AwsUserRecord {
  readonly partitionKey: string
  readonly explicitPartitionKey?: string
  readonly sequenceNumber: string
  readonly subSequenceNumber?: number
  readonly data: string
}
export interface AwsKinesisAgg {
  readonly RecordAggregator: new () => {
    addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void
    build(): { partitionKey: string; data: Buffer } | undefined
  }
  deaggregateSync(
    record: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (error: Error | undefined, records?: ReadonlyArray<AwsUserRecord>) => void
  ): void
}

/** The npm package aws-kinesis-agg (a dev dependency: the reference the tests compare with). */
export const agg = createRequire(import.meta.url)("aws-kinesis-agg") as AwsKinesisAgg

// aws-kinesis-agg keeps its key tables in plain objects and writes them out with Object.keys,
// which lists integer-like keys first in numeric order: an aggregate of keys "5" then "3" points
// each record at the other's key. Keys named like Object.prototype members break its tables too.
// Tests that compare with aws-kinesis-agg's *input* leave those keys out; where they compare with
// aws-kinesis-agg's de-aggregation of the same bytes they stay in.
const isArrayIndex = (key: string) => /^(0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1

/** A key aws-kinesis-agg writes to the right place in its tables. */
export const objectKeySafe = (key: string) => !isArrayIndex(key) && !(key in Object.prototype)

/** A user record to aggregate. */
export interface AggregateInput {
  readonly partitionKey: string
  readonly explicitHashKey?: string | undefined
  readonly data: Uint8Array
}

/** Aggregated by aws-kinesis-agg, as a plain Uint8Array (not a Buffer). */
export const aggregateWithAws = (records: ReadonlyArray<AggregateInput>): Uint8Array => {
  const aggregator = new agg.RecordAggregator()
  for (const r of records) {
    aggregator.addUserRecord({
      partitionKey: r.partitionKey,
      ...(r.explicitHashKey === undefined ? {} : { explicitHashKey: r.explicitHashKey }),
      data: Buffer.from(r.data)
    })
  }
  return Uint8Array.from(aggregator.build()!.data)
}
