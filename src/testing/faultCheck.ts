/** Checks fault plans built by hand or read from JSON, naming the field that is wrong. */
import { Effect } from "effect"
import { InvalidOption } from "../config/index.js"
import type { KinesisOperation } from "../kinesis/index.js"
import {
  type FaultKindTag,
  faultKindTags,
  type FaultPlan,
  kinesisOperations,
  onlyOperation,
  type ScenarioPlan
} from "./faultPlan.js"

const show = (value: unknown): string => {
  if (typeof value === "number" || typeof value === "bigint" || value === undefined) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return typeof value
  }
}

type Check = InvalidOption | undefined

const bad = (option: string, given: unknown, expected: string): InvalidOption =>
  new InvalidOption({ option, given: show(given), expected })

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

const wholeAtLeast0 = (option: string, value: unknown): Check =>
  Number.isSafeInteger(value) && (value as number) >= 0 ? undefined : bad(option, value, "a whole number >= 0")

const rateOf = (option: string, value: unknown): Check =>
  typeof value === "number" && value >= 0 && value <= 1 ? undefined : bad(option, value, "a number from 0 to 1")

const millisOf = (option: string, value: unknown): Check =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? undefined : bad(option, value, "milliseconds >= 0")

const optionalBoolean = (option: string, value: unknown): Check =>
  value === undefined || typeof value === "boolean" ? undefined : bad(option, value, "a boolean")

const indexList = (option: string, value: unknown): Check => {
  if (!Array.isArray(value)) return bad(option, value, "an array of whole numbers >= 0")
  for (const [i, n] of value.entries()) {
    const problem = wholeAtLeast0(`${option}[${i}]`, n)
    if (problem) return problem
  }
  return undefined
}

const checkKind = (path: string, kind: Record<string, unknown>): Check => {
  switch (kind._tag as FaultKindTag) {
    case "Latency":
      return millisOf(`${path}.ms`, kind.ms)
    case "Timeout":
      return optionalBoolean(`${path}.lostResponse`, kind.lostResponse) ?? millisOf(`${path}.afterMs`, kind.afterMs)
    case "ConnectionReset":
      return optionalBoolean(`${path}.reachedService`, kind.reachedService) ?? millisOf(`${path}.afterMs`, kind.afterMs)
    case "AwsError":
      if (typeof kind.name !== "string" || kind.name === "") return bad(`${path}.name`, kind.name, "an exception name")
      return kind.fault === undefined || kind.fault === "client" || kind.fault === "server"
        ? undefined
        : bad(`${path}.fault`, kind.fault, `"client" or "server"`)
    case "FailedPutEntries": {
      const { entries, errorCode } = kind
      const codes: ReadonlyArray<unknown> = [undefined, "ProvisionedThroughputExceededException", "InternalFailure"]
      if (!codes.includes(errorCode)) {
        return bad(`${path}.errorCode`, errorCode, `"ProvisionedThroughputExceededException" or "InternalFailure"`)
      }
      if (entries === "one") return undefined
      if (Array.isArray(entries)) return indexList(`${path}.entries`, entries)
      return isRecord(entries)
        ? rateOf(`${path}.entries.rate`, entries.rate)
        : bad(`${path}.entries`, entries, `"one", an array of entry indexes or { rate }`)
    }
    default:
      return undefined
  }
}

const checkSpec = (path: string, spec: unknown): Check => {
  if (!isRecord(spec)) return bad(path, spec, "a fault: { operation, kind, at?, times?, rate? }")
  const { at, kind, operation, rate, shardId, streamName, times } = spec
  if (operation !== "*" && !kinesisOperations.includes(operation as KinesisOperation)) {
    return bad(`${path}.operation`, operation, `"*" or one of ${kinesisOperations.join(", ")}`)
  }
  if (at !== undefined) {
    const problem = indexList(`${path}.at`, at)
    if (problem) return problem
  }
  if (times !== undefined) {
    const problem = wholeAtLeast0(`${path}.times`, times)
    if (problem) return problem
  }
  if (rate !== undefined) {
    const problem = rateOf(`${path}.rate`, rate)
    if (problem) return problem
  }
  for (const [name, value] of [["streamName", streamName], ["shardId", shardId]] as const) {
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      return bad(`${path}.${name}`, value, "a non-empty string")
    }
  }
  if (!isRecord(kind) || !faultKindTags.includes(kind._tag as FaultKindTag)) {
    return bad(`${path}.kind._tag`, isRecord(kind) ? kind._tag : kind, `one of ${faultKindTags.join(", ")}`)
  }
  const problem = checkKind(`${path}.kind`, kind)
  if (problem) return problem
  const only = onlyOperation[kind._tag as FaultKindTag]
  return only === undefined || operation === only
    ? undefined
    : bad(`${path}.operation`, operation, `"${only}" for ${String(kind._tag)}`)
}

const planProblem = (plan: unknown): Check => {
  if (!isRecord(plan)) return bad("plan", plan, "{ seed, faults }")
  if (!Number.isSafeInteger(plan.seed)) return bad("seed", plan.seed, "a whole number")
  if (!Array.isArray(plan.faults)) return bad("faults", plan.faults, "an array of faults")
  for (const [i, spec] of plan.faults.entries()) {
    const problem = checkSpec(`faults[${i}]`, spec)
    if (problem) return problem
  }
  return undefined
}

/** Checks a plan (typically built by hand or read from JSON), failing with {@link InvalidOption} naming the field. */
export const checkFaultPlan = (plan: FaultPlan): Effect.Effect<FaultPlan, InvalidOption> =>
  Effect.suspend(() => {
    const problem = planProblem(plan)
    return problem === undefined ? Effect.succeed(plan) : Effect.fail(problem)
  })

/** Checks a scenario: its faults as {@link checkFaultPlan} does, then its crashes. */
export const checkScenarioPlan = (plan: ScenarioPlan): Effect.Effect<ScenarioPlan, InvalidOption> =>
  Effect.suspend(() => {
    const problem = planProblem(plan) ?? crashesProblem((plan as { readonly crashes?: unknown }).crashes)
    return problem === undefined ? Effect.succeed(plan) : Effect.fail(problem)
  })

const crashesProblem = (crashes: unknown): Check => {
  if (!Array.isArray(crashes)) return bad("crashes", crashes, "an array of crashes")
  for (const [i, crash] of crashes.entries()) {
    const path = `crashes[${i}]`
    if (!isRecord(crash) || crash._tag !== "Crash") {
      return bad(`${path}._tag`, isRecord(crash) ? crash._tag : crash, `"Crash"`)
    }
    const problem = wholeAtLeast0(`${path}.afterBatch`, crash.afterBatch)
    if (problem) return problem
    if (crash.checkpointed !== undefined && typeof crash.checkpointed !== "boolean") {
      return bad(`${path}.checkpointed`, crash.checkpointed, "a boolean")
    }
  }
  return undefined
}
