import type { ChildShard, GetShardIteratorCommandInput } from "@aws-sdk/client-kinesis"
import { Effect } from "effect"
import type { KinesisApi, KinesisError, KinesisOperation } from "../kinesis/index.js"
import { at, between, invalid, nameOf, notFound, outOfRange, refuse, validation, withStream } from "./memoryCalls.js"
import type { ShardMeter } from "./memoryLimits.js"
import {
  decodeToken,
  encodeToken,
  findShard,
  firstAtOrAfter,
  type MemoryShard,
  type MemoryStream,
  parseSeq,
  trimHorizon
} from "./memoryModel.js"

const ITERATOR_TTL_MS = 5 * 60 * 1000
/** A GetRecords answer holds at most 10 MiB (and always at least one record when there is one). */
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024

/** Where a read starts, as GetShardIterator names it (SubscribeToShard's StartingPosition maps onto it). */
export type StartInput = Pick<GetShardIteratorCommandInput, "ShardIteratorType" | "StartingSequenceNumber" | "Timestamp">

/** The first seq an iterator (or a subscription, for `operation` SubscribeToShard) of this type reads. */
export const startPosition = (
  input: StartInput,
  stream: MemoryStream,
  shard: MemoryShard,
  now: number,
  operation: KinesisOperation = "GetShardIterator"
): Effect.Effect<number, KinesisError> => {
  const target = { streamName: stream.name, shardId: shard.shardId }
  const type = input.ShardIteratorType
  const given = input.StartingSequenceNumber
  const bySequence = type === "AT_SEQUENCE_NUMBER" || type === "AFTER_SEQUENCE_NUMBER"
  if (bySequence !== (given !== undefined)) {
    return invalid(
      operation,
      target,
      "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or " +
        `(2) TRIM_HORIZON, LATEST or AT_TIMESTAMP and no StartingSequenceNumber. Request specified ${type}.`
    )
  }
  if (given !== undefined) {
    const seq = parseSeq(given)
    const owner = seq === undefined ? undefined : stream.shardOfSeq.get(seq)
    if (seq === undefined || (owner !== undefined && owner !== shard.shardId)) {
      return invalid(operation, target, `StartingSequenceNumber ${given} is invalid for ${shard.shardId}.`)
    }
    return Effect.succeed(type === "AT_SEQUENCE_NUMBER" ? seq : seq + 1)
  }
  switch (type) {
    case "TRIM_HORIZON":
      return Effect.succeed(trimHorizon(stream, shard, now))
    case "LATEST":
      return Effect.succeed(stream.nextSeq)
    case "AT_TIMESTAMP": {
      const time = input.Timestamp?.getTime()
      if (time === undefined || Number.isNaN(time) || time > now) {
        return invalid(operation, target, "AT_TIMESTAMP needs a Timestamp that is not in the future.")
      }
      const first = shard.records.find((r) => r.arrival >= time)
      return Effect.succeed(first?.seq ?? stream.nextSeq)
    }
    default:
      return validation(operation, target, "shardIteratorType", type, "Member must be an iterator type")
  }
}

const iterator = (streamName: string, shardId: string, position: number, now: number) =>
  encodeToken("Iterator", [streamName, shardId, position, now])

/** The children of a closed shard, as a read that ends it answers them. */
export const childShards = (stream: MemoryStream, shard: MemoryShard): Array<ChildShard> =>
  shard.children.flatMap((id) => {
    const child = findShard(stream, id)
    if (child === undefined) return []
    const HashKeyRange = {
      StartingHashKey: child.startingHashKey.toString(),
      EndingHashKey: child.endingHashKey.toString()
    }
    const ParentShards = [child.parentShardId, child.adjacentParentShardId].filter((p) => p !== undefined)
    return [{ ShardId: child.shardId, ParentShards, HashKeyRange }]
  })

/** GetShardIterator and GetRecords over the streams. */
export const makeReads = (
  streams: ReadonlyMap<string, MemoryStream>,
  meter: ShardMeter
): Pick<KinesisApi, "getShardIterator" | "getRecords"> => ({
  getShardIterator: (input) =>
    at((now) => {
      const name = nameOf(input)
      const target = { streamName: name, shardId: input.ShardId }
      return withStream(streams, "GetShardIterator", name, target, (stream) => {
        const shard = findShard(stream, input.ShardId ?? "")
        if (shard === undefined) {
          return notFound("GetShardIterator", target, `Shard ${input.ShardId} in stream ${stream.name}`)
        }
        return Effect.map(startPosition(input, stream, shard, now), (position) => ({
          ShardIterator: iterator(stream.name, shard.shardId, position, now)
        }))
      })
    }),

  getRecords: (input, target) =>
    at((now) => {
      const where = target ?? {}
      const limit = input.Limit ?? 10_000
      if (outOfRange(limit, 1, 10_000)) return validation("GetRecords", where, "limit", limit, between(1, 10_000))
      const given = input.ShardIterator ?? ""
      if (given.length < 1 || given.length > 512) {
        return validation("GetRecords", where, "shardIterator", given, "Member must have length between 1 and 512")
      }
      const token = decodeToken("Iterator", given)
      if (token === undefined) return invalid("GetRecords", where, "Invalid ShardIterator.")
      const [streamName, shardId, position, issued] = token as [string, string, number, number]
      const here = { streamName: where.streamName ?? streamName, shardId: where.shardId ?? shardId }
      if (now - issued > ITERATOR_TTL_MS) {
        return refuse("GetRecords", here, "ExpiredIteratorException", "Iterator expired.")
      }
      return withStream(streams, "GetRecords", streamName, here, (stream) => {
        const shard = findShard(stream, shardId)
        if (shard === undefined) return notFound("GetRecords", here, `Shard ${shardId} in stream ${streamName}`)
        if (meter.readThrottled(shard.key, now)) {
          return refuse("GetRecords", here, "ProvisionedThroughputExceededException", `Rate exceeded for ${shard.key}.`)
        }
        // Records past retention are gone: an iterator pointing at them reads from the trim horizon.
        const start = firstAtOrAfter(shard.records, Math.max(position, trimHorizon(stream, shard, now)))
        let end = start
        let bytes = 0
        while (end < shard.records.length && end - start < limit) {
          const size = shard.records[end]!.data.byteLength
          if (end > start && bytes + size > MAX_RESPONSE_BYTES) break
          bytes += size
          end++
        }
        meter.countRead(shard.key, now, bytes)
        const batch = shard.records.slice(start, end)
        const next = shard.records[start + batch.length]
        const last = batch[batch.length - 1]
        // A closed shard's last read (records or not) ends it: no next iterator, the children instead.
        const ended = shard.endingSeq !== undefined && next === undefined
        return Effect.succeed({
          Records: batch.map((r) => ({
            SequenceNumber: r.sequenceNumber,
            ApproximateArrivalTimestamp: new Date(r.arrival),
            Data: Uint8Array.from(r.data),
            PartitionKey: r.partitionKey
          })),
          ...(ended
            ? { ChildShards: childShards(stream, shard) }
            : { NextShardIterator: iterator(streamName, shardId, last === undefined ? position : last.seq + 1, now) }),
          MillisBehindLatest: next === undefined ? 0 : Math.max(0, now - next.arrival)
        })
      })
    })
})
