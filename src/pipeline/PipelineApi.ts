/** The pipeline's constructors and operators, exported together as `Pipeline`. */
import type { Pipeline as PipelineType } from "./Pipeline.js"

export { arrivalTime, reduceByKeyAndEventTimeWindow } from "./eventTime.js"
export { countByKey, groupByKey, keyBy, reduceByKey } from "./keyed.js"
export { mapWithState, updateStateByKey } from "./keyedState.js"
export { merge, merge as union } from "./merge.js"
export { batchItemFailures } from "./sinkFailures.js"
export { filter, flatMap, foreachBatch, fromKinesis, map, mapEffect } from "./Pipeline.js"
export { countByWindow, reduceByKeyAndWindow, reduceByWindow, window } from "./windows.js"

/**
 * A micro-batch pipeline over a Kinesis stream, as `Pipeline.Pipeline<A, E, R>`. (An alias, not a
 * re-export: bundled declaration files turn a re-exported type inside a namespace into a value.)
 */
export type Pipeline<A, E = never, R = never> = PipelineType<A, E, R>
