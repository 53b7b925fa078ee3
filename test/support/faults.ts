export const shard0 = "shardId-000000000000"

/** Calls as "Operation:outcome", for comparing call logs at a glance. */
export const outcomes = (calls: ReadonlyArray<{ readonly operation: string; readonly outcome: string }>) =>
  calls.map((c) => `${c.operation}:${c.outcome}`)
