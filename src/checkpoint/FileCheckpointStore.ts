import { randomBytes } from "node:crypto"
import { mkdir, open, readFile, rename, rm } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect } from "effect"
import { Checkpoint, CheckpointError, type CheckpointScope } from "./Checkpoint.js"
import type { CheckpointStoreApi } from "./CheckpointStore.js"

/** Options of the file-backed checkpoint store. */
export interface FileCheckpointStoreOptions {
  /** The JSON file; its folder is created if missing. */
  readonly path: string
}

/** On disk: application -> stream -> shard -> position. */
interface FileDocument {
  readonly format: "shardline-checkpoints"
  readonly version: 1
  readonly applications: Dictionary
}

type Dictionary = Record<string, unknown>

const isDictionary = (u: unknown): u is Dictionary => typeof u === "object" && u !== null && !Array.isArray(u)

// Names come from users and AWS ("__proto__" and "constructor" are valid stream names): only own
// properties are read, and objects are written without a prototype.
const own = (dictionary: Dictionary, key: string): unknown =>
  Object.hasOwn(dictionary, key) ? dictionary[key] : undefined

const withEntries = (dictionary: Dictionary | undefined, entries: ReadonlyArray<readonly [string, unknown]>): Dictionary => {
  const out: Dictionary = Object.create(null)
  for (const [k, v] of Object.entries(dictionary ?? {})) out[k] = v
  for (const [k, v] of entries) out[k] = v
  return out
}

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

const isNotFound = (e: unknown) => typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT"

/**
 * A durable store in one JSON file. Every save writes a new file beside it, flushes it to disk and
 * renames it over the old one, so a crash leaves either the old or the new checkpoints, never a
 * torn file. Meant for one process per file; many workers share a lease table instead.
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

    /** The shards of a scope in a document, or a message saying what is malformed. */
    const shardsOf = (doc: FileDocument, scope: CheckpointScope): Dictionary | string => {
      const app = own(doc.applications, scope.applicationName)
      if (app === undefined) return Object.create(null)
      if (!isDictionary(app)) return `the entry of application ${scope.applicationName} is malformed`
      const shards = own(app, scope.streamName)
      if (shards === undefined) return Object.create(null)
      if (!isDictionary(shards)) return `the entry of stream ${scope.streamName} is malformed`
      return shards
    }

    const load = (scope: CheckpointScope) =>
      Effect.flatMap(read("load"), (doc) => {
        const shards = shardsOf(doc, scope)
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

    const save = (scope: CheckpointScope, checkpoints: ReadonlyMap<string, Checkpoint>) =>
      lock.withPermits(1)(
        Effect.flatMap(read("save"), (doc) => {
          const current = shardsOf(doc, scope)
          if (typeof current === "string") return Effect.fail(fail("save", current))
          const shards = withEntries(current, [...checkpoints].map(([shardId, c]) => [shardId, toStored(c)] as const))
          const app = own(doc.applications, scope.applicationName)
          const applications = withEntries(doc.applications, [
            [scope.applicationName, withEntries(isDictionary(app) ? app : undefined, [[scope.streamName, shards]])]
          ])
          return write({ ...doc, applications })
        })
      )

    return { name, load, save }
  })
