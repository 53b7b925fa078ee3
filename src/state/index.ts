/**
 * Operator state per shard: how windows and keyed state are kept, committed with the shard's
 * checkpoint, and handed to child shards on resharding.
 * @module
 */
export { StateRestoreError } from "./errors.js"
export { hashKeyOf, type HashRange, routesTo } from "./routing.js"
