/**
 * Codecs turn a Kinesis record's bytes into typed values: binary protobuf and protobuf JSON
 * through protobuf-es schemas, plus UTF-8 text, raw bytes and plain JSON. Decoding returns an
 * `Either`, so a batch decodes in a plain loop; failures are {@link DecodeError}s that say which
 * record failed and why without quoting its bytes.
 *
 * @example
 * ```ts
 * import { Codec } from "shardline"
 * import { PageViewSchema } from "./gen/clickstream_pb.js"
 *
 * const pageViews = Codec.protobuf(PageViewSchema) // Codec<PageView>
 * const result = pageViews.decode(record.data, { shardId, sequenceNumber: record.sequenceNumber })
 * ```
 * @module
 */
export { Codec, type DecodeContext, type ProtobufJsonOptions, type ProtobufOptions } from "./Codec.js"
export { DecodeError } from "./DecodeError.js"
