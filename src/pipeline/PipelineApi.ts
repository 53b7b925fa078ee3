/** The pipeline's constructors and operators, exported together as `Pipeline`. */
export { filter, flatMap, foreachBatch, fromKinesis, map, mapEffect } from "./Pipeline.js"
export type { Pipeline } from "./Pipeline.js"
