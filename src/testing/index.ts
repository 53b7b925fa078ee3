/**
 * The test kit, published as `shardline/testing` (needs `fast-check` installed): an in-memory
 * Kinesis, pipeline runs on the test clock, fast-check arbitraries for any protobuf message, and
 * seeded fault injection with a call log for any Kinesis service. Production code never imports it.
 * @module
 */
export { arbitraryMessage, type ArbitraryMessageOptions, type FieldOverrides } from "./arbitrary/index.js"
export {
  arbitraryFaultPlan,
  arbitraryScenarioPlan,
  type FaultPlanArbitraryOptions,
  type ScenarioPlanArbitraryOptions
} from "./faultArbitrary.js"
export { checkFaultPlan, checkScenarioPlan } from "./faultCheck.js"
export {
  type Crash,
  type FailedEntries,
  type FaultKind,
  type FaultKindTag,
  type FaultPlan,
  type FaultSpec,
  isInjected,
  type PutEntryErrorCode,
  type ScenarioPlan
} from "./faultPlan.js"
export {
  type CallFilter,
  type CallOutcome,
  type FaultCall,
  type FaultRule,
  Faults,
  KinesisCalls,
  type RecordedCall,
  type WrappedKinesis
} from "./faults.js"
export { type ThroughputLimits } from "./memoryLimits.js"
export { MemoryKinesis, type MemoryKinesisHandle, type MemoryKinesisOptions } from "./MemoryKinesis.js"
export { PipelineNotDrained, PipelineTest, type PipelineTestOptions, type TestRecord } from "./PipelineTest.js"
