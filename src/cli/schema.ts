import { isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { type DescMessage, toJsonString } from "@bufbuild/protobuf"
import { Data, Effect } from "effect"
import { Codec } from "../codec/index.js"

/** `--schema module#Export` could not be loaded or is not a schema. */
export class SchemaLoadError extends Data.TaggedError("SchemaLoadError")<{
  readonly spec: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Cannot use --schema ${this.spec}: ${this.reason}`
  }
}

/** How tail turns a record's bytes into text: a codec, and how to show what it decodes. */
export interface RecordFormat {
  readonly codec: Codec<unknown>
  readonly show: (value: unknown) => string
}

const isMessageSchema = (u: unknown): u is DescMessage =>
  typeof u === "object" && u !== null && (u as { kind?: unknown }).kind === "message" &&
  typeof (u as { typeName?: unknown }).typeName === "string"

const isCodec = (u: unknown): u is Codec<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { decode?: unknown }).decode === "function" &&
  typeof (u as { name?: unknown }).name === "string"

/** JSON for anything a codec may answer: bigints as strings, bytes as base64 (protobuf JSON's choices). */
export const plainJson = (value: unknown, pretty: boolean): string =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return v.toString()
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")
    return v
  }, pretty ? 2 : undefined) ?? "null"

const protobufJson = (schema: DescMessage, value: unknown, pretty: boolean): string => {
  try {
    return toJsonString(schema, value as never, { prettySpaces: pretty ? 2 : 0 })
  } catch {
    // e.g. a google.protobuf.Any whose type is not known here
    return plainJson(value, pretty)
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
// Text that prints as one line: no C0 controls (tab included), no DEL.
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f]/

/**
 * Raw records: their UTF-8 text when they are valid UTF-8 without control characters (one line
 * each), else `base64:` and the bytes in base64. `base64`: always plain base64.
 */
export const rawFormat = (base64: boolean): RecordFormat => ({
  codec: Codec.bytes as Codec<unknown>,
  show: (value) => {
    const bytes = value as Uint8Array
    const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
    if (base64) return b64
    try {
      const text = utf8.decode(bytes)
      return controls.test(text) ? `base64:${b64}` : text
    } catch {
      return `base64:${b64}`
    }
  }
})

/** Records as JSON text. */
export const jsonFormat = (pretty: boolean): RecordFormat => ({
  codec: Codec.json(),
  show: (value) => plainJson(value, pretty)
})

const loadFailure = (spec: string, path: string, cause: unknown): SchemaLoadError => {
  const code = (cause as { code?: unknown } | null)?.code
  if (code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[cm]?tsx?$/.test(path)) {
    return new SchemaLoadError({
      spec,
      reason: `${path} is TypeScript, which plain node cannot load: point --schema at the compiled .js (e.g. the _pb.js tsc writes next to it), or run shardline under tsx`,
      cause
    })
  }
  if (code === "ERR_MODULE_NOT_FOUND" && String((cause as Error).message).includes(path)) {
    return new SchemaLoadError({ spec, reason: `no module at ${path} (paths are relative to the current directory)`, cause })
  }
  const detail = cause instanceof Error ? cause.message.split("\n")[0] : String(cause)
  return new SchemaLoadError({ spec, reason: `loading ${path} failed: ${detail}`, cause })
}

/**
 * Loads `path/to/module.js#Export` (relative to `cwd`): a protobuf-es message schema (the
 * `XxxSchema` of a generated `_pb.js`) or a shardline `Codec` (e.g. the `XxxCodec` of a
 * `_shardline.js`). Values are shown as protobuf JSON when their schema is known.
 */
export const loadSchemaFormat = (spec: string, pretty: boolean, cwd: string = process.cwd()): Effect.Effect<RecordFormat, SchemaLoadError> =>
  Effect.gen(function* () {
    const hash = spec.lastIndexOf("#")
    if (hash <= 0 || hash === spec.length - 1) {
      return yield* new SchemaLoadError({ spec, reason: "expected module#Export, e.g. ./gen/acme/orders/v1/orders_pb.js#OrderPlacedSchema" })
    }
    const modulePath = spec.slice(0, hash)
    const exportName = spec.slice(hash + 1)
    const path = isAbsolute(modulePath) ? modulePath : resolve(cwd, modulePath)
    const namespace = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>,
      catch: (cause) => loadFailure(spec, path, cause)
    })
    const schemas = new Map<string, DescMessage>()
    for (const value of Object.values(namespace)) if (isMessageSchema(value)) schemas.set(value.typeName, value)
    const found = namespace[exportName]
    if (found === undefined) {
      const candidates = Object.entries(namespace).filter(([, v]) => isMessageSchema(v) || isCodec(v)).map(([k]) => k)
      return yield* new SchemaLoadError({
        spec,
        reason: `${path} has no export ${exportName}${candidates.length === 0 ? " (and exports no message schema or codec)" : `; it exports ${candidates.join(", ")}`}`
      })
    }
    if (isMessageSchema(found)) {
      return { codec: Codec.protobuf(found) as Codec<unknown>, show: (value) => protobufJson(found, value, pretty) }
    }
    if (isCodec(found)) {
      return {
        codec: found,
        show: (value) => {
          // A generated codec answers messages: their schema, when the module exports it, gives protobuf JSON.
          const typeName = (value as { $typeName?: unknown } | null)?.$typeName
          const schema = typeof typeName === "string" ? schemas.get(typeName) : undefined
          return schema === undefined ? plainJson(value, pretty) : protobufJson(schema, value, pretty)
        }
      }
    }
    return yield* new SchemaLoadError({
      spec,
      reason: `${exportName} is neither a protobuf message schema (a DescMessage such as OrderPlacedSchema from a _pb.js) nor a shardline Codec`
    })
  })
