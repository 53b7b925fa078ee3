import { Context, Effect, Layer, Ref } from "effect"
import type { Checkpoint, CheckpointError, CheckpointScope } from "./Checkpoint.js"
import { type FileCheckpointStoreOptions, makeFileStore } from "./FileCheckpointStore.js"

/**
 * Where shard positions, and the states of stateful operators, are kept between runs. `save`
 * writes a batch's positions and states as one unit where the store can (the file store does);
 * shards left out keep what they had.
 */
export interface CheckpointStoreApi {
  /** A name for messages, e.g. `memory` or `file:/path`. */
  readonly name: string
  readonly load: (scope: CheckpointScope) => Effect.Effect<ReadonlyMap<string, Checkpoint>, CheckpointError>
  /**
   * Saves positions and, in the same atomic unit, operator states, both per shard id. A shard left
   * out of `states` keeps its state; a zero-length state deletes it. A state may be saved for a
   * shard whose checkpoint is not in this call: its checkpoint stays as it was.
   *
   * @example
   * ```ts
   * store.save(scope, new Map([[shardId, Checkpoint.sequence(seq)]]), new Map([[shardId, encode(window)]]))
   * ```
   */
  readonly save: (
    scope: CheckpointScope,
    checkpoints: ReadonlyMap<string, Checkpoint>,
    states?: ReadonlyMap<string, Uint8Array>
  ) => Effect.Effect<void, CheckpointError>
  /** The state last saved for a shard, or `undefined` if it has none; fails if the store holds it damaged. */
  readonly loadState: (scope: CheckpointScope, shardId: string) => Effect.Effect<Uint8Array | undefined, CheckpointError>
}

/**
 * The checkpoint store service.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(CheckpointStore.layerFile({ path: ".shardline/checkpoints.json" })))
 * ```
 */
export class CheckpointStore extends Context.Tag("shardline/CheckpointStore")<CheckpointStore, CheckpointStoreApi>() {
  /** Keeps checkpoints and states in memory for the life of the layer: for tests and throw-away runs. */
  static readonly layerMemory: Layer.Layer<CheckpointStore> = Layer.effect(
    CheckpointStore,
    Effect.suspend(() => makeMemoryStore())
  )

  /**
   * Keeps checkpoints in a JSON file, replaced atomically on every save, and states in binary files
   * beside it (`<path>.state/`); survives restarts.
   */
  static readonly layerFile = (options: FileCheckpointStoreOptions): Layer.Layer<CheckpointStore> =>
    Layer.effect(CheckpointStore, makeFileStore(options))
}

const scopeKey = (scope: CheckpointScope) => JSON.stringify([scope.applicationName, scope.streamName])

/** What the memory store holds of one scope. */
interface ScopeEntry {
  readonly checkpoints: ReadonlyMap<string, Checkpoint>
  readonly states: ReadonlyMap<string, Uint8Array>
}

const noEntry: ScopeEntry = { checkpoints: new Map(), states: new Map() }

/** A store in memory; maps and bytes are copied in and out, so callers cannot change what it holds. */
export const makeMemoryStore = (): Effect.Effect<CheckpointStoreApi> =>
  Effect.map(Ref.make(new Map<string, ScopeEntry>()), (ref) => ({
    name: "memory",
    load: (scope) => Effect.map(Ref.get(ref), (all) => new Map((all.get(scopeKey(scope)) ?? noEntry).checkpoints)),
    save: (scope, checkpoints, states = new Map()) =>
      Effect.suspend(() => {
        // Copied before the update, so the unit written is what the caller passed at the call.
        const copies = [...states].map(([shardId, bytes]) => [shardId, bytes.slice()] as const)
        return Ref.update(ref, (all) => {
          const entry = all.get(scopeKey(scope)) ?? noEntry
          const nextStates = new Map(entry.states)
          for (const [shardId, bytes] of copies) {
            if (bytes.byteLength === 0) nextStates.delete(shardId)
            else nextStates.set(shardId, bytes)
          }
          const next = new Map(all)
          next.set(scopeKey(scope), { checkpoints: new Map([...entry.checkpoints, ...checkpoints]), states: nextStates })
          return next
        })
      }),
    loadState: (scope, shardId) =>
      Effect.map(Ref.get(ref), (all) => (all.get(scopeKey(scope)) ?? noEntry).states.get(shardId)?.slice())
  }))
