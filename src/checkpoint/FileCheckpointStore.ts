import { randomBytes } from "node:crypto"
import { mkdir, open, readFile, rename, rm } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { Effect } from "effect"
import { Checkpoint, CheckpointError, type CheckpointScope } from "./Checkpoint.js"
import type { CheckpointStoreApi } from "./CheckpointStore.js"
import {
  fromStoredPointer,
  isNotFound,
  pointerVersion,
  readStateFile,
  removeFiles,
  sha256,
  type StatePointer,
  stateFileName,
  sweepStateFiles,
  syncFolder,
  writeStateFiles
} from "./stateFiles.js"

/** Options of the file-backed checkpoint store. */
export interface FileCheckpointStoreOptions {
  /** The JSON file; its folder is created if missing. */
  readonly path: string
}

/**
 * On disk: application -> stream -> shard -> position, and beside it application -> stream ->
 * shard -> state pointer. Files written before states existed have no `states`; readers that do
 * not know `states` ignore it, and their saves keep it.
 */
interface FileDocument {
  readonly format: "shardline-checkpoints"
  readonly version: 1
  readonly applications: Dictionary
  readonly states?: Dictionary
}

type Dictionary = Record<string, unknown>

const isDictionary = (u: unknown): u is Dictionary => typeof u === "object" && u !== null && !Array.isArray(u)

// Names come from users and AWS ("__proto__" and "constructor" are valid stream names): only own
// properties are read, and objects are written without a prototype.
const own = (dictionary: Dictionary, key: string): unknown =>
  Object.hasOwn(dictionary, key) ? dictionary[key] : undefined

/** A copy with `entries` set; an entry whose value is `undefined` is removed. */
const withEntries = (dictionary: Dictionary | undefined, entries: ReadonlyArray<readonly [string, unknown]>): Dictionary => {
  const out: Dictionary = Object.create(null)
  for (const [k, v] of Object.entries(dictionary ?? {})) out[k] = v
  for (const [k, v] of entries) {
    if (v === undefined) delete out[k]
    else out[k] = v
  }
  return out
}

const isEmpty = (dictionary: Dictionary) => Object.keys(dictionary).length === 0

type StoredCheckpoint = { readonly sequenceNumber: string; readonly subSequenceNumber: number } | { readonly shardEnd: true }

const emptyDocument = (): FileDocument => ({ format: "shardline-checkpoints", version: 1, applications: Object.create(null) })

const toStored = (c: Checkpoint): StoredCheckpoint =>
  c._tag === "ShardEnd" ? { shardEnd: true } : { sequenceNumber: c.sequenceNumber, subSequenceNumber: c.subSequenceNumber }

const fromStored = (s: unknown): Checkpoint | undefined => {
  if (typeof s !== "object" || s === null) return undefined
  const o = s as Record<string, unknown>
  if (o.shardEnd === true) return Checkpoint.shardEnd
  if (typeof o.sequenceNumber === "string" && /^\d+$/.test(o.sequenceNumber)) {
    const sub = o.subSequenceNumber ?? 0
    return typeof sub === "number" && Number.isInteger(sub) && sub >= 0 ? Checkpoint.sequence(o.sequenceNumber, sub) : undefined
  }
  return undefined
}

/** Every state file a document's pointers name: the files a sweep keeps. */
const namedStateFiles = (doc: FileDocument): ReadonlySet<string> => {
  const names = new Set<string>()
  for (const [applicationName, streams] of Object.entries(doc.states ?? {})) {
    if (!isDictionary(streams)) continue
    for (const [streamName, shards] of Object.entries(streams)) {
      if (!isDictionary(shards)) continue
      for (const [shardId, pointer] of Object.entries(shards)) {
        const version = pointerVersion(pointer)
        if (version !== undefined) names.add(stateFileName({ applicationName, streamName }, shardId, version))
      }
    }
  }
  return names
}

/**
 * A durable store in one JSON file. Every save writes a new file beside it, flushes it to disk and
 * renames it over the old one, so a crash leaves either the old or the new checkpoints, never a
 * torn file. Meant for one store (one process) per file; many workers share a lease table instead.
 *
 * Shard states are raw bytes in `<path>.state/<hash of scope and shard>.<version>.bin`: a save
 * writes and flushes the new versions first, then the JSON file naming them, then removes the
 * versions it replaced. A crash before the rename leaves versions no JSON names: loads never read
 * them, and the first save of the next store on the file removes them.
 */
export const makeFileStore = (options: FileCheckpointStoreOptions): Effect.Effect<CheckpointStoreApi> =>
  Effect.gen(function* () {
    const path = resolve(options.path)
    const name = `file:${path}`
    const fail = (operation: "load" | "save", reason: string, cause?: unknown) =>
      new CheckpointError({ operation, store: name, reason, cause })

    const read = (operation: "load" | "save") =>
      Effect.tryPromise({
        try: () => readFile(path, "utf8"),
        catch: (cause) => cause
      }).pipe(
        Effect.catchIf(isNotFound, () => Effect.succeed(undefined)),
        Effect.mapError((cause) => fail(operation, `cannot read the file: ${String(cause)}`, cause)),
        Effect.flatMap((text) => {
          if (text === undefined) return Effect.succeed(emptyDocument())
          return Effect.try({
            try: () => JSON.parse(text) as unknown,
            catch: (cause) => fail(operation, "the file is not valid JSON; fix or remove it", cause)
          }).pipe(
            Effect.filterOrFail(
              (doc): doc is FileDocument =>
                typeof doc === "object" &&
                doc !== null &&
                (doc as FileDocument).format === "shardline-checkpoints" &&
                (doc as FileDocument).version === 1 &&
                isDictionary((doc as FileDocument).applications),
              () => fail(operation, "the file is not a shardline checkpoint file (format version 1)")
            ),
            Effect.filterOrFail(
              (doc) => doc.states === undefined || isDictionary(doc.states),
              () => fail(operation, "the state pointers (`states`) of the file are malformed")
            )
          )
        })
      )

    const write = (doc: FileDocument) =>
      Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(path), { recursive: true })
          const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`
          try {
            const handle = await open(temp, "w")
            try {
              await handle.writeFile(JSON.stringify(doc, null, 2) + "\n", "utf8")
              await handle.sync()
            } finally {
              await handle.close()
            }
            await rename(temp, path)
          } catch (error) {
            await rm(temp, { force: true })
            throw error
          }
        },
        catch: (cause) => fail("save", `cannot write the file: ${String(cause)}`, cause)
      })

    // Saves are read-merge-write; one at a time so none is lost.
    const lock = yield* Effect.makeSemaphore(1)

    /** The shards of a scope under `root` (checkpoints or states), or a message saying what is malformed. */
    const shardsOf = (root: Dictionary | undefined, scope: CheckpointScope, what = ""): Dictionary | string => {
      const app = root === undefined ? undefined : own(root, scope.applicationName)
      if (app === undefined) return Object.create(null)
      if (!isDictionary(app)) return `the ${what}entry of application ${scope.applicationName} is malformed`
      const shards = own(app, scope.streamName)
      if (shards === undefined) return Object.create(null)
      if (!isDictionary(shards)) return `the ${what}entry of stream ${scope.streamName} is malformed`
      return shards
    }

    /** `root` with the shards of `scope` replaced; a scope left without shards is removed. */
    const withShards = (root: Dictionary | undefined, scope: CheckpointScope, shards: Dictionary | undefined) => {
      const app = root === undefined ? undefined : own(root, scope.applicationName)
      const streams = withEntries(isDictionary(app) ? app : undefined, [[scope.streamName, shards]])
      return withEntries(root, [[scope.applicationName, isEmpty(streams) ? undefined : streams]])
    }

    const folder = `${path}.state`
    const stateFile = (name: string) => join(folder, name)
    // Whether state files no JSON names may exist: after a restart (a crash may have left some)
    // and after a failed save or removal. The next successful save sweeps them.
    let unswept = true

    /** After a successful rename: makes it durable, then removes the versions it replaced. */
    const prune = (doc: FileDocument, replaced: ReadonlyArray<string>) =>
      Effect.promise(async () => {
        if (replaced.length === 0 && !unswept) return
        // The old versions may go only once no JSON file on disk can name them.
        await syncFolder(dirname(path))
        const removed = await removeFiles(replaced.map(stateFile))
        const swept = unswept ? await sweepStateFiles(folder, namedStateFiles(doc)) : true
        unswept = !(removed && swept)
      })

    const load = (scope: CheckpointScope) =>
      Effect.flatMap(read("load"), (doc) => {
        const shards = shardsOf(doc.applications, scope)
        if (typeof shards === "string") return Effect.fail(fail("load", shards))
        const out = new Map<string, Checkpoint>()
        for (const [shardId, stored] of Object.entries(shards)) {
          const checkpoint = fromStored(stored)
          if (checkpoint === undefined) {
            return Effect.fail(fail("load", `the checkpoint of shard ${shardId} is malformed`))
          }
          out.set(shardId, checkpoint)
        }
        return Effect.succeed(out as ReadonlyMap<string, Checkpoint>)
      })

    const save = (
      scope: CheckpointScope,
      checkpoints: ReadonlyMap<string, Checkpoint>,
      states: ReadonlyMap<string, Uint8Array> = new Map()
    ) =>
      // Uninterruptible once the lock is held: the files on disk and `unswept` must agree.
      lock.withPermits(1)(
        Effect.uninterruptible(
          Effect.flatMap(read("save"), (doc) => {
            const current = shardsOf(doc.applications, scope)
            if (typeof current === "string") return Effect.fail(fail("save", current))
            const currentStates = shardsOf(doc.states, scope, "state ")
            if (typeof currentStates === "string") return Effect.fail(fail("save", currentStates))

            const written: Array<readonly [string, Uint8Array]> = []
            const replaced: Array<string> = []
            const pointers: Array<readonly [string, StatePointer | undefined]> = []
            for (const [shardId, state] of states) {
              const previous = pointerVersion(own(currentStates, shardId))
              if (previous !== undefined) replaced.push(stateFileName(scope, shardId, previous))
              if (state.byteLength === 0) {
                pointers.push([shardId, undefined])
                continue
              }
              // A copy, so the checksum is of the bytes written whatever the caller does meanwhile.
              const bytes = new Uint8Array(state)
              const version = (previous ?? 0) + 1
              written.push([stateFileName(scope, shardId, version), bytes])
              pointers.push([shardId, { version, bytes: bytes.byteLength, sha256: sha256(bytes) }])
            }

            const shards = withEntries(current, [...checkpoints].map(([shardId, c]) => [shardId, toStored(c)] as const))
            const applications = withShards(doc.applications, scope, shards)
            const stateShards = withEntries(currentStates, pointers)
            const next: FileDocument =
              pointers.length === 0
                ? { ...doc, applications }
                : { ...doc, applications, states: withShards(doc.states, scope, isEmpty(stateShards) ? undefined : stateShards) }

            const writeStates = Effect.tryPromise({
              try: async () => {
                if (written.length === 0) return
                await mkdir(folder, { recursive: true })
                await writeStateFiles(folder, written)
              },
              catch: (cause) => fail("save", `cannot write a state file: ${String(cause)}`, cause)
            })
            return Effect.zipRight(writeStates, write(next)).pipe(
              // No JSON file names the new versions: remove them, or leave them to the next sweep.
              Effect.tapError(() =>
                Effect.promise(async () => {
                  unswept = true
                  await removeFiles(written.map(([file]) => stateFile(file)))
                })
              ),
              Effect.zipRight(prune(next, replaced))
            )
          })
        )
      )

    const loadState = (scope: CheckpointScope, shardId: string) =>
      // Under the lock, so a save cannot remove the version named by the JSON file just read.
      lock.withPermits(1)(
        Effect.flatMap(read("load"), (doc): Effect.Effect<Uint8Array | undefined, CheckpointError> => {
          const shards = shardsOf(doc.states, scope, "state ")
          if (typeof shards === "string") return Effect.fail(fail("load", shards))
          const stored = own(shards, shardId)
          if (stored === undefined) return Effect.succeed(undefined)
          const pointer = fromStoredPointer(stored)
          if (pointer === undefined) return Effect.fail(fail("load", `the state pointer of shard ${shardId} is malformed`))
          const file = stateFile(stateFileName(scope, shardId, pointer.version))
          return Effect.tryPromise({
            try: () => readStateFile(file, pointer),
            catch: (cause) => fail("load", `cannot read the state of shard ${shardId} from ${file}: ${String(cause)}`, cause)
          }).pipe(
            Effect.flatMap((state) =>
              typeof state === "string"
                ? Effect.fail(fail("load", `the state of shard ${shardId} cannot be loaded: ${state}`))
                : Effect.succeed(state)
            )
          )
        })
      )

    return { name, load, save, loadState }
  })
