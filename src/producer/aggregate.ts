import { create, toBinary } from "@bufbuild/protobuf"
import { createHash } from "node:crypto"
import { AggregatedRecordSchema, RecordSchema } from "../../gen/shardline/kpl/v1/aggregated_record_pb.js"
import { utf8Length } from "../kinesis/limits.js"

/** The KPL's magic prefix and MD5 trailer around the protobuf body. */
const MAGIC = Uint8Array.from([0xf3, 0x89, 0x9a, 0xc2])
const DIGEST_LENGTH = 16
/** Magic plus trailer: an empty aggregate's size. */
export const FRAME_BYTES = MAGIC.length + DIGEST_LENGTH

const varintSize = (n: number): number => {
  let size = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/** A length-delimited field of `length` bytes with a one-byte tag. */
const fieldSize = (length: number): number => 1 + varintSize(length) + length


/**
 * One user record for an aggregate.
 *
 * @example
 * ```ts
 * const entry: UserEntry = { partitionKey: "user-1", explicitHashKey: undefined, data: Uint8Array.of(1, 2) }
 * ```
 */
export interface UserEntry {
  readonly partitionKey: string
  readonly explicitHashKey: string | undefined
  readonly data: Uint8Array
}

/**
 * Packs user records into one KPL aggregate, keeping its exact encoded size as records are added,
 * so a caller can stop before a limit. Keys go into the tables once each.
 */
export class AggregateBuilder {
  private readonly keys = new Map<string, number>()
  private readonly hashKeys = new Map<string, number>()
  private readonly records: Array<{ readonly key: number; readonly hashKey: number | undefined; readonly data: Uint8Array }> = []
  private bodyBytes = 0

  /** How many user records are in. */
  get count(): number {
    return this.records.length
  }

  /** Size of the aggregate's Kinesis data (magic, body, trailer) as it stands. */
  get bytes(): number {
    return FRAME_BYTES + this.bodyBytes
  }

  /** Size of the aggregate's data if `entry` were added. */
  bytesWith(entry: UserEntry): number {
    return FRAME_BYTES + this.bodyBytes + this.growth(entry)
  }

  add(entry: UserEntry): void {
    this.bodyBytes += this.growth(entry)
    let key = this.keys.get(entry.partitionKey)
    if (key === undefined) {
      key = this.keys.size
      this.keys.set(entry.partitionKey, key)
    }
    let hashKey: number | undefined
    if (entry.explicitHashKey !== undefined) {
      hashKey = this.hashKeys.get(entry.explicitHashKey)
      if (hashKey === undefined) {
        hashKey = this.hashKeys.size
        this.hashKeys.set(entry.explicitHashKey, hashKey)
      }
    }
    this.records.push({ key, hashKey, data: entry.data })
  }

  /** The aggregate's bytes: magic F3 89 9A C2, the `AggregatedRecord`, the MD5 of the latter. */
  encode(): Uint8Array {
    const body = toBinary(
      AggregatedRecordSchema,
      create(AggregatedRecordSchema, {
        partitionKeyTable: [...this.keys.keys()],
        explicitHashKeyTable: [...this.hashKeys.keys()],
        records: this.records.map((r) =>
          create(RecordSchema, {
            partitionKeyIndex: BigInt(r.key),
            ...(r.hashKey === undefined ? {} : { explicitHashKeyIndex: BigInt(r.hashKey) }),
            data: r.data
          })
        )
      })
    )
    const out = new Uint8Array(FRAME_BYTES + body.length)
    out.set(MAGIC, 0)
    out.set(body, MAGIC.length)
    out.set(createHash("md5").update(body).digest(), MAGIC.length + body.length)
    return out
  }

  private growth(entry: UserEntry): number {
    let grow = 0
    let key = this.keys.get(entry.partitionKey)
    if (key === undefined) {
      key = this.keys.size
      grow += fieldSize(utf8Length(entry.partitionKey))
    }
    let record = 1 + varintSize(key) + fieldSize(entry.data.length)
    if (entry.explicitHashKey !== undefined) {
      let hashKey = this.hashKeys.get(entry.explicitHashKey)
      if (hashKey === undefined) {
        hashKey = this.hashKeys.size
        grow += fieldSize(utf8Length(entry.explicitHashKey))
      }
      record += 1 + varintSize(hashKey)
    }
    return grow + fieldSize(record)
  }
}

/**
 * Aggregates user records into one KPL record (magic, protobuf `AggregatedRecord`, MD5 trailer),
 * the format `deaggregate`, the KCL and aws-kinesis-agg read.
 *
 * @example
 * ```ts
 * const data = aggregateRecords([{ partitionKey: "k", explicitHashKey: undefined, data: Uint8Array.of(1) }])
 * deaggregate({ data, partitionKey: "k", sequenceNumber: "1" }) // Right([{ partitionKey: "k", data: [1], ... }])
 * ```
 */
export const aggregateRecords = (records: Iterable<UserEntry>): Uint8Array => {
  const builder = new AggregateBuilder()
  for (const record of records) builder.add(record)
  return builder.encode()
}
