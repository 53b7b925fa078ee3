import { Effect } from "effect"
import type { Checkpoint } from "../checkpoint/index.js"
import { integerOption, type InvalidOption } from "../config/index.js"
import type { DeadLetterRecord } from "../deadletter/index.js"
import type { Lease } from "../lease/index.js"

/** A time as a `Date` or epoch milliseconds. */
export type Instant = Date | number

/** A finished batch as the dashboard is fed it (a `BatchDone` plus its timings). */
export interface BatchDoneInput {
  /** Undefined for a batch that did not go to the sink (empty, with `skipEmptyBatches`). */
  readonly batchId: number | undefined
  /** Records handed to the sink (after operators). */
  readonly records: number
  /** Records read from Kinesis into the batch. */
  readonly sourceRecords: number
  /** When the batch started collecting records. */
  readonly openedAt: Instant
  /** When the batch closed (its interval passed, or a size cap was reached). */
  readonly closedAt: Instant
  /** When the sink started on it. */
  readonly startedAt: Instant
  /** When it was done: through the sink, dead letters sent, checkpoint written. */
  readonly finishedAt: Instant
  readonly deadLettered?: number | undefined
  readonly filtered?: number | undefined
  /** The positions written: each shard's row shows it as its last checkpoint. */
  readonly checkpoints?: ReadonlyMap<string, Checkpoint> | undefined
  /** MillisBehindLatest per shard: each shard's row shows it as its lag. */
  readonly millisBehindLatest?: ReadonlyMap<string, number> | undefined
}

/** How a shard is doing, as the table shows it. */
export type ShardStatus = "reading" | "idle" | "ended" | "lost" | "released"

/** An update to one shard's row; fields left out keep their previous value. */
export interface ShardInput {
  readonly shardId: string
  /** The worker holding the shard's lease; `null` clears it. */
  readonly owner?: string | null | undefined
  /** MillisBehindLatest (the KCL's lag metric); `null` clears it. */
  readonly millisBehindLatest?: number | null | undefined
  /** The last checkpoint written: a {@link Checkpoint} or its text. */
  readonly checkpoint?: Checkpoint | string | undefined
  /** Default `reading` for a new row, `ended` once its checkpoint is the shard's end. */
  readonly state?: ShardStatus | undefined
}

/** Something that went wrong, shown in the recent errors list. */
export interface ErrorInput {
  readonly at?: Instant | undefined
  /** The error's tag, e.g. `KinesisThrottled`. */
  readonly tag: string
  readonly message: string
  readonly shardId?: string | undefined
}

/** A record sent to the dead-letter destination. */
export interface DeadLetterInput {
  readonly at?: Instant | undefined
  /** The step that failed, e.g. `decode`, `sink`. */
  readonly kind: string
  readonly shardId: string
  readonly sequenceNumber: string
  readonly reason: string
}

/** One batch on the timeline (times in epoch milliseconds). */
export interface BatchPoint {
  readonly batchId: number | null
  readonly records: number
  readonly sourceRecords: number
  readonly deadLettered: number
  readonly filtered: number
  readonly openedAt: number
  readonly closedAt: number
  readonly startedAt: number
  readonly finishedAt: number
  /** closedAt - openedAt. */
  readonly intervalMs: number
  /** Source records per second of the batch's interval (Spark's input rate). */
  readonly inputRate: number
  /** finishedAt - startedAt. */
  readonly processingMs: number
  /** startedAt - closedAt: how long the batch waited for the one before it (Spark's scheduling delay). */
  readonly schedulingDelayMs: number
  /** schedulingDelayMs + processingMs (Spark's total delay). */
  readonly totalDelayMs: number
}

export interface ShardRow {
  readonly shardId: string
  readonly owner: string | null
  readonly millisBehindLatest: number | null
  /** A sequence number (`seq/sub` inside a KPL aggregate), `SHARD_END`, or null before the first checkpoint. */
  readonly checkpoint: string | null
  readonly state: ShardStatus
  readonly updatedAt: number
}

export interface ErrorEntry {
  readonly at: number
  readonly tag: string
  readonly message: string
  readonly shardId: string | null
}

export interface DeadLetterEntry {
  readonly at: number
  readonly kind: string
  readonly shardId: string
  readonly sequenceNumber: string
  readonly reason: string
}

/** Everything the page shows, JSON-serialisable (what `/snapshot.json` and `/events` send). */
export interface DashboardSnapshot {
  /** Grows by one on every change. */
  readonly version: number
  readonly generatedAt: number
  /** When the state was made (the consumer's start). */
  readonly since: number
  readonly limits: { readonly maxBatches: number; readonly maxErrors: number }
  /** Since the start, not only over the batches kept. */
  readonly totals: {
    readonly batches: number
    readonly records: number
    readonly sourceRecords: number
    readonly deadLettered: number
    readonly filtered: number
    readonly errors: number
  }
  /** The last `maxBatches` batches, oldest first. */
  readonly batches: ReadonlyArray<BatchPoint>
  readonly latest: BatchPoint | null
  /** In shard id order. */
  readonly shards: ReadonlyArray<ShardRow>
  /** Leases held per worker, in worker order; `source` says whether they were fed or counted from shard owners. */
  readonly leases: {
    readonly source: "fed" | "shards"
    readonly workers: ReadonlyArray<{ readonly worker: string; readonly leases: number }>
  }
  /** The last `maxErrors` errors, newest first. */
  readonly errors: ReadonlyArray<ErrorEntry>
  /** The last `maxErrors` dead letters, newest first. */
  readonly deadLetters: ReadonlyArray<DeadLetterEntry>
}

export interface DashboardStateOptions {
  /** Batches kept for the timeline. Default 120. */
  readonly maxBatches?: number
  /** Errors, and dead letters, kept. Default 50. */
  readonly maxErrors?: number
  /** Epoch milliseconds now; default `Date.now`. */
  readonly now?: () => number
}

/** A fixed-size buffer keeping the newest `capacity` items. */
class Ring<T> {
  private readonly items: Array<T> = []
  private start = 0
  constructor(readonly capacity: number) {}
  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item)
    else {
      this.items[this.start] = item
      this.start = (this.start + 1) % this.capacity
    }
  }
  /** Oldest first. */
  toArray(): Array<T> {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)]
  }
}

const millis = (t: Instant): number => (typeof t === "number" ? t : t.getTime())

/** A checkpoint as the table shows it. */
export const checkpointText = (checkpoint: Checkpoint | string): string => {
  if (typeof checkpoint === "string") return checkpoint
  if (checkpoint._tag === "ShardEnd") return "SHARD_END"
  return checkpoint.subSequenceNumber > 0 ? `${checkpoint.sequenceNumber}/${checkpoint.subSequenceNumber}` : checkpoint.sequenceNumber
}

/** The timeline point of a finished batch. */
export const batchPoint = (done: BatchDoneInput): BatchPoint => {
  const openedAt = millis(done.openedAt)
  const closedAt = millis(done.closedAt)
  const startedAt = millis(done.startedAt)
  const finishedAt = millis(done.finishedAt)
  const intervalMs = Math.max(0, closedAt - openedAt)
  const processingMs = Math.max(0, finishedAt - startedAt)
  const schedulingDelayMs = Math.max(0, startedAt - closedAt)
  return {
    batchId: done.batchId ?? null,
    records: done.records,
    sourceRecords: done.sourceRecords,
    deadLettered: done.deadLettered ?? 0,
    filtered: done.filtered ?? 0,
    openedAt,
    closedAt,
    startedAt,
    finishedAt,
    intervalMs,
    // A batch closed by size within the same millisecond counts over 1 ms, not as infinite.
    inputRate: done.sourceRecords === 0 ? 0 : (done.sourceRecords * 1000) / Math.max(1, intervalMs),
    processingMs,
    schedulingDelayMs,
    totalDelayMs: schedulingDelayMs + processingMs
  }
}

/**
 * What the dashboard shows, fed by the consumer as it runs: batches, shard rows, leases, errors and
 * dead letters. Every feed is synchronous and cheap (ring buffers); listeners hear of each change.
 *
 * @example
 * ```ts
 * const state = yield* DashboardState.make()
 * state.batchDone({ batchId: 0, records: 10, sourceRecords: 10, openedAt, closedAt, startedAt, finishedAt: Date.now() })
 * ```
 */
export class DashboardState {
  /** Validates the options; fails with `InvalidOption` for a size that is not a whole number >= 1. */
  static make(options: DashboardStateOptions = {}): Effect.Effect<DashboardState, InvalidOption> {
    return Effect.gen(function* () {
      const maxBatches = yield* integerOption("dashboard.maxBatches", options.maxBatches, 120, 1, 100_000)
      const maxErrors = yield* integerOption("dashboard.maxErrors", options.maxErrors, 50, 1, 100_000)
      return new DashboardState(maxBatches, maxErrors, options.now ?? Date.now)
    })
  }

  private readonly batches: Ring<BatchPoint>
  private readonly errors: Ring<ErrorEntry>
  private readonly deadLetters: Ring<DeadLetterEntry>
  private readonly shards = new Map<string, ShardRow>()
  private fedLeases: ReadonlyArray<{ readonly worker: string; readonly leases: number }> | undefined
  private readonly listeners = new Set<() => void>()
  private readonly since: number
  private version = 0
  private totals = { batches: 0, records: 0, sourceRecords: 0, deadLettered: 0, filtered: 0, errors: 0 }

  private constructor(
    readonly maxBatches: number,
    readonly maxErrors: number,
    private readonly now: () => number
  ) {
    this.batches = new Ring(maxBatches)
    this.errors = new Ring(maxErrors)
    this.deadLetters = new Ring(maxErrors)
    this.since = now()
  }

  /** A finished batch; its checkpoints and lags, if given, update the shard rows. */
  batchDone(done: BatchDoneInput): void {
    const point = batchPoint(done)
    this.batches.push(point)
    const t = this.totals
    this.totals = {
      batches: t.batches + 1,
      records: t.records + point.records,
      sourceRecords: t.sourceRecords + point.sourceRecords,
      deadLettered: t.deadLettered + point.deadLettered,
      filtered: t.filtered + point.filtered,
      errors: t.errors
    }
    for (const [shardId, checkpoint] of done.checkpoints ?? []) this.updateShard({ shardId, checkpoint })
    for (const [shardId, millisBehindLatest] of done.millisBehindLatest ?? []) this.updateShard({ shardId, millisBehindLatest })
    this.changed()
  }

  /** Updates one shard's row (made on first mention). */
  shard(input: ShardInput): void {
    this.updateShard(input)
    this.changed()
  }

  /** Shard rows from the lease table (`LeaseStore.list`): owner, checkpoint, ended. */
  fromLeases(leases: ReadonlyArray<Lease>): void {
    for (const lease of leases) {
      this.updateShard({
        shardId: lease.shardId,
        owner: lease.owner ?? null,
        checkpoint: lease.checkpoint,
        ...(lease.checkpoint?._tag === "ShardEnd" ? {} : { state: lease.owner === undefined ? "released" : "reading" })
      })
    }
    this.changed()
  }

  /** Leases held per worker, as the coordinator counts them; `undefined` goes back to counting shard owners. */
  leases(byWorker: Readonly<Record<string, number>> | undefined): void {
    this.fedLeases = byWorker === undefined
      ? undefined
      : Object.keys(byWorker).sort().map((worker) => ({ worker, leases: byWorker[worker] ?? 0 }))
    this.changed()
  }

  error(input: ErrorInput): void {
    this.errors.push({
      at: input.at === undefined ? this.now() : millis(input.at),
      tag: input.tag,
      message: input.message,
      shardId: input.shardId ?? null
    })
    this.totals = { ...this.totals, errors: this.totals.errors + 1 }
    this.changed()
  }

  /** A dead letter; not added to the totals (those count `deadLettered` of the batches). */
  deadLetter(input: DeadLetterInput): void {
    this.pushDeadLetter(input)
    this.changed()
  }

  /** Dead letters as the `DeadLetter` destination gets them. */
  deadLetterRecords(records: ReadonlyArray<DeadLetterRecord>): void {
    for (const r of records) {
      this.pushDeadLetter({ at: r.failedAt, kind: r.reason.kind, shardId: r.shardId, sequenceNumber: r.sequenceNumber, reason: r.reason.message })
    }
    if (records.length > 0) this.changed()
  }

  /** Calls `listener` after every change; answers how to stop. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  snapshot(): DashboardSnapshot {
    const batches = this.batches.toArray()
    const shards = [...this.shards.values()].sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0))
    return {
      version: this.version,
      generatedAt: this.now(),
      since: this.since,
      limits: { maxBatches: this.maxBatches, maxErrors: this.maxErrors },
      totals: { ...this.totals },
      batches,
      latest: batches[batches.length - 1] ?? null,
      shards,
      leases: this.fedLeases === undefined
        ? { source: "shards", workers: leasesOf(shards) }
        : { source: "fed", workers: [...this.fedLeases] },
      errors: this.errors.toArray().reverse(),
      deadLetters: this.deadLetters.toArray().reverse()
    }
  }

  private pushDeadLetter(input: DeadLetterInput): void {
    this.deadLetters.push({
      at: input.at === undefined ? this.now() : millis(input.at),
      kind: input.kind,
      shardId: input.shardId,
      sequenceNumber: input.sequenceNumber,
      reason: input.reason
    })
  }

  private updateShard(input: ShardInput): void {
    const previous = this.shards.get(input.shardId)
    const checkpoint = input.checkpoint === undefined ? previous?.checkpoint ?? null : checkpointText(input.checkpoint)
    const state: ShardStatus = input.state ?? (checkpoint === "SHARD_END" ? "ended" : previous?.state ?? "reading")
    this.shards.set(input.shardId, {
      shardId: input.shardId,
      owner: input.owner === undefined ? previous?.owner ?? null : input.owner,
      millisBehindLatest: input.millisBehindLatest === undefined ? previous?.millisBehindLatest ?? null : input.millisBehindLatest,
      checkpoint,
      state,
      updatedAt: this.now()
    })
  }

  private changed(): void {
    this.version++
    for (const listener of [...this.listeners]) {
      try {
        listener()
      } catch {
        // A listener (an SSE connection) that throws must not stop the pipeline feeding the state.
      }
    }
  }
}

/** Leases per worker counted from the shard rows: shards with an owner that are not ended or lost. */
const leasesOf = (shards: ReadonlyArray<ShardRow>): Array<{ worker: string; leases: number }> => {
  const counts = new Map<string, number>()
  for (const s of shards) {
    if (s.owner !== null && (s.state === "reading" || s.state === "idle")) counts.set(s.owner, (counts.get(s.owner) ?? 0) + 1)
  }
  return [...counts.keys()].sort().map((worker) => ({ worker, leases: counts.get(worker) ?? 0 }))
}
