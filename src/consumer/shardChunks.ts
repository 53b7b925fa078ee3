import type { _Record } from "@aws-sdk/client-kinesis"
import { Effect, Queue, Stream, Take } from "effect"
import { Kinesis, type KinesisApi, type KinesisError } from "../kinesis/index.js"
import { makePrefetchBudget, type PrefetchBudget } from "./PrefetchBudget.js"
import type { ShardPosition } from "./ShardPosition.js"
import type { KinesisRecord, ShardChunk } from "./ShardReader.js"

/** What a shard reader needs to hand chunks on. */
export interface ChunkSink {
  readonly budget: PrefetchBudget
  readonly emit: (chunk: ShardChunk) => Effect.Effect<unknown>
}

/**
 * A shard reader as a stream of chunks: `read` runs on a fiber of the stream's scope and emits
 * into an unbounded queue (the prefetch budget bounds what it puts in; a chunk taken from the
 * stream gives its room back). Its failure ends the stream with that failure; interrupting the
 * stream interrupts the reader and the call in flight.
 */
export const shardChunks = (
  settings: { readonly maxPrefetchRecords: number; readonly maxPrefetchBytes: number },
  read: (kinesis: KinesisApi, sink: ChunkSink) => Effect.Effect<void, KinesisError>
): Stream.Stream<ShardChunk, KinesisError, Kinesis> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const kinesis = yield* Kinesis
      const budget = yield* makePrefetchBudget(settings.maxPrefetchRecords, settings.maxPrefetchBytes)
      // Unbounded on purpose: the budget bounds what the reader puts in.
      const out = yield* Queue.unbounded<Take.Take<ShardChunk, KinesisError>>()
      const emit = (chunk: ShardChunk) => Queue.offer(out, Take.of(chunk))
      yield* read(kinesis, { budget, emit }).pipe(
        Effect.matchCauseEffect({
          onFailure: (cause) => Queue.offer(out, Take.failCause(cause)),
          onSuccess: () => Queue.offer(out, Take.end)
        }),
        Effect.forkScoped
      )
      return Stream.fromQueue(out).pipe(
        Stream.flattenTake,
        Stream.tap((chunk) => budget.release(chunk.records.length, chunk.bytes))
      )
    })
  )

const emptyBytes = new Uint8Array(0)

/** A record as the service answered it, as shardline carries it. */
export const toRecord = (shardId: string, r: _Record): KinesisRecord => ({
  shardId,
  sequenceNumber: r.SequenceNumber ?? "",
  partitionKey: r.PartitionKey ?? "",
  approximateArrivalTimestamp: r.ApproximateArrivalTimestamp,
  data: r.Data ?? emptyBytes
})

/**
 * For a reader starting at a checkpoint inside a KPL aggregate: marks the first records read, when
 * the first is that aggregate, with how many of its user records are done. Call it with the first
 * records the reader gets, once.
 */
export const resumeInside = (start: ShardPosition) => {
  const inside = start.type === "AT_SEQUENCE_NUMBER" && (start.subSequenceNumber ?? 0) > 0 ? start : undefined
  return (records: Array<KinesisRecord>): void => {
    const first = records[0]
    if (inside !== undefined && first !== undefined && first.sequenceNumber === inside.sequenceNumber) {
      records[0] = { ...first, skipUserRecords: inside.subSequenceNumber }
    }
  }
}

/**
 * A closed shard the service no longer knows (its records outlived the retention period) is read
 * as ended, as the KCL does: the call answers `gone` instead of failing. For an open shard, or
 * when the reader does not know, ResourceNotFound stays an error.
 */
export const whenGone = <B>(target: { readonly closed?: boolean | undefined }, gone: B) =>
<A, E extends KinesisError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A | B, E, R> =>
  Effect.catchIf(effect, (error: E) => error._tag === "KinesisResourceNotFound" && target.closed === true, () => Effect.succeed(gone))
