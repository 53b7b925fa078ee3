/**
 * The test kit, published as `shardline/testing`: an in-memory Kinesis, pipeline runs on the test
 * clock, and fault injection with a
 * call log for any Kinesis service. Production code never imports it.
 * @module
 */
export {
  type CallOutcome,
  type FaultCall,
  type FaultRule,
  Faults,
  KinesisCalls,
  type RecordedCall
} from "./faults.js"
export {
  MemoryKinesis,
  type MemoryKinesisHandle,
  type MemoryKinesisOptions
} from "./MemoryKinesis.js"
export {
  PipelineNotDrained,
  PipelineTest,
  type PipelineTestOptions,
  type TestRecord
} from "./PipelineTest.js"
