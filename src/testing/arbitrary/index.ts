/**
 * fast-check arbitraries for any protobuf-es message, built by reflection over its descriptor.
 * @module
 */
export { arbitraryMessage, type ArbitraryMessageOptions, type FieldOverrides } from "./arbitraryMessage.js"
