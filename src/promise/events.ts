import type { Checkpoint } from "../checkpoint/index.js"
import type { BatchCloseReason } from "../pipeline/Batch.js"
import type { PipelineSummary } from "../pipeline/run.js"
import type { SinkFailed } from "./errors.js"

/** The consumer verified the stream, loaded its positions (or joined the lease table) and is reading. */
export interface StartedEvent {
  readonly streamName: string
  readonly applicationName: string
}

/** A batch is done: the sink took it (records it gave up on went to the dead letters) and its positions are checkpointed. */
export interface BatchEvent {
  readonly batchId: number
  /** Records handed to the sink. */
  readonly records: number
  /** Records read from Kinesis into the batch (before KPL aggregates were expanded). */
  readonly sourceRecords: number
  /** The positions checkpointed, by shard id. */
  readonly checkpoints: ReadonlyMap<string, Checkpoint>
  readonly closedBy: BatchCloseReason
  /** Sink calls made for the batch (more than 1 after retries, bisection, or with `parallelism`). */
  readonly sinkCalls: number
  /** Records of the batch sent to the dead letters (undecodable, or given up by the sink). */
  readonly deadLettered: number
  /** Records the `filter` skipped. */
  readonly filtered: number
}

/** One sink call rejected; `onSinkError` decides what happens next (retry, split, dead letter, or the run fails). */
export interface SinkErrorEvent {
  readonly batchId: number
  /** Records in the call that failed. */
  readonly records: number
  /** Sink calls made for this batch so far, this one included. */
  readonly sinkCalls: number
  readonly error: SinkFailed
}

/** A server the consumer runs (the dashboard, the metrics endpoint) listens. */
export interface ListeningEvent {
  readonly what: "dashboard" | "metrics"
  readonly url: string
}

/** What each consumer event carries. */
export interface ConsumerEvents {
  readonly started: StartedEvent
  readonly listening: ListeningEvent
  readonly batch: BatchEvent
  readonly sinkError: SinkErrorEvent
  /** The run failed (the same error `done` rejects with). */
  readonly error: unknown
  /** The run ended without failing: stopped, or every shard read to its end. */
  readonly stopped: PipelineSummary
}

export type ConsumerEventName = keyof ConsumerEvents

/** A listener of one event. */
export type Listener<K extends ConsumerEventName> = (payload: ConsumerEvents[K]) => void

/**
 * A small typed emitter. Listeners run synchronously on the consumer's fiber, so keep them short;
 * one that throws is reported on stderr and otherwise ignored (it never stops the consumer).
 */
export class Emitter {
  private readonly listeners = new Map<ConsumerEventName, Set<(payload: never) => void>>()

  on<K extends ConsumerEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => this.off(event, listener)
  }

  once<K extends ConsumerEventName>(event: K, listener: Listener<K>): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  off<K extends ConsumerEventName>(event: K, listener: Listener<K>): void {
    this.listeners.get(event)?.delete(listener)
  }

  count(event: ConsumerEventName): number {
    return this.listeners.get(event)?.size ?? 0
  }

  emit<K extends ConsumerEventName>(event: K, payload: ConsumerEvents[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        ;(listener as Listener<K>)(payload)
      } catch (error) {
        console.error(`shardline: a "${event}" listener threw; ignored`, error)
      }
    }
  }
}
