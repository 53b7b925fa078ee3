import type { DescMessage } from "@bufbuild/protobuf"
import type { ImportSymbol, Printable } from "@bufbuild/protoplugin"
import type { Lines } from "./emit.js"

/** The runtime helpers generated code may call (exports of shardline's `FastRuntime`). */
export type Helper =
  | "FastReader"
  | "varint32"
  | "tag"
  | "int64"
  | "uint64"
  | "sint64"
  | "bool"
  | "fixed32"
  | "sfixed32"
  | "fixed64"
  | "sfixed64"
  | "float"
  | "double"
  | "utf8"
  | "skip"
  | "unknownEnum"
  | "eof"
  | "illegalTag"
  | "invalidEndGroup"
  | "tooDeep"
  | "maxDepth"
  | "zero64"
  | "structToJson"
  | "jsonToStruct"
  | "pick"

/** What the code for one message needs from the file it is generated into. */
export interface FileContext {
  /** The local name of a runtime helper, marking it used. */
  readonly helper: (name: Helper) => string
  /** The `FastRuntime` namespace, for its types. */
  readonly runtimeTypes: ImportSymbol
  readonly shape: (desc: DescMessage) => ImportSymbol
  readonly schema: (desc: DescMessage) => ImportSymbol
  readonly create: ImportSymbol
  readonly unknownField: ImportSymbol
  /** The reader function of a message type: defined in this file or imported from another generated one. */
  readonly reader: (desc: DescMessage) => Printable
  /** The constant holding protobuf-es's prototype for messages of this type. */
  readonly prototype: (desc: DescMessage) => string
}

/** The state of emitting one reader function body. */
export interface BodyContext {
  readonly file: FileContext
  readonly out: Lines
  /** Set when the body reads `len` (the buffer length). */
  usesLength: boolean
}
