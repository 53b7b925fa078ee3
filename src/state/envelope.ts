import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { deserialize, serialize } from "node:v8"
import { ShardStateSchema } from "../../gen/shardline/state/v1/state_pb.js"

/** The envelope format written now; a newer one is refused on restore. */
export const stateFormat = 1

/** One stateful operator's snapshot for a shard, as plain data. */
export interface StageSnapshot {
  readonly index: number
  readonly kind: string
  readonly data: unknown
}

/**
 * Encodes a shard's operator snapshots: a protobuf envelope (`shardline.state.v1.ShardState`)
 * around each operator's plain data in Node's structured serialization, which keeps numbers,
 * bigints, strings, Dates, Maps, byte arrays and protobuf-es messages (plain objects) as they are.
 */
export const encodeShardState = (stages: ReadonlyArray<StageSnapshot>): Uint8Array =>
  toBinary(
    ShardStateSchema,
    create(ShardStateSchema, {
      format: stateFormat,
      stages: stages.map((s) => ({ index: s.index, kind: s.kind, data: new Uint8Array(serialize(s.data)) }))
    })
  )

/** Decodes {@link encodeShardState}'s bytes; throws on bytes that are not a state envelope. */
export const decodeShardState = (bytes: Uint8Array): { readonly format: number; readonly stages: ReadonlyArray<StageSnapshot> } => {
  const state = fromBinary(ShardStateSchema, bytes)
  return {
    format: state.format,
    stages: state.stages.map((s) => ({ index: s.index, kind: s.kind, data: deserialize(s.data) }))
  }
}
