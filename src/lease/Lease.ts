import { Data } from "effect"
import { Checkpoint, type CheckpointScope } from "../checkpoint/index.js"
import type { InitialPosition } from "../consumer/index.js"

/**
 * Whose leases: one application reading one stream. One lease table serves any number of them;
 * a lease is keyed by its scope and shard id ({@link leaseKey}).
 */
export type LeaseScope = CheckpointScope

/**
 * One shard's lease row, the KCL's lease: who owns the shard, how far it was processed, and
 * where it sits in the shard lineage.
 */
export interface Lease {
  readonly shardId: string
  /** The worker holding the lease; undefined when nobody does (new, released). */
  readonly owner: string | undefined
  /**
   * The fencing token: bumped on every take, renewal and release, never lowered. Every write that
   * depends on ownership is conditional on it, so a worker that lost the lease cannot write.
   */
  readonly counter: number
  /**
   * Where processing got to. `ShardEnd` is the "ended" marker: the shard is closed and read to its
   * end. Undefined until the first checkpoint; the shard then starts at {@link startAt}.
   */
  readonly checkpoint: Checkpoint | undefined
  /** Where a shard without a checkpoint starts, fixed when the row is created. */
  readonly startAt: InitialPosition
  /** The shard's parents (one after a split, two after a merge); read before it. */
  readonly parentShardIds: ReadonlyArray<string>
  /** The shard's children, once known (after it closed). */
  readonly childShardIds: ReadonlyArray<string>
  /** Owner changes since the last checkpoint: a high count means the shard keeps failing over. */
  readonly ownerSwitchesSinceCheckpoint: number
  /** The shard's operator state as of the checkpoint (read it with `loadState`); undefined: none. */
  readonly state?: StateRef | undefined
}

/**
 * Where a lease's operator state is kept: the version its last checkpoint wrote. The state itself
 * is read with `LeaseStoreApi.loadState`.
 */
export interface StateRef {
  /**
   * Unique per write, e.g. `${counter}-${random hex}`, so chunks written by a worker that lost the
   * lease never mix with the owner's.
   */
  readonly version: string
  /** Size of the state in bytes (> 0: an empty state is no state). */
  readonly bytes: number
  /** 0: inline in the lease row; n > 0: in n chunks stored beside the row. */
  readonly chunks: number
}

/** What a new lease row starts with. */
export interface NewLease {
  readonly shardId: string
  readonly startAt: InitialPosition
  readonly parentShardIds: ReadonlyArray<string>
  readonly childShardIds?: ReadonlyArray<string>
  /** Rows created for shards that need no reading (e.g. closed shards under LATEST) start ended. */
  readonly checkpoint?: Checkpoint
}

/** A lease as its holder knows it: the owner and the counter its next write is conditional on. */
export interface HeldLease {
  readonly shardId: string
  readonly owner: string
  readonly counter: number
}

/** Whether the shard is closed and was read to its end. */
export const isEnded = (lease: Lease): boolean => lease.checkpoint?._tag === "ShardEnd"

/** The row's key inside a lease table: the scope (application and stream) and the shard. */
export const leaseKey = (scope: LeaseScope, shardId: string): string => `${scopeKey(scope)}${shardId}`

/**
 * A scope as one string, unambiguous for any names (stream ARNs hold `:` and `/`): used as the
 * partition key of the lease tables.
 */
export const scopeKey = (scope: LeaseScope): string => `${JSON.stringify([scope.applicationName, scope.streamName])}#`

/**
 * The scope a partition key names, inverse of {@link scopeKey}; undefined for any other key (the
 * state chunk partitions `<scope key>state`, foreign rows).
 */
export const scopeOfKey = (key: string): LeaseScope | undefined => {
  if (!key.endsWith("#")) return undefined
  try {
    const value: unknown = JSON.parse(key.slice(0, -1))
    return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "string")
      ? { applicationName: value[0] as string, streamName: value[1] as string }
      : undefined
  } catch {
    return undefined
  }
}

/** The scopes of distinct partition keys, each once, in application then stream order. */
export const scopesOfKeys = (keys: Iterable<string>): ReadonlyArray<LeaseScope> => {
  const found = new Map<string, LeaseScope>()
  for (const key of keys) {
    const scope = scopeOfKey(key)
    if (scope !== undefined) found.set(scopeKey(scope), scope)
  }
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  return [...found.values()].sort((a, b) => order(a.applicationName, b.applicationName) || order(a.streamName, b.streamName))
}

export const newLease = (init: NewLease): Lease => ({
  shardId: init.shardId,
  owner: undefined,
  counter: 0,
  checkpoint: init.checkpoint,
  startAt: init.startAt,
  parentShardIds: [...init.parentShardIds],
  childShardIds: [...(init.childShardIds ?? [])],
  ownerSwitchesSinceCheckpoint: 0
})

/** The ownership-conditional writes; each names what it expected, for {@link LeaseLost}. */
export type LeaseWrite = "take" | "renew" | "checkpoint" | "release"

/**
 * A write conditional on holding a lease failed: another worker took it, it was released or
 * deleted, or the counter moved on. The writer no longer owns the shard and must stop processing
 * it; nothing was written.
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly operation: LeaseWrite
  readonly streamName: string
  readonly applicationName: string
  readonly shardId: string
  /** Who tried to write. */
  readonly owner: string
  /** The counter the write was conditional on. */
  readonly expectedCounter: number
  /** The row as it was found, when the store tells (undefined: deleted, or not reported). */
  readonly current?: { readonly owner: string | undefined; readonly counter: number } | undefined
}> {
  override get message() {
    const now =
      this.current === undefined
        ? "the lease is gone or changed"
        : `the lease is now held by ${this.current.owner ?? "nobody"} at counter ${this.current.counter}`
    return `Lease lost: ${this.owner} cannot ${this.operation} shard ${this.shardId} of stream ${this.streamName} ` +
      `(application ${this.applicationName}) at counter ${this.expectedCounter}; ${now}`
  }
}

/** The lease store could not be read or written (not an ownership conflict: see {@link LeaseLost}). */
export class LeaseStoreError extends Data.TaggedError("LeaseStoreError")<{
  readonly operation: string
  /** Which store, e.g. `sqlite:/var/lib/app/leases.db` or `dynamodb:shardline-leases`. */
  readonly store: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Lease store ${this.store}: ${this.operation} failed: ${this.reason}`
  }
}

// ---- The transitions every store applies (the memory store directly, the others as conditional updates).

/** The {@link LeaseLost} for a write conditional on `expectedCounter`, given the row as found. */
export const leaseLost = (
  operation: LeaseWrite,
  scope: LeaseScope,
  shardId: string,
  owner: string,
  expectedCounter: number,
  current: Lease | undefined
) =>
  new LeaseLost({
    operation,
    streamName: scope.streamName,
    applicationName: scope.applicationName,
    shardId,
    owner,
    expectedCounter,
    current: current === undefined ? undefined : { owner: current.owner, counter: current.counter }
  })

/** A lease change, or why it cannot be made. */
export type Transition = { readonly _tag: "Ok"; readonly lease: Lease } | { readonly _tag: "Lost"; readonly error: LeaseLost }

const ok = (lease: Lease): Transition => ({ _tag: "Ok", lease })
const no = (error: LeaseLost): Transition => ({ _tag: "Lost", error })

/**
 * The semantics of the conditional writes, as pure functions of the current row. Every store must
 * behave exactly like these (the contract tests check it).
 */
export const LeaseTransition = {
  /** Take: the row must still be at `expected` (owner and counter); the new owner gets counter + 1. */
  take: (scope: LeaseScope, shardId: string, current: Lease | undefined, expected: { readonly owner: string | undefined; readonly counter: number }, newOwner: string): Transition =>
    current === undefined || current.owner !== expected.owner || current.counter !== expected.counter
      ? no(leaseLost("take", scope, shardId, newOwner, expected.counter, current))
      : ok({
          ...current,
          owner: newOwner,
          counter: current.counter + 1,
          ownerSwitchesSinceCheckpoint: current.ownerSwitchesSinceCheckpoint + (current.owner === newOwner ? 0 : 1)
        }),
  renew: (scope: LeaseScope, current: Lease | undefined, held: HeldLease): Transition =>
    holds(current, held) ? ok({ ...current!, counter: current!.counter + 1 }) : no(leaseLost("renew", scope, held.shardId, held.owner, held.counter, current)),
  /**
   * Checkpoint: does not bump the counter; resets the owner-switch count; may record the children
   * and point the row at new operator state (`state` undefined: unchanged; null: none).
   */
  checkpoint: (
    scope: LeaseScope,
    current: Lease | undefined,
    held: HeldLease,
    checkpoint: Checkpoint,
    childShardIds?: ReadonlyArray<string>,
    state?: StateRef | null
  ): Transition => {
    if (!holds(current, held)) return no(leaseLost("checkpoint", scope, held.shardId, held.owner, held.counter, current))
    const { state: previous, ...rest } = current!
    const next = state === undefined ? previous : state ?? undefined
    return ok({
      ...rest,
      checkpoint,
      ownerSwitchesSinceCheckpoint: 0,
      childShardIds: childShardIds === undefined ? current!.childShardIds : [...childShardIds],
      ...(next === undefined ? {} : { state: { ...next } })
    })
  },
  release: (scope: LeaseScope, current: Lease | undefined, held: HeldLease): Transition =>
    holds(current, held)
      ? ok({ ...current!, owner: undefined, counter: current!.counter + 1 })
      : no(leaseLost("release", scope, held.shardId, held.owner, held.counter, current))
} as const

const holds = (current: Lease | undefined, held: HeldLease): boolean =>
  current !== undefined && current.owner === held.owner && current.counter === held.counter

// ---- One flat row shape for the stores that serialize (SQLite, DynamoDB).

/** A lease as stored: flat, JSON- and SQL-friendly. */
export interface LeaseRow {
  readonly shardId: string
  readonly owner: string | null
  readonly counter: number
  /** A sequence number, `SHARD_END`, or null. */
  readonly checkpoint: string | null
  readonly checkpointSubSequenceNumber: number
  /** `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP:<epoch millis>`. */
  readonly startAt: string
  readonly parentShardIds: ReadonlyArray<string>
  readonly childShardIds: ReadonlyArray<string>
  readonly ownerSwitchesSinceCheckpoint: number
  /** The state pointer ({@link StateRef}); null, 0, 0 when there is no state. */
  readonly stateVersion: string | null
  readonly stateBytes: number
  readonly stateChunks: number
}

export const SHARD_END = "SHARD_END"

export const encodeStartAt = (startAt: InitialPosition): string =>
  typeof startAt === "string" ? startAt : `AT_TIMESTAMP:${startAt.atTimestamp.getTime()}`

export const decodeStartAt = (text: string): InitialPosition | undefined => {
  if (text === "TRIM_HORIZON" || text === "LATEST") return text
  const match = /^AT_TIMESTAMP:(-?\d+)$/.exec(text)
  return match === null ? undefined : { atTimestamp: new Date(Number(match[1])) }
}

export const encodeCheckpoint = (checkpoint: Checkpoint | undefined): { checkpoint: string | null; checkpointSubSequenceNumber: number } =>
  checkpoint === undefined
    ? { checkpoint: null, checkpointSubSequenceNumber: 0 }
    : checkpoint._tag === "ShardEnd"
      ? { checkpoint: SHARD_END, checkpointSubSequenceNumber: 0 }
      : { checkpoint: checkpoint.sequenceNumber, checkpointSubSequenceNumber: checkpoint.subSequenceNumber }

export const toRow = (lease: Lease): LeaseRow => ({
  shardId: lease.shardId,
  owner: lease.owner ?? null,
  counter: lease.counter,
  ...encodeCheckpoint(lease.checkpoint),
  startAt: encodeStartAt(lease.startAt),
  parentShardIds: lease.parentShardIds,
  childShardIds: lease.childShardIds,
  ownerSwitchesSinceCheckpoint: lease.ownerSwitchesSinceCheckpoint,
  ...encodeState(lease.state)
})

/** A state pointer as the flat row fields. */
export const encodeState = (state: StateRef | undefined): { stateVersion: string | null; stateBytes: number; stateChunks: number } =>
  state === undefined
    ? { stateVersion: null, stateBytes: 0, stateChunks: 0 }
    : { stateVersion: state.version, stateBytes: state.bytes, stateChunks: state.chunks }

/**
 * What a state version may hold: it becomes part of keys (DynamoDB sort keys joined with `#`), so
 * a short run of `A-Z a-z 0-9 _ . -`.
 */
export const isStateVersion = (version: unknown): version is string =>
  typeof version === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(version)

/** The row's state fields back to a pointer; a string naming what is malformed. */
const decodeState = (row: LeaseRow): StateRef | undefined | string => {
  const bad = () =>
    `lease ${row.shardId}: bad state pointer (version ${JSON.stringify(row.stateVersion)}, ` +
    `${row.stateBytes} bytes, ${row.stateChunks} chunks)`
  if (row.stateVersion === null) return row.stateBytes === 0 && row.stateChunks === 0 ? undefined : bad()
  // Every chunk holds at least one byte, and an empty state is stored as no state.
  if (!isStateVersion(row.stateVersion) || !isCount(row.stateBytes) || !isCount(row.stateChunks)) return bad()
  if (row.stateBytes === 0 || row.stateChunks > row.stateBytes) return bad()
  return { version: row.stateVersion, bytes: row.stateBytes, chunks: row.stateChunks }
}

/** A whole number >= 0 that a double holds exactly. */
export const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0

/** A row back to a lease; a string naming what is malformed when it is not a lease row. */
export const fromRow = (row: LeaseRow): Lease | string => {
  const startAt = decodeStartAt(row.startAt)
  if (startAt === undefined) return `lease ${row.shardId}: bad startAt ${JSON.stringify(row.startAt)}`
  if (!isCount(row.counter)) return `lease ${row.shardId}: bad counter ${row.counter}`
  if (!isCount(row.checkpointSubSequenceNumber)) {
    return `lease ${row.shardId}: bad checkpoint sub-sequence number ${row.checkpointSubSequenceNumber}`
  }
  if (!isCount(row.ownerSwitchesSinceCheckpoint)) return `lease ${row.shardId}: bad owner switch count ${row.ownerSwitchesSinceCheckpoint}`
  let checkpoint: Checkpoint | undefined
  if (row.checkpoint === SHARD_END) checkpoint = Checkpoint.shardEnd
  else if (row.checkpoint !== null) {
    if (!/^\d+$/.test(row.checkpoint)) return `lease ${row.shardId}: bad checkpoint ${JSON.stringify(row.checkpoint)}`
    checkpoint = Checkpoint.sequence(row.checkpoint, row.checkpointSubSequenceNumber)
  }
  const state = decodeState(row)
  if (typeof state === "string") return state
  return {
    shardId: row.shardId,
    owner: row.owner ?? undefined,
    counter: row.counter,
    checkpoint,
    startAt,
    parentShardIds: [...row.parentShardIds],
    childShardIds: [...row.childShardIds],
    ownerSwitchesSinceCheckpoint: row.ownerSwitchesSinceCheckpoint,
    ...(state === undefined ? {} : { state })
  }
}
