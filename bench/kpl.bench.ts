import * as os from "node:os"
import { createRequire } from "node:module"
import { Either } from "effect"
import { encodeEvents } from "./fixtures.js"
import { deaggregate } from "../src/index.js"
import { blackholeValue, measureInterleaved, rateOf, renderTable } from "./harness.js"

// KPL de-aggregation (src/kpl, decoding with the generated AggregatedRecord decoder) against
// aws-kinesis-agg's deaggregateSync on the same aggregates. aws-kinesis-agg takes Lambda-shaped
// records (base64 data) and answers base64 data, so it is timed with that conversion in and out
// (what a caller pays) and once with the base64 made beforehand (its de-aggregation alone).

interface AwsKinesisAgg {
  readonly RecordAggregator: new () => {
    addUserRecord(record: { partitionKey: string; data: Buffer }): void
    build(): { partitionKey: string; data: Buffer } | undefined
  }
  deaggregateSync(
    record: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (error: Error | undefined, records?: ReadonlyArray<{ readonly data: string }>) => void
  ): void
}
const agg = createRequire(import.meta.url)("aws-kinesis-agg") as AwsKinesisAgg

const aggregates = Number(process.env.BENCH_KPL_AGGREGATES ?? 2_000)
const perAggregate = 50
const sequenceNumber = "49590338271490256608559692538361571095921575989136588898"

const events = encodeEvents(aggregates * perAggregate)
const built = Array.from({ length: aggregates }, (_, a) => {
  const aggregator = new agg.RecordAggregator()
  for (let i = 0; i < perAggregate; i++) {
    const k = a * perAggregate + i
    aggregator.addUserRecord({ partitionKey: events.partitionKeys[k]!, data: Buffer.from(events.bytes[k]!) })
  }
  return Uint8Array.from(aggregator.build()!.data)
})
const base64 = built.map((data) => Buffer.from(data).toString("base64"))
const userRecords = aggregates * perAggregate

const awsDeaggregate = (data: string, decodeData: boolean): number => {
  let count = 0
  agg.deaggregateSync({ data, partitionKey: "carrier", sequenceNumber }, true, (error, records) => {
    if (error !== undefined && error !== null) throw error
    for (const r of records!) count += decodeData ? Buffer.from(r.data, "base64").byteLength : r.data.length
  })
  return count
}

/** aws-kinesis-agg on every aggregate; with `convert`, base64 in and out are part of the run. */
const awsCase = (id: string, name: string, convert: boolean) => ({
  id,
  name,
  records: userRecords,
  run: () => {
    let check = 0
    for (let i = 0; i < built.length; i++) {
      check += awsDeaggregate(convert ? Buffer.from(built[i]!).toString("base64") : base64[i]!, convert)
    }
    return check
  }
})

const results = measureInterleaved([
  {
    id: "shardline",
    name: "shardline deaggregate (generated decoder)",
    records: userRecords,
    run: () => {
      let check = 0
      for (const data of built) {
        const users = deaggregate({ data, partitionKey: "carrier", sequenceNumber })
        if (Either.isRight(users)) for (const u of users.right) check += u.data.byteLength
      }
      return check
    }
  },
  awsCase("awsWithBase64", "aws-kinesis-agg deaggregateSync, base64 in and out", true),
  awsCase("awsAlone", "aws-kinesis-agg deaggregateSync, base64 made beforehand", false)
], 5, 1)

console.log(`KPL de-aggregation: node ${process.version}, ${os.cpus().length} cpus, ${aggregates} aggregates x ${perAggregate} clickstream events`)
console.log(renderTable(results, rateOf(results[0]!)).replace("ratio vs fromBinary", "ratio vs shardline"))
console.log("")
console.log(`shardline / aws-kinesis-agg: ${(rateOf(results[0]!) / rateOf(results[1]!)).toFixed(2)}x with its base64 conversion, ${(rateOf(results[0]!) / rateOf(results[2]!)).toFixed(2)}x without`)
console.log(JSON.stringify({
  bench: "shardline/kpl",
  cases: results.map((r) => ({ id: r.id, recordsPerSecond: Math.round(rateOf(r)) })),
  checksum: blackholeValue()
}))
