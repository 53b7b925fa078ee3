import { Effect } from "effect"
import { decodeShardState, encodeShardState, type StageSnapshot, stateFormat } from "./envelope.js"
import { StateRestoreError } from "./errors.js"
import type { HashRange } from "./routing.js"
import type { BatchContext, StatefulStage } from "./Stage.js"

/** A shard's committed state as the source finds it. */
export type StoredState =
  | { readonly _tag: "Own"; readonly bytes: Uint8Array | undefined }
  /** A child shard with no state of its own yet: its parents' final states and its hash range. */
  | { readonly _tag: "Inherited"; readonly parents: ReadonlyArray<Uint8Array>; readonly range: HashRange }

/** A holding of a shard's state: the lease session it was loaded under (null without leases). */
interface Holding {
  readonly held: boolean
}

/** What the runtime needs to know of a closed batch. */
export interface BatchShards<H extends Holding> {
  readonly checkpoints: ReadonlyMap<string, { readonly _tag: string }>
  readonly sessions: ReadonlyMap<string, H>
}

/**
 * Keeps the state of a run's stateful operators per shard: loads a shard's committed state when
 * the shard first shows up in a batch (or shows up under a new lease holding), hands the changed
 * shards' snapshots to the commit, and forgets shards that ended or were lost.
 */
export class StateRuntime<H extends Holding, E, R> {
  private readonly loaded = new Map<string, H | null>()
  private readonly dirty = new Set<string>()
  private readonly held = new Set<string>()

  constructor(
    private readonly stages: ReadonlyArray<StatefulStage>,
    private readonly load: (shardId: string, holding: H | undefined) => Effect.Effect<StoredState, E, R>
  ) {}

  /** The shards whose state this worker holds now. */
  get shards(): ReadonlySet<string> {
    return this.held
  }

  get active(): boolean {
    return this.stages.length > 0
  }

  /**
   * Brings in the state of every shard in the batch or being read (`active`, so that idle shards'
   * state counts too), and drops shards whose holding ended.
   */
  prepare(batch: BatchShards<H>, active: ReadonlyMap<string, H | undefined>): Effect.Effect<void, E | StateRestoreError, R> {
    if (this.stages.length === 0) return Effect.void
    return Effect.suspend(() => {
      for (const [shardId, holding] of this.loaded) if (holding !== null && !holding.held) this.forget(shardId)
      const wanted: Array<[string, H | undefined]> = []
      const ids = new Set([...batch.sessions.keys(), ...batch.checkpoints.keys(), ...active.keys()])
      for (const shardId of ids) {
        const holding = batch.sessions.get(shardId) ?? active.get(shardId)
        if (holding !== undefined && !holding.held) continue
        if (this.loaded.has(shardId) && this.loaded.get(shardId) === (holding ?? null)) continue
        wanted.push([shardId, holding])
      }
      return Effect.forEach(wanted, ([shardId, holding]) =>
        Effect.flatMap(this.load(shardId, holding), (stored) => this.take(shardId, holding, stored)), { discard: true })
    })
  }

  private take(shardId: string, holding: H | undefined, stored: StoredState): Effect.Effect<void, StateRestoreError> {
    return Effect.try({
      try: () => {
        if (this.loaded.has(shardId)) this.forget(shardId)
        if (stored._tag === "Own") {
          const stages = stored.bytes === undefined || stored.bytes.length === 0 ? [] : this.decode(shardId, stored.bytes)
          this.stages.forEach((stage, index) => stage.restore(shardId, stages.find((s) => s.index === index)?.data))
        } else {
          const parents = stored.parents.filter((b) => b.length > 0).map((bytes) => this.decode(shardId, bytes))
          this.stages.forEach((stage, index) =>
            stage.inherit(
              shardId,
              parents.flatMap((p) => p.filter((s) => s.index === index).map((s) => s.data)),
              stored.range
            )
          )
          // What came from the parents now belongs to this shard: commit it under its own key.
          if (parents.length > 0) this.dirty.add(shardId)
        }
        this.loaded.set(shardId, holding ?? null)
        this.held.add(shardId)
      },
      catch: (cause) =>
        cause instanceof StateRestoreError ? cause : new StateRestoreError({ shardId, reason: `its state could not be read (${String(cause)})`, cause })
    })
  }

  private decode(shardId: string, bytes: Uint8Array): ReadonlyArray<StageSnapshot> {
    const state = decodeShardState(bytes)
    if (state.format > stateFormat) {
      throw new StateRestoreError({ shardId, reason: `it was written in state format ${state.format}, newer than this shardline's ${stateFormat}` })
    }
    for (const s of state.stages) {
      const stage = this.stages[s.index]
      if (stage === undefined || stage.kind !== s.kind) {
        throw new StateRestoreError({
          shardId,
          reason: `it holds the state of a ${s.kind} operator at position ${s.index}, but this pipeline has ` +
            (stage === undefined ? `${this.stages.length} stateful operator(s)` : `a ${stage.kind} there`)
        })
      }
    }
    return state.stages
  }

  /** The batch's view of the state, for the operators. */
  context(closedAt: number): BatchContext {
    return { closedAt, shards: this.shards, touch: (shardId) => void this.dirty.add(shardId) }
  }

  /** The encoded state of every shard changed since its last commit. */
  snapshots(): ReadonlyMap<string, Uint8Array> {
    const out = new Map<string, Uint8Array>()
    for (const shardId of this.dirty) {
      if (!this.loaded.has(shardId)) continue
      out.set(
        shardId,
        encodeShardState(this.stages.map((stage, index) => ({ index, kind: stage.kind, data: stage.snapshot(shardId) })))
      )
    }
    return out
  }

  /** The batch was committed: `written` shards' states are durable; ended shards are forgotten. */
  committed(batch: BatchShards<H>, written: ReadonlySet<string>): void {
    for (const shardId of written) this.dirty.delete(shardId)
    for (const [shardId, c] of batch.checkpoints) if (c._tag === "ShardEnd") this.forget(shardId)
  }

  private forget(shardId: string) {
    for (const stage of this.stages) stage.drop(shardId)
    this.loaded.delete(shardId)
    this.dirty.delete(shardId)
    this.held.delete(shardId)
  }
}
