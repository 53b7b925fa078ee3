import type { Duration } from "effect"
import type { Purchase } from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { ClickstreamEventCodec } from "../../gen/shardline/examples/clickstream/v1/clickstream_shardline.js"
import { type Batch, Pipeline } from "../../src/index.js"

/** Orders and their sum in minor units (cents) for one currency. */
export interface CurrencyTotal {
  readonly orders: number
  readonly totalMinor: bigint
}

/**
 * The purchases in the clickstream, one record per purchase, with the Kinesis position of the
 * event it came from.
 */
export const purchases = (options: {
  readonly streamName: string
  readonly batchInterval?: Duration.DurationInput
  readonly maxBatchRecords?: number
}) =>
  Pipeline.fromKinesis({
    streamName: options.streamName,
    applicationName: "clickstream-revenue",
    codec: ClickstreamEventCodec,
    batchInterval: options.batchInterval ?? "1 second",
    ...(options.maxBatchRecords === undefined ? {} : { maxBatchRecords: options.maxBatchRecords })
  }).pipe(Pipeline.flatMap((event) => (event.event.case === "purchase" ? [event.event.value] : [])))

const add = (totals: Map<string, CurrencyTotal>, purchase: Purchase) => {
  const total = totals.get(purchase.currency) ?? { orders: 0, totalMinor: 0n }
  totals.set(purchase.currency, { orders: total.orders + 1, totalMinor: total.totalMinor + purchase.totalMinor })
}

/** Revenue per currency over plain purchases: the reference a pipeline's result is checked against. */
export const revenueOf = (all: Iterable<Purchase>): Map<string, CurrencyTotal> => {
  const totals = new Map<string, CurrencyTotal>()
  for (const purchase of all) add(totals, purchase)
  return totals
}

/**
 * Revenue per currency as a sink keeps it. Pipelines deliver at least once: a batch that went
 * through the sink may come again after a crash, before its checkpoint was written. The ledger
 * keeps, with the totals, the last sequence number it applied per shard, and skips what it has
 * seen, so every purchase counts once. (In a database, write both in one transaction.)
 */
export class RevenueLedger {
  readonly totals = new Map<string, CurrencyTotal>()
  private readonly applied = new Map<string, bigint>()

  apply(batch: Batch<Purchase>): void {
    for (const record of batch.records) {
      const sequence = BigInt(record.sequenceNumber)
      const last = this.applied.get(record.shardId)
      if (last !== undefined && sequence <= last) continue
      add(this.totals, record.value)
      this.applied.set(record.shardId, sequence)
    }
  }
}

/** The same sums without the sequence numbers: correct only if no batch ever comes twice. */
export class NaiveRevenueLedger {
  readonly totals = new Map<string, CurrencyTotal>()

  apply(batch: Batch<Purchase>): void {
    for (const record of batch.records) add(this.totals, record.value)
  }
}
