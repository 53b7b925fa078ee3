/**
 * An embedded Kinesis emulator for local runs and integration tests.
 * @module
 */
export {
  EmulatorStartError,
  LocalKinesis,
  type LocalKinesisError,
  type LocalKinesisInstance,
  type LocalKinesisOptions,
  type LocalStream
} from "./LocalKinesis.js"
export { MissingDependency } from "../internal/optionalDependency.js"
