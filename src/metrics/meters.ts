import { Clock, Effect, Metric } from "effect"
import { add, families } from "./definitions.js"

/**
 * What the core records, one meter per shard reader, run, checkpointer or coordinator: each
 * builds its series once, so the hot path only updates them (per response or batch, never per record).
 */

/** A shard reader's meter (labels stream, shard). */
export const shardMeter = (streamName: string, shardId: string) => {
  const labels = [streamName, shardId]
  const recordsIn = families.recordsIn.series(labels)
  const bytesIn = families.bytesIn.series(labels)
  const behind = families.millisBehindLatest.series(labels)
  const lag = families.arrivalLag.series(labels)
  return {
    getRecordsCall: Metric.increment(families.getRecordsCalls.series(labels)),
    subscribeCall: Metric.increment(families.subscribeCalls.series(labels)),
    /** One GetRecords response or fan-out event: its records, bytes, lag, and the arrival time of its newest record. */
    response: (records: number, bytes: number, millisBehindLatest: number | undefined, newestArrival: Date | undefined): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.all([
          add(recordsIn, records),
          add(bytesIn, bytes),
          millisBehindLatest === undefined ? Effect.void : Metric.set(behind, millisBehindLatest),
          records === 0
            ? Metric.set(lag, 0)
            : newestArrival === undefined ? Effect.void : Metric.set(lag, Math.max(0, now - newestArrival.getTime()))
        ], { discard: true })),
    /** A closed shard read to its end is behind by nothing. */
    ended: Effect.all([Metric.set(behind, 0), Metric.set(lag, 0)], { discard: true })
  }
}

/** What the retry policy saw of a failed Kinesis call. */
interface FailedCall {
  readonly streamName?: string | undefined
  readonly shardId?: string | undefined
  /** Undefined for an expired iterator: always a GetRecords. */
  readonly operation?: string
}

/** Throttles as they are seen, and retries by error class as they start. */
export const retryMeter = {
  throttled: (error: FailedCall): Effect.Effect<void> =>
    Metric.increment(families.throttles.series([error.streamName ?? "", error.shardId ?? "", error.operation ?? "GetRecords"])),
  retried: (error: FailedCall, errorClass: string): Effect.Effect<void> =>
    Metric.increment(families.retries.series([error.streamName ?? "", error.shardId ?? "", error.operation ?? "GetRecords", errorClass]))
}

/** A run's meter (labels application, stream). */
export const pipelineMeter = (applicationName: string, streamName: string) => {
  const labels = [applicationName, streamName]
  const batches = families.batches.series(labels)
  const sinkRecords = families.sinkRecords.series(labels)
  const processing = families.batchProcessing.series(labels)
  const scheduling = families.batchSchedulingDelay.series(labels)
  const total = families.batchTotalDelay.series(labels)
  const filtered = families.filtered.series(labels)
  const decodeErrors = families.decodeErrors.series(labels)
  return {
    /** A batch done: its times (millis) from closing to processing start to done, the records the sink took. */
    batchDone: (closedAt: number, startedAt: number, doneAt: number, records: number): Effect.Effect<void> =>
      Effect.all([
        Metric.increment(batches),
        add(sinkRecords, records),
        Metric.update(scheduling, Math.max(0, startedAt - closedAt) / 1000),
        Metric.update(processing, Math.max(0, doneAt - startedAt) / 1000),
        Metric.update(total, Math.max(0, doneAt - closedAt) / 1000)
      ], { discard: true }),
    filtered: (count: number) => add(filtered, count),
    decodeErrors: (count: number) => add(decodeErrors, count),
    /** Dead letters sent, counted by the stream they came from and their kind. */
    deadLetters: (letters: ReadonlyArray<{ readonly streamName: string; readonly reason: { readonly kind: string } }>) =>
      Effect.suspend(() => {
        const counts = new Map<string, { readonly streamName: string; readonly kind: string; count: number }>()
        for (const letter of letters) {
          const id = `${letter.streamName}\u0000${letter.reason.kind}`
          const entry = counts.get(id)
          if (entry === undefined) counts.set(id, { streamName: letter.streamName, kind: letter.reason.kind, count: 1 })
          else entry.count++
        }
        return Effect.forEach(counts.values(), (c) => add(families.deadLetters.series([applicationName, c.streamName, c.kind]), c.count), { discard: true })
      }),
    sinkCall: Metric.increment(families.sinkCalls.series(labels)),
    sinkFailure: Metric.increment(families.sinkFailures.series(labels))
  }
}

/** A checkpointer's meter (labels application, stream, and worker with leases). */
export const checkpointMeter = (applicationName: string, streamName: string, workerId: string | undefined) => {
  const writes = families.checkpointWrites.series([applicationName, streamName, workerId])
  return {
    written: Metric.increment(writes),
    failed: (reason: "error" | "lease_lost") => Metric.increment(families.checkpointFailures.series([applicationName, streamName, workerId, reason]))
  }
}

/** A lease coordinator's meter (labels application, stream, worker). */
export const leaseMeter = (applicationName: string, streamName: string, workerId: string) => {
  const labels = [applicationName, streamName, workerId]
  const held = families.leasesHeld.series(labels)
  return {
    held: (count: number) => Metric.set(held, count),
    taken: Metric.increment(families.leasesTaken.series(labels)),
    lost: (reason: "lost" | "expired" | "shard_gone") => Metric.increment(families.leasesLost.series([...labels, reason]))
  }
}
