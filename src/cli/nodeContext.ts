import { readFile, stat } from "node:fs/promises"
import { FileSystem, Path, Terminal } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import { Effect, Layer, Option } from "effect"

// What @effect/cli needs from the platform (CliApp.Environment), without @effect/platform-node:
// its peers would pull @effect/cluster, rpc and sql into every install. The CLI has no prompts
// and no config files, so only what option parsing calls is real: `exists` and `stat` (file
// options), `readFile` / `readFileString`; the rest fails with "not supported".

const systemError = (method: string, path: string, cause: unknown) =>
  new SystemError({
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    reason: (cause as { code?: unknown } | null)?.code === "ENOENT" ? "NotFound" : "Unknown",
    description: cause instanceof Error ? cause.message : String(cause),
    cause
  })

const typeOf = (s: import("node:fs").Stats): FileSystem.File.Type =>
  s.isFile() ? "File" : s.isDirectory() ? "Directory" : s.isSymbolicLink() ? "SymbolicLink" : s.isFIFO() ? "FIFO"
    : s.isSocket() ? "Socket" : s.isBlockDevice() ? "BlockDevice" : s.isCharacterDevice() ? "CharacterDevice" : "Unknown"

const fileSystem = FileSystem.makeNoop({
  exists: (path) => Effect.promise(() => stat(path).then(() => true, () => false)),
  stat: (path) =>
    Effect.tryPromise({ try: () => stat(path), catch: (cause) => systemError("stat", path, cause) }).pipe(
      Effect.map((s): FileSystem.File.Info => ({
        type: typeOf(s),
        mtime: Option.some(s.mtime),
        atime: Option.some(s.atime),
        birthtime: Option.some(s.birthtime),
        dev: s.dev,
        ino: Option.some(s.ino),
        mode: s.mode,
        nlink: Option.some(s.nlink),
        uid: Option.some(s.uid),
        gid: Option.some(s.gid),
        rdev: Option.some(s.rdev),
        size: FileSystem.Size(s.size),
        blksize: Option.some(FileSystem.Size(s.blksize)),
        blocks: Option.some(s.blocks)
      }))
    ),
  readFile: (path) =>
    Effect.tryPromise({ try: () => readFile(path), catch: (cause) => systemError("readFile", path, cause) }).pipe(
      Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))
    ),
  readFileString: (path) =>
    Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (cause) => systemError("readFileString", path, cause) })
})

const noPrompts = Effect.dieMessage("shardline has no interactive prompts (the CLI never reads from the terminal)")

const terminal: Terminal.Terminal = {
  columns: Effect.sync(() => process.stdout.columns ?? 80),
  rows: Effect.sync(() => process.stdout.rows ?? 24),
  isTTY: Effect.sync(() => process.stdout.isTTY === true),
  readInput: noPrompts,
  readLine: noPrompts,
  display: (text) => Effect.sync(() => void process.stdout.write(text))
}

/** FileSystem, Path and Terminal for @effect/cli on Node (`CliApp.Environment`). */
export const nodeContext: Layer.Layer<FileSystem.FileSystem | Path.Path | Terminal.Terminal> = Layer.mergeAll(
  Layer.succeed(FileSystem.FileSystem, fileSystem),
  Path.layer,
  Layer.succeed(Terminal.Terminal, terminal)
)
