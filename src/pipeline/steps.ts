import { type StreamRecord, withValue } from "./Batch.js"

/** What a record step answers to leave the record out (a filter). */
export const skip: unique symbol = Symbol.for("shardline/skip")

/**
 * A per-record operator (`map`, `filter`, `keyBy`) that can run inside the decode loop: the
 * decoded message then lives only while its record is handled, not for the whole batch, which
 * keeps garbage collection cheap (measured in bench/stateful.bench.ts).
 */
export type RecordStep = (value: any, record: StreamRecord<any>) => unknown

/** Runs the steps on one record; the record as it comes out, or undefined when a step left it out. */
export const throughSteps = (record: StreamRecord<any>, steps: ReadonlyArray<RecordStep>): StreamRecord<any> | undefined => {
  let current = record
  for (let i = 0; i < steps.length; i++) {
    const value = steps[i]!(current.value, current)
    if (value === skip) return undefined
    current = withValue(current, value)
  }
  return current
}

/** The steps over a batch of records already decoded. */
export const applySteps = (records: ReadonlyArray<StreamRecord<any>>, steps: ReadonlyArray<RecordStep>): Array<StreamRecord<any>> => {
  const out: Array<StreamRecord<any>> = []
  for (const r of records) {
    const next = throughSteps(r, steps)
    if (next !== undefined) out.push(next)
  }
  return out
}
