import type { CreateStreamCommandInput, PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import { Context, Effect, Layer } from "effect"
import { Kinesis, type KinesisApi, type KinesisError, type KinesisOperation } from "../kinesis/index.js"
import { MAX_REQUEST_BYTES } from "../kinesis/limits.js"
import {
  ARN_PREFIX,
  at,
  between,
  invalid,
  nameOf,
  notFound,
  outOfRange,
  refuse,
  validation,
  withStream
} from "./memoryCalls.js"
import {
  append,
  decodeToken,
  describeShard,
  encodeToken,
  findShard,
  HASH_KEY_SPACE,
  hashKeyOf,
  isListed,
  makeStream,
  merge,
  type MemoryShard,
  type MemoryStream,
  openShardFor,
  split
} from "./memoryModel.js"
import { makeFanOut } from "./memoryFanOut.js"
import { makeShardMeter, type ShardMeter, type ThroughputLimits } from "./memoryLimits.js"
import { makeReads } from "./memoryReads.js"

/** Streams that exist from the start. */
export interface MemoryKinesisOptions {
  readonly streams?: ReadonlyArray<{
    readonly name: string
    readonly shardCount: number
    /** How long records stay readable (default 24, as in Kinesis). */
    readonly retentionHours?: number
    /**
     * The largest record's data the stream takes, in KiB: 1024 (1 MiB, Kinesis's default) to
     * 10240 (10 MiB), as CreateStream's `MaxRecordSizeInKiB`. Bigger puts fail with ValidationException.
     */
    readonly maxRecordSizeInKiB?: number
  }>
  /**
   * Enforce Kinesis's per-shard quotas (5 GetRecords calls/s and 2 MiB/s read; 1000 records/s and
   * 1 MiB/s written), failing with ProvisionedThroughputExceeded as Kinesis does: a whole call for
   * reads and PutRecord, single entries for PutRecords. Off by default, like the emulators.
   */
  readonly throughputLimits?: ThroughputLimits
}

/** An in-memory Kinesis and the knobs real Kinesis does not offer. */
export interface MemoryKinesisHandle {
  readonly api: KinesisApi
  /** Creates an ACTIVE stream (the same as `api.createStream`, with a shard count and retention). */
  readonly createStream: (
    name: string,
    shardCount: number,
    retentionHours?: number
  ) => Effect.Effect<void, KinesisError>
  /**
   * Sets a stream's record size limit in KiB (1024 to 10240), as UpdateMaxRecordSize does; takes
   * effect for the next put. An unknown stream or a value out of range is a defect.
   */
  readonly updateMaxRecordSize: (streamName: string, maxRecordSizeInKiB: number) => Effect.Effect<void>
  /**
   * Closes an open shard and opens two children that split its hash range at `newStartingHashKey`
   * (decimal; the middle when left out). Answers the children's ids, lower range first.
   */
  readonly splitShard: (
    streamName: string,
    shardId: string,
    newStartingHashKey?: string
  ) => Effect.Effect<readonly [string, string], KinesisError>
  /** Closes two adjacent open shards and opens one child over both ranges. Answers the child's id. */
  readonly mergeShards: (
    streamName: string,
    shardId: string,
    adjacentShardId: string
  ) => Effect.Effect<string, KinesisError>
}

const NEXT_TOKEN_TTL_MS = 5 * 60 * 1000
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/
const DECIMAL = /^\d{1,39}$/
/** Record size limits in KiB (UpdateMaxRecordSize's range), and a PutRecords request's bytes. */
const MIN_RECORD_KIB = 1024
const MAX_RECORD_KIB = 10240

type Put =
  | { readonly ShardId: string; readonly SequenceNumber: string }
  | { readonly ErrorCode: "ProvisionedThroughputExceededException"; readonly ErrorMessage: string }

const hashKeyFor = (entry: PutRecordsRequestEntry): bigint | undefined => {
  if (entry.ExplicitHashKey === undefined) return hashKeyOf(entry.PartitionKey ?? "")
  if (!DECIMAL.test(entry.ExplicitHashKey)) return undefined
  const key = BigInt(entry.ExplicitHashKey)
  return key < HASH_KEY_SPACE ? key : undefined
}

/** Validates every entry before appending any, so a refused request writes nothing. */
const put = (
  operation: KinesisOperation,
  stream: MemoryStream,
  entries: ReadonlyArray<PutRecordsRequestEntry>,
  now: number,
  meter: ShardMeter
): Effect.Effect<Array<Put>, KinesisError> => {
  const target = { streamName: stream.name }
  const shards: Array<MemoryShard> = []
  // The stream's limit counts the data; a request the data plus partition keys (AWS's wording).
  const maxRecordBytes = stream.maxRecordSizeInKiB * 1024
  let requestBytes = 0
  for (const [i, entry] of entries.entries()) {
    const key = entry.PartitionKey ?? ""
    if (key.length < 1 || key.length > 256) {
      return validation(operation, target, "partitionKey", key, "Member must have length between 1 and 256")
    }
    const bytes = entry.Data?.byteLength ?? 0
    if (bytes > maxRecordBytes) {
      // As Kinesis answers: the whole request fails, however many entries were fine.
      const field = operation === "PutRecords" ? `records.${i + 1}.member.data` : "data"
      return validation(operation, target, field, `${bytes} bytes`, `Member must have length less than or equal to ${maxRecordBytes}`)
    }
    requestBytes += bytes + Buffer.byteLength(key, "utf8")
    const hashKey = hashKeyFor(entry)
    if (hashKey === undefined) {
      return invalid(operation, target, `Invalid ExplicitHashKey ${entry.ExplicitHashKey}: not in [0, 2^128-1].`)
    }
    const shard = openShardFor(stream, hashKey)
    if (shard === undefined) return refuse(operation, target, "InternalFailure", "No open shard covers the key.")
    shards.push(shard)
  }
  if (operation === "PutRecords" && requestBytes > MAX_REQUEST_BYTES) {
    return invalid(operation, target, `Records size exceeds ${MAX_REQUEST_BYTES / 1024 / 1024} MiB limit`)
  }
  return Effect.succeed(entries.map((entry, i): Put => {
    const shard = shards[i]!
    const data = entry.Data ?? new Uint8Array()
    const partitionKey = entry.PartitionKey ?? ""
    if (meter.tryWrite(shard.key, now, data, partitionKey)) {
      // Over the shard's write quota: this entry fails alone, as in Kinesis.
      return { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: `Rate exceeded for ${shard.key}.` }
    }
    const record = append(stream, shard, partitionKey, data, now)
    return { ShardId: shard.shardId, SequenceNumber: record.sequenceNumber }
  }))
}

const make = (options: MemoryKinesisOptions = {}): Effect.Effect<MemoryKinesisHandle> =>
  Effect.gen(function* () {
    const streams = new Map<string, MemoryStream>()
    const meter = makeShardMeter(options.throughputLimits)
    const fanOut = makeFanOut(streams)

    const createWithRetention = (input: CreateStreamCommandInput, retentionHours = 24) =>
      at((now) => {
        const name = input.StreamName ?? ""
        const target = { streamName: name }
        const shardCount = input.ShardCount ?? 4
        if (!STREAM_NAME.test(name)) {
          return validation("CreateStream", target, "streamName", name, "Member must match [a-zA-Z0-9_.-]{1,128}")
        }
        if (outOfRange(shardCount, 1, 100_000)) {
          return validation("CreateStream", target, "shardCount", shardCount, between(1, 100_000))
        }
        if (outOfRange(retentionHours, 24, 8760)) {
          return validation("CreateStream", target, "retentionPeriodHours", retentionHours, between(24, 8760))
        }
        const maxRecordSizeInKiB = input.MaxRecordSizeInKiB ?? MIN_RECORD_KIB
        if (outOfRange(maxRecordSizeInKiB, MIN_RECORD_KIB, MAX_RECORD_KIB)) {
          return validation("CreateStream", target, "maxRecordSizeInKiB", maxRecordSizeInKiB, between(MIN_RECORD_KIB, MAX_RECORD_KIB))
        }
        if (streams.has(name)) {
          return refuse("CreateStream", target, "ResourceInUseException", `Stream ${name} already exists.`)
        }
        streams.set(name, makeStream(name, shardCount, now, ARN_PREFIX, retentionHours, maxRecordSizeInKiB))
        return Effect.void
      })
    const createStream: KinesisApi["createStream"] = (input) => createWithRetention(input)

    const describeStreamSummary: KinesisApi["describeStreamSummary"] = (input) =>
      at(() =>
        withStream(streams, "DescribeStreamSummary", nameOf(input), { streamName: nameOf(input) }, (stream) =>
          Effect.succeed({
            StreamDescriptionSummary: {
              StreamName: stream.name,
              StreamARN: stream.arn,
              StreamStatus: "ACTIVE",
              RetentionPeriodHours: stream.retentionHours,
              StreamCreationTimestamp: new Date(stream.createdAt),
              EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
              EncryptionType: "NONE",
              OpenShardCount: stream.shards.filter((s) => s.endingSeq === undefined).length,
              ConsumerCount: fanOut.consumerCount(stream.arn),
              MaxRecordSizeInKiB: stream.maxRecordSizeInKiB
            }
          }))
      )

    const listShards: KinesisApi["listShards"] = (input, target) =>
      at((now) => {
        const where = target ?? { streamName: input.StreamName }
        if (input.StreamName !== undefined && input.NextToken !== undefined) {
          return invalid("ListShards", where, "NextToken and StreamName cannot be provided together.")
        }
        if (outOfRange(input.MaxResults, 1, 10_000)) {
          return validation("ListShards", where, "maxResults", input.MaxResults, between(1, 10_000))
        }
        let name = nameOf(input)
        let offset = 0
        if (input.NextToken !== undefined) {
          const token = decodeToken("ListShards", input.NextToken)
          if (token === undefined) return invalid("ListShards", where, "Invalid NextToken.")
          const [tokenName, tokenOffset, issued] = token as [string, number, number]
          if (now - issued > NEXT_TOKEN_TTL_MS) {
            return refuse("ListShards", where, "ExpiredNextTokenException", "NextToken has expired.")
          }
          name = tokenName
          offset = tokenOffset
        }
        return withStream(streams, "ListShards", name, where, (stream) => {
          const after = input.ExclusiveStartShardId
          const all = stream.shards.filter((s) => isListed(stream, s, now) && (after === undefined || s.shardId > after))
          const end = offset + (input.MaxResults ?? 1000)
          return Effect.succeed({
            Shards: all.slice(offset, end).map(describeShard),
            ...(end < all.length ? { NextToken: encodeToken("ListShards", [stream.name, end, now]) } : {})
          })
        })
      })

    const putRecord: KinesisApi["putRecord"] = (input) =>
      at((now) =>
        withStream(streams, "PutRecord", nameOf(input), { streamName: nameOf(input) }, (stream) =>
          Effect.flatMap(put("PutRecord", stream, [input], now, meter), ([result]) =>
            "ErrorCode" in result!
              ? refuse("PutRecord", { streamName: stream.name }, result.ErrorCode, result.ErrorMessage)
              : Effect.succeed(result!)))
      )

    const putRecords: KinesisApi["putRecords"] = (input) =>
      at((now) => {
        const records = input.Records ?? []
        const target = { streamName: nameOf(input) }
        if (records.length < 1 || records.length > 500) {
          return validation("PutRecords", target, "records", `${records.length} entries`, "Member must have 1 to 500")
        }
        return withStream(streams, "PutRecords", nameOf(input), target, (stream) =>
          Effect.map(put("PutRecords", stream, records, now, meter), (Records) => ({
            FailedRecordCount: Records.filter((r) => "ErrorCode" in r).length,
            Records
          })))
      })

    /** Looks the stream and shard up (ResourceNotFound when absent) and continues with them at the clock's time. */
    const withShard = <A>(
      operation: KinesisOperation,
      streamName: string,
      shardId: string,
      f: (stream: MemoryStream, shard: MemoryShard, now: number) => Effect.Effect<A, KinesisError>
    ) =>
      at((now) => {
        const target = { streamName, shardId }
        return withStream(streams, operation, streamName, target, (stream) => {
          const shard = findShard(stream, shardId)
          if (shard === undefined) return notFound(operation, target, `Shard ${shardId} in stream ${streamName}`)
          return f(stream, shard, now)
        })
      })

    const splitShard: MemoryKinesisHandle["splitShard"] = (streamName, shardId, newStartingHashKey) =>
      withShard("SplitShard", streamName, shardId, (stream, shard, now) => {
        const target = { streamName, shardId }
        if (newStartingHashKey !== undefined && !DECIMAL.test(newStartingHashKey)) {
          return invalid("SplitShard", target, `Invalid NewStartingHashKey ${newStartingHashKey}.`)
        }
        const key = newStartingHashKey === undefined ? undefined : BigInt(newStartingHashKey)
        const children = split(stream, shard, key, now)
        return typeof children === "string"
          ? invalid("SplitShard", target, children)
          : Effect.succeed([children[0].shardId, children[1].shardId] as const)
      })

    const mergeShards: MemoryKinesisHandle["mergeShards"] = (streamName, shardId, adjacentShardId) =>
      withShard("MergeShards", streamName, shardId, (stream, shard, now) => {
        const target = { streamName, shardId }
        const adjacent = findShard(stream, adjacentShardId)
        if (adjacent === undefined) {
          return notFound("MergeShards", target, `Shard ${adjacentShardId} in stream ${streamName}`)
        }
        const child = merge(stream, shard, adjacent, now)
        return typeof child === "string" ? invalid("MergeShards", target, child) : Effect.succeed(child.shardId)
      })

    const api: KinesisApi = {
      createStream,
      describeStreamSummary,
      listShards,
      ...makeReads(streams, meter),
      putRecord,
      putRecords,
      splitShard: (input) =>
        Effect.asVoid(
          input.NewStartingHashKey === undefined
            ? invalid("SplitShard", { streamName: nameOf(input) }, "NewStartingHashKey is required.")
            : splitShard(nameOf(input) ?? "", input.ShardToSplit ?? "", input.NewStartingHashKey)
        ),
      mergeShards: (input) =>
        Effect.asVoid(mergeShards(nameOf(input) ?? "", input.ShardToMerge ?? "", input.AdjacentShardToMerge ?? "")),
      deleteStream: (input) =>
        at(() => {
          const name = nameOf(input)
          return withStream(streams, "DeleteStream", name, { streamName: name }, (stream) =>
            Effect.sync(() => {
              streams.delete(stream.name)
              fanOut.dropStream(stream.arn)
            }))
        }),
      ...fanOut.calls
    }

    const handle: MemoryKinesisHandle = {
      api,
      createStream: (name, shardCount, retentionHours) =>
        createWithRetention({ StreamName: name, ShardCount: shardCount }, retentionHours),
      updateMaxRecordSize: (streamName, maxRecordSizeInKiB) =>
        Effect.sync(() => {
          const stream = streams.get(streamName)
          if (stream === undefined) throw new Error(`updateMaxRecordSize: no stream ${streamName}`)
          if (outOfRange(maxRecordSizeInKiB, MIN_RECORD_KIB, MAX_RECORD_KIB)) {
            throw new RangeError(`updateMaxRecordSize: ${maxRecordSizeInKiB} KiB is not from ${MIN_RECORD_KIB} to ${MAX_RECORD_KIB}`)
          }
          stream.maxRecordSizeInKiB = maxRecordSizeInKiB
        }),
      splitShard,
      mergeShards
    }
    for (const stream of options.streams ?? []) {
      yield* Effect.orDie(createWithRetention({
        StreamName: stream.name,
        ShardCount: stream.shardCount,
        ...(stream.maxRecordSizeInKiB === undefined ? {} : { MaxRecordSizeInKiB: stream.maxRecordSizeInKiB })
      }, stream.retentionHours))
    }
    return handle
  })

/**
 * Kinesis in memory, for fast property tests and `TestClock` tests: MD5 partitioning over evenly
 * split hash ranges, fixed-width increasing sequence numbers, all iterator types, 5-minute iterator
 * expiry, retention and arrival times on Effect's `Clock`, ListShards paging, shard splits and
 * merges, per-stream record size limits (1 MiB by default, up to 10 MiB: `maxRecordSizeInKiB`,
 * CreateStream's `MaxRecordSizeInKiB`, `updateMaxRecordSize`), the 10 MiB PutRecords request and
 * GetRecords answer caps (an answer holds at least one record), and (when asked) the per-shard throughput quotas. Other
 * failures come from `Faults`. The read that drains a closed shard returns its last records with no
 * `NextShardIterator`, and the `ChildShards`. Enhanced fan-out too: consumers (ACTIVE as soon as
 * registered) and SubscribeToShard, which pushes an event each second of `Clock` time, ends after
 * 5 minutes or with a closed shard's last event (no continuation, the children), and refuses a
 * second open subscription of a consumer to a shard with ResourceInUse.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const kinesis = yield* Kinesis
 *   yield* kinesis.putRecord({ StreamName: "clicks", PartitionKey: "u1", Data: new Uint8Array([1]) })
 * }).pipe(Effect.provide(MemoryKinesis.layer({ streams: [{ name: "clicks", shardCount: 2 }] })))
 * ```
 */
export class MemoryKinesis
  extends Context.Tag("shardline/testing/MemoryKinesis")<MemoryKinesis, MemoryKinesisHandle>()
{
  /**
   * A fresh, empty in-memory Kinesis with `options.streams` created (a bad name or count there is a defect).
   *
   * @example
   * ```ts
   * const memory = yield* MemoryKinesis.make({ streams: [{ name: "clicks", shardCount: 1 }] })
   * const [low, high] = yield* memory.splitShard("clicks", "shardId-000000000000")
   * ```
   */
  static readonly make = make

  /** A layer with the in-memory Kinesis as `Kinesis`, and its handle (for `splitShard`) as `MemoryKinesis`. */
  static readonly layer = (options: MemoryKinesisOptions = {}): Layer.Layer<Kinesis | MemoryKinesis> =>
    Layer.effectContext(
      Effect.map(make(options), (handle) => Context.make(MemoryKinesis, handle).pipe(Context.add(Kinesis, handle.api)))
    )
}
