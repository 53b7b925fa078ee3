import { Context, Effect, Layer, Ref } from "effect"
import type { Checkpoint, CheckpointError, CheckpointScope } from "./Checkpoint.js"
import { type FileCheckpointStoreOptions, makeFileStore } from "./FileCheckpointStore.js"

/**
 * Where shard positions are kept between runs. `save` writes a batch's positions as one unit where
 * the store can (the file store does); shards left out keep what they had.
 */
export interface CheckpointStoreApi {
  /** A name for messages, e.g. `memory` or `file:/path`. */
  readonly name: string
  readonly load: (scope: CheckpointScope) => Effect.Effect<ReadonlyMap<string, Checkpoint>, CheckpointError>
  readonly save: (
    scope: CheckpointScope,
    checkpoints: ReadonlyMap<string, Checkpoint>
  ) => Effect.Effect<void, CheckpointError>
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
  /** Keeps checkpoints in memory for the life of the layer: for tests and throw-away runs. */
  static readonly layerMemory: Layer.Layer<CheckpointStore> = Layer.effect(
    CheckpointStore,
    Effect.suspend(() => makeMemoryStore())
  )

  /** Keeps checkpoints in a JSON file, replaced atomically on every save; survives restarts. */
  static readonly layerFile = (options: FileCheckpointStoreOptions): Layer.Layer<CheckpointStore> =>
    Layer.effect(CheckpointStore, makeFileStore(options))
}

const scopeKey = (scope: CheckpointScope) => JSON.stringify([scope.applicationName, scope.streamName])

/** A store in memory; the map is copied in and out, so callers cannot change what it holds. */
export const makeMemoryStore = (): Effect.Effect<CheckpointStoreApi> =>
  Effect.map(Ref.make(new Map<string, ReadonlyMap<string, Checkpoint>>()), (state) => ({
    name: "memory",
    load: (scope) => Effect.map(Ref.get(state), (all) => new Map(all.get(scopeKey(scope)) ?? [])),
    save: (scope, checkpoints) =>
      Ref.update(state, (all) => {
        const next = new Map(all)
        next.set(scopeKey(scope), new Map([...(all.get(scopeKey(scope)) ?? []), ...checkpoints]))
        return next
      })
  }))
