import { createHash } from "node:crypto"
import { open, readdir, readFile, rm } from "node:fs/promises"
import { join } from "node:path"
import type { CheckpointScope } from "./Checkpoint.js"

// The file store keeps operator states as raw bytes, one file per (scope, shard) per version, in
// `<path>.state/`. The JSON file names the version per shard (a "state pointer"), so a state file
// counts only once a JSON file naming it has been renamed into place.

/** What the JSON file records of a shard's state: which file, and what it must hold. */
export interface StatePointer {
  readonly version: number
  readonly bytes: number
  readonly sha256: string
}

/** `<hash of scope and shard>.<version>.bin`; hashed because shard and stream names are not file names. */
export const stateFileName = (scope: CheckpointScope, shardId: string, version: number): string =>
  `${shardKey(scope, shardId)}.${version}.bin`

const shardKey = (scope: CheckpointScope, shardId: string) =>
  createHash("sha256")
    .update(JSON.stringify([scope.applicationName, scope.streamName, shardId]))
    .digest("hex")
    .slice(0, 32)

const stateFilePattern = /^[0-9a-f]{32}\.\d+\.bin$/

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** The version named by a stored pointer, if it names one: enough to know which file it keeps alive. */
export const pointerVersion = (u: unknown): number | undefined => {
  if (typeof u !== "object" || u === null) return undefined
  const version = (u as Record<string, unknown>).version
  return typeof version === "number" && Number.isSafeInteger(version) && version > 0 ? version : undefined
}

export const fromStoredPointer = (u: unknown): StatePointer | undefined => {
  const version = pointerVersion(u)
  if (version === undefined) return undefined
  const { bytes, sha256 } = u as Record<string, unknown>
  return typeof bytes === "number" && Number.isSafeInteger(bytes) && bytes > 0 && typeof sha256 === "string" && /^[0-9a-f]{64}$/.test(sha256)
    ? { version, bytes, sha256 }
    : undefined
}

/** Opens, writes and fsyncs each file; then fsyncs the folder so their names are durable too. */
export const writeStateFiles = async (folder: string, files: ReadonlyArray<readonly [name: string, bytes: Uint8Array]>) => {
  // A bounded number at a time: one save may carry the states of hundreds of shards.
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(
      files.slice(i, i + 16).map(async ([name, bytes]) => {
        const handle = await open(join(folder, name), "w")
        try {
          await handle.writeFile(bytes)
          await handle.sync()
        } finally {
          await handle.close()
        }
      })
    )
  }
  await syncFolder(folder)
}

/**
 * Flushes a folder's entries (new names, renames) to disk. Best effort: some platforms (Windows)
 * cannot open a folder, and there is nothing better to do there.
 */
export const syncFolder = async (folder: string) => {
  let handle
  try {
    handle = await open(folder, "r")
    await handle.sync()
  } catch {
    // See above.
  } finally {
    await handle?.close().catch(() => undefined)
  }
}

/** Reads a state file and checks it against its pointer; a string says what is wrong. */
export const readStateFile = async (file: string, pointer: StatePointer): Promise<Uint8Array | string> => {
  let buffer: Buffer
  try {
    buffer = await readFile(file)
  } catch (error) {
    if (isNotFound(error)) return `its state file ${file} is missing`
    throw error
  }
  if (buffer.byteLength < pointer.bytes) return `its state file ${file} is short: ${buffer.byteLength} of ${pointer.bytes} bytes`
  if (buffer.byteLength > pointer.bytes) return `its state file ${file} is ${buffer.byteLength} bytes, ${pointer.bytes} expected`
  if (sha256(buffer) !== pointer.sha256) return `its state file ${file} does not match its checksum`
  return new Uint8Array(buffer)
}

/** Removes files, ignoring any that cannot be removed; answers whether all were. */
export const removeFiles = async (files: ReadonlyArray<string>): Promise<boolean> => {
  const results = await Promise.allSettled(files.map((file) => rm(file, { force: true })))
  return results.every((r) => r.status === "fulfilled")
}

/**
 * Removes every state file in the folder that `keep` does not name: versions left behind by a
 * crash or a failed save. Files that are not state files are left alone.
 */
export const sweepStateFiles = async (folder: string, keep: ReadonlySet<string>): Promise<boolean> => {
  let names: Array<string>
  try {
    names = await readdir(folder)
  } catch (error) {
    if (isNotFound(error)) return true
    return false
  }
  return removeFiles(names.filter((name) => stateFilePattern.test(name) && !keep.has(name)).map((name) => join(folder, name)))
}

export const isNotFound = (e: unknown) => typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT"
