/**
 * fast-check arbitraries for fault plans: the only file of the test kit that imports fast-check.
 * Plans shrink towards fewer faults, lower rates, earlier call indexes and shorter delays.
 */
import fc from "fast-check"
import { InvalidOption } from "../config/index.js"
import type { KinesisOperation } from "../kinesis/index.js"
import {
  type Crash,
  type FaultKind,
  type FaultKindTag,
  type FaultPlan,
  type FaultSpec,
  onlyOperation,
  type ScenarioPlan
} from "./faultPlan.js"

/** What {@link arbitraryFaultPlan} draws from. */
export interface FaultPlanArbitraryOptions {
  /** Operations the faults aim at. Default GetRecords and GetShardIterator. */
  readonly operations?: ReadonlyArray<KinesisOperation | "*">
  /**
   * Kinds to draw. Default Throttle, Latency, ExpiredIterator and Timeout. Pairs that cannot go
   * together (ExpiredIterator off GetRecords, FailedPutEntries off PutRecords) are never drawn.
   */
  readonly kinds?: ReadonlyArray<FaultKindTag>
  /** Most faults in a plan. Default 4. */
  readonly maxFaults?: number
  /** Highest rate drawn. Default 0.5: an unbounded rate of 1 fails every call forever. */
  readonly maxRate?: number
  /** Highest call index in `at`, and highest `times`. Default 20. */
  readonly maxCallIndex?: number
  /** Longest `Latency`. Default 2000 ms. */
  readonly maxLatencyMs?: number
  /** Longest `Timeout`, and latest `ConnectionReset`. Default 5000 ms. */
  readonly maxTimeoutMs?: number
}

/** {@link FaultPlanArbitraryOptions} plus crashes. */
export interface ScenarioPlanArbitraryOptions extends FaultPlanArbitraryOptions {
  /** Most crashes in a scenario. Default 3. */
  readonly maxCrashes?: number
  /** Highest `afterBatch`. Default 10. */
  readonly maxAfterBatch?: number
}

const awsErrors: ReadonlyArray<{ readonly name: string; readonly fault: "client" | "server" }> = [
  { name: "InternalServerError", fault: "server" },
  { name: "KMSThrottlingException", fault: "client" },
  { name: "ValidationException", fault: "client" }
]

const fits = (operation: KinesisOperation | "*", tag: FaultKindTag): boolean => {
  const only = onlyOperation[tag]
  return only === undefined || operation === only
}

const whole = (option: string, value: number, min: number): number => {
  if (Number.isSafeInteger(value) && value >= min) return value
  throw new InvalidOption({ option, given: String(value), expected: `a whole number >= ${min}` })
}

/** Rates in hundredths, so counterexamples print as 0.25, not 0.2500000037252903. */
const rate = (maxRate: number): fc.Arbitrary<number> =>
  fc.integer({ min: 1, max: Math.max(1, Math.round(maxRate * 100)) }).map((n) => n / 100)

const kindOf = (tag: FaultKindTag, o: Required<FaultPlanArbitraryOptions>): fc.Arbitrary<FaultKind> => {
  switch (tag) {
    case "Latency":
      return fc.integer({ min: 0, max: o.maxLatencyMs }).map((ms) => ({ _tag: tag, ms }))
    case "Timeout":
      return fc.record({ afterMs: fc.integer({ min: 0, max: o.maxTimeoutMs }), lostResponse: fc.boolean() }).map((
        { afterMs, lostResponse }
      ) => ({ _tag: tag, afterMs, ...(lostResponse ? { lostResponse } : {}) }))
    case "ConnectionReset":
      return fc.record({ afterMs: fc.integer({ min: 0, max: o.maxTimeoutMs }), reachedService: fc.boolean() }).map((
        { afterMs, reachedService }
      ) => ({ _tag: tag, afterMs, ...(reachedService ? { reachedService } : {}) }))
    case "AwsError":
      return fc.constantFrom(...awsErrors).map((e) => ({ _tag: tag, ...e }))
    case "FailedPutEntries":
      return fc.record({
        entries: fc.oneof(
          fc.constant("one" as const),
          fc.uniqueArray(fc.nat(o.maxCallIndex), { minLength: 1, maxLength: 5 }).map((a) => a.sort((x, y) => x - y)),
          rate(o.maxRate).map((r) => ({ rate: r }))
        ),
        errorCode: fc.constantFrom("ProvisionedThroughputExceededException" as const, "InternalFailure" as const)
      }).map(({ entries, errorCode }) => ({ _tag: tag, entries, errorCode }))
    default:
      return fc.constant({ _tag: tag })
  }
}

/** When a fault hits: at a rate, at given call indexes, the first `times` calls, or at a rate among the first `times`. */
const trigger = (o: Required<FaultPlanArbitraryOptions>): fc.Arbitrary<Pick<FaultSpec, "at" | "times" | "rate">> =>
  fc.oneof(
    rate(o.maxRate).map((r) => ({ rate: r })),
    fc.uniqueArray(fc.nat(o.maxCallIndex), { minLength: 1, maxLength: 5 }).map((a) => ({ at: a.sort((x, y) => x - y) })),
    fc.integer({ min: 1, max: Math.max(1, o.maxCallIndex) }).map((times) => ({ times })),
    fc.record({ times: fc.integer({ min: 1, max: Math.max(1, o.maxCallIndex) }), rate: rate(o.maxRate) })
  )

const resolve = (options: FaultPlanArbitraryOptions): Required<FaultPlanArbitraryOptions> => {
  const maxRate = options.maxRate ?? 0.5
  if (!(maxRate >= 0 && maxRate <= 1)) {
    throw new InvalidOption({ option: "maxRate", given: String(maxRate), expected: "a number from 0 to 1" })
  }
  return {
    operations: options.operations ?? ["GetRecords", "GetShardIterator"],
    kinds: options.kinds ?? ["Throttle", "Latency", "ExpiredIterator", "Timeout"],
    maxFaults: whole("maxFaults", options.maxFaults ?? 4, 0),
    maxRate,
    maxCallIndex: whole("maxCallIndex", options.maxCallIndex ?? 20, 0),
    maxLatencyMs: whole("maxLatencyMs", options.maxLatencyMs ?? 2000, 0),
    maxTimeoutMs: whole("maxTimeoutMs", options.maxTimeoutMs ?? 5000, 0)
  }
}

/**
 * Fault plans over the given operations and kinds, for property tests: a failing property
 * prints the plan, and the plan alone reproduces the faults. Throws {@link InvalidOption} when
 * no operation fits any kind.
 *
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(arbitraryFaultPlan({ kinds: ["Throttle", "Timeout"] }), (plan) =>
 *   Effect.runPromise(program.pipe(Effect.provide(Faults.layer(plan).pipe(Layer.provide(memory)))))))
 * ```
 */
export const arbitraryFaultPlan = (options: FaultPlanArbitraryOptions = {}): fc.Arbitrary<FaultPlan> => {
  const o = resolve(options)
  const pairs = o.operations.flatMap((operation) =>
    o.kinds.filter((tag) => fits(operation, tag)).map((tag) => [operation, tag] as const)
  )
  if (pairs.length === 0) {
    throw new InvalidOption({
      option: "kinds",
      given: JSON.stringify(o.kinds),
      expected: `a kind that fits one of the operations ${JSON.stringify(o.operations)}`
    })
  }
  const spec: fc.Arbitrary<FaultSpec> = fc.oneof(
    ...pairs.map(([operation, tag]) =>
      fc.tuple(kindOf(tag, o), trigger(o)).map(([kind, when]): FaultSpec => ({ operation, kind, ...when }))
    )
  )
  return fc.record({
    seed: fc.integer({ min: 0, max: 0xffff_ffff }),
    faults: fc.array(spec, { maxLength: o.maxFaults })
  })
}

/** Fault plans plus crashes, for pipeline harnesses (see {@link Crash}). */
export const arbitraryScenarioPlan = (options: ScenarioPlanArbitraryOptions = {}): fc.Arbitrary<ScenarioPlan> => {
  const crash: fc.Arbitrary<Crash> = fc.record({
    _tag: fc.constant("Crash" as const),
    afterBatch: fc.nat(whole("maxAfterBatch", options.maxAfterBatch ?? 10, 0)),
    checkpointed: fc.boolean()
  })
  return fc.record({
    plan: arbitraryFaultPlan(options),
    crashes: fc.array(crash, { maxLength: whole("maxCrashes", options.maxCrashes ?? 3, 0) })
  }).map(({ crashes, plan }) => ({ ...plan, crashes }))
}
