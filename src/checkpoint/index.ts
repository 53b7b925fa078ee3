/**
 * Checkpoints: where each shard's position is kept so a restarted pipeline resumes where it left off.
 * @module
 */
export { Checkpoint, CheckpointError, type CheckpointScope } from "./Checkpoint.js"
export { CheckpointStore, type CheckpointStoreApi, makeMemoryStore } from "./CheckpointStore.js"
export { type FileCheckpointStoreOptions, makeFileStore } from "./FileCheckpointStore.js"
