import { randomBytes } from "node:crypto"
import { Effect, Exit } from "effect"
import type { HeldLease, Lease, LeaseLost, LeaseStoreError, StateRef } from "./Lease.js"

// Operator state beside a lease row: the layout every store shares, and the write protocol of the
// stores whose chunk writes cannot join the row's conditional write (memory, DynamoDB).

/** Sizes that decide where a store keeps a state: inline up to `inlineBytes`, else in chunks of `chunkBytes`. */
export interface StateLayout {
  readonly inlineBytes: number
  readonly chunkBytes: number
}

/** The option is a whole number of bytes >= 1, or what is wrong with it. */
export const checkStateBytes = (option: string, value: number): string | undefined =>
  Number.isSafeInteger(value) && value >= 1 ? undefined : `option ${option} ${value} is not a whole number of bytes >= 1`

/** How many chunks a state of `bytes` takes (0: inline). */
export const chunkCount = (layout: StateLayout, bytes: number): number =>
  bytes <= layout.inlineBytes ? 0 : Math.ceil(bytes / layout.chunkBytes)

/** A fresh version for a checkpoint at `held`: unique, so writers that lost the lease never collide. */
export const newStateVersion = (held: HeldLease): Effect.Effect<string> =>
  Effect.sync(() => `${held.counter}-${randomBytes(8).toString("hex")}`)

/** What a state-writing checkpoint puts in the row: a pointer and the inline bytes, or no state (null). */
export type StateWrite = {
  readonly ref: StateRef
  /** The bytes when `ref.chunks` is 0. */
  readonly inline: Uint8Array | undefined
  /** The chunks when `ref.chunks` > 0. */
  readonly chunks: ReadonlyArray<Uint8Array>
} | null

/** The write for `data` under `version` (views into `data`, no copies). */
export const planState = (layout: StateLayout, data: Uint8Array, version: string): StateWrite => {
  if (data.length === 0) return null
  const count = chunkCount(layout, data.length)
  const chunks = Array.from({ length: count }, (_, i) => data.subarray(i * layout.chunkBytes, (i + 1) * layout.chunkBytes))
  return { ref: { version, bytes: data.length, chunks: count }, inline: count === 0 ? data : undefined, chunks }
}

/** Where a state is, for messages. */
export const describeState = (shardId: string, ref: StateRef): string =>
  `state version ${ref.version} of shard ${shardId} (${ref.bytes} bytes, ${ref.chunks === 0 ? "inline" : `${ref.chunks} chunks`})`

/**
 * The chunks read for `ref` joined, or what is wrong (a missing, extra or short chunk). `parts`
 * need not be sorted.
 */
export const joinChunks = (
  shardId: string,
  ref: StateRef,
  parts: ReadonlyArray<{ readonly index: number; readonly data: Uint8Array }>
): Uint8Array | string => {
  const byIndex = new Map(parts.map((p) => [p.index, p.data]))
  const out = new Uint8Array(ref.bytes)
  let offset = 0
  for (let i = 0; i < ref.chunks; i++) {
    const data = byIndex.get(i)
    if (data === undefined) return `${describeState(shardId, ref)}: chunk ${i} is missing`
    if (offset + data.length > ref.bytes) return `${describeState(shardId, ref)}: chunk ${i} runs past the state's size`
    out.set(data, offset)
    offset += data.length
  }
  if (byIndex.size > ref.chunks) return `${describeState(shardId, ref)}: ${byIndex.size - ref.chunks} chunks more than the pointer says`
  return offset === ref.bytes ? out : `${describeState(shardId, ref)}: chunks hold ${offset} bytes, short of ${ref.bytes}`
}

/** The inline bytes found in the row for `ref`, checked, or what is wrong. */
export const checkInline = (
  shardId: string,
  ref: StateRef,
  found: { readonly version: string | undefined; readonly data: Uint8Array | undefined }
): Uint8Array | string => {
  if (found.version !== ref.version) {
    return `${describeState(shardId, ref)}: the row now holds ${found.version === undefined ? "no state" : `version ${found.version}`} (a later checkpoint replaced it)`
  }
  if (found.data?.length !== ref.bytes) {
    return `${describeState(shardId, ref)}: the row holds ${found.data === undefined ? "no inline bytes" : `${found.data.length} inline bytes`}`
  }
  return found.data
}

/** What a store whose chunk writes are separate from the row write provides to {@link writeState}. */
export interface ChunkedStateStore {
  readonly writeChunks: (version: string, chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, LeaseStoreError>
  readonly deleteChunks: (ref: StateRef) => Effect.Effect<void, LeaseStoreError>
  /** The conditional row write; answers the row as written and the state it replaced. */
  readonly flip: (write: StateWrite) => Effect.Effect<{ readonly lease: Lease; readonly previous: StateRef | undefined }, LeaseLost | LeaseStoreError>
  /** The row as it is now. */
  readonly current: Effect.Effect<Lease | undefined, LeaseStoreError>
}

/**
 * A state-writing checkpoint: the chunks first (unconditional, under a fresh version nobody
 * reads yet), then the conditional row write that points the row at them. After the flip the
 * replaced version's chunks go; after a failure the new ones do, unless the row points at them
 * (a write whose answer was lost may still have landed). Both clean-ups are best effort: what
 * they miss is an orphan that deleting the row removes.
 */
export const writeState = (
  shardId: string,
  held: HeldLease,
  layout: StateLayout,
  data: Uint8Array,
  store: ChunkedStateStore
): Effect.Effect<Lease, LeaseLost | LeaseStoreError> =>
  Effect.gen(function* () {
    const write = planState(layout, data, yield* newStateVersion(held))
    const written = write !== null && write.ref.chunks > 0 ? write.ref : undefined
    const discard = written === undefined
      ? Effect.void
      : Effect.flatMap(store.current, (row) => row?.state?.version === written.version ? Effect.void : store.deleteChunks(written)).pipe(
          Effect.catchAll((error) => Effect.logWarning(`could not delete the chunks of a failed checkpoint: ${describeState(shardId, written)}`, error))
        )
    const { lease, previous } = yield* Effect.gen(function* () {
      if (written !== undefined) yield* store.writeChunks(written.version, write!.chunks)
      return yield* store.flip(write)
    }).pipe(Effect.onExit((exit) => (Exit.isFailure(exit) ? discard : Effect.void)))
    if (previous !== undefined && previous.chunks > 0 && previous.version !== write?.ref.version) {
      yield* store.deleteChunks(previous).pipe(
        Effect.catchAll((error) => Effect.logWarning(`could not delete replaced operator state: ${describeState(shardId, previous)}`, error))
      )
    }
    return lease
  })
