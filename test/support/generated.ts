import { createRegistry, type DescFile, type DescMessage, type Message } from "@bufbuild/protobuf"
import { nestedTypes } from "@bufbuild/protobuf/reflect"
import {
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers
} from "@bufbuild/protobuf/wkt"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Codec } from "../../src/codec/index.js"

/** A message type of gen/ with what protoc-gen-shardline generated for it. */
export interface Generated {
  readonly schema: DescMessage
  readonly decode: (bytes: Uint8Array) => Message
  readonly codec: Codec<Message>
  /** `pick<Name>`: a codec reading only the named fields and oneofs. */
  readonly pick: (...fields: ReadonlyArray<string>) => Codec<Message>
}

const genDir = fileURLToPath(new URL("../../gen/", import.meta.url))
const paths = readdirSync(genDir, { recursive: true, encoding: "utf8" }).filter((path) => path.endsWith("_pb.ts"))
const load = (path: string): Promise<Record<string, unknown>> => import(pathToFileURL(join(genDir, path)).href)

const isFile = (value: unknown): value is DescFile =>
  typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "file"
const isMessageDesc = (value: unknown): value is DescMessage =>
  typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "message"

// One file after the other: gen/shardline/kpl is in an import cycle with "shardline" (src/kpl
// decodes with it), and vite-node deadlocks when two imports enter one cycle at the same time.
const modules: Array<{ readonly pb: Record<string, unknown>; readonly fast: Record<string, unknown> }> = []
for (const path of paths) {
  modules.push({
    pb: await load(path),
    // A file with messages has its `_shardline.ts` next to its `_pb.ts`.
    fast: await load(path.replace(/_pb\.ts$/, "_shardline.ts")).catch(() => ({}) as Record<string, unknown>)
  })
}

/** Every file of gen/, so a new .proto file is covered without touching the tests. */
export const schemaFiles: ReadonlyArray<DescFile> = modules.flatMap(({ pb }) => Object.values(pb).filter(isFile))

/** Every message of gen/, nested ones included. */
export const schemas: ReadonlyArray<DescMessage> = schemaFiles.flatMap((file) =>
  [...nestedTypes(file)].filter((t): t is DescMessage => t.kind === "message")
)

/** Each message with its `decode<Name>`, `<Name>Codec` and `pick<Name>`, paired by the name of its `<Name>Schema` export. */
export const generated: ReadonlyArray<Generated> = modules.flatMap(({ fast, pb }) =>
  Object.entries(pb).flatMap(([exportName, schema]) => {
    if (!isMessageDesc(schema) || !exportName.endsWith("Schema")) return []
    const name = exportName.slice(0, -"Schema".length)
    const decode = fast[`decode${name}`]
    const codec = fast[`${name}Codec`]
    const pick = fast[`pick${name}`]
    if (typeof decode !== "function" || codec === undefined || typeof pick !== "function") return []
    return [{ schema, decode: decode as Generated["decode"], codec: codec as Codec<Message>, pick: pick as Generated["pick"] }]
  })
)

/** What an Any may pack: our messages and the well-known types. */
export const registry = createRegistry(
  ...schemaFiles,
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers
)
