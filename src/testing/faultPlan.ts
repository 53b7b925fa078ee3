import { type CallTarget, fromAwsError, type KinesisError, type KinesisOperation } from "../kinesis/index.js"
import type { FaultRule } from "./faults.js"
import { unitFloat } from "./prng.js"

/** The marker every injected error's cause carries in its message. */
export const injected = "injected by shardline/testing Faults"

// A record, so that an operation added to KinesisOperation and left out here is a compile error.
const everyOperation: Record<KinesisOperation, true> = {
  CreateStream: true,
  DescribeStreamSummary: true,
  ListShards: true,
  GetShardIterator: true,
  GetRecords: true,
  PutRecord: true,
  PutRecords: true,
  SplitShard: true,
  MergeShards: true,
  DeleteStream: true,
  RegisterStreamConsumer: true,
  DescribeStreamConsumer: true,
  ListStreamConsumers: true,
  DeregisterStreamConsumer: true,
  SubscribeToShard: true
}

/** Every {@link KinesisOperation}, for checking plans read from data. */
export const kinesisOperations = Object.keys(everyOperation) as ReadonlyArray<KinesisOperation>

/** The error codes Kinesis puts on a failed PutRecords entry. */
export type PutEntryErrorCode = "ProvisionedThroughputExceededException" | "InternalFailure"

/** Which PutRecords entries fail: one (chosen by the seed), these indexes, or each at a rate. */
export type FailedEntries = "one" | ReadonlyArray<number> | { readonly rate: number }

/**
 * What happens to a call a fault hits. Errors are built the way the real client builds them
 * (an AWS-shaped exception through `fromAwsError`), so retryability is the real classification.
 * - `Throttle`: ProvisionedThroughputExceeded on GetRecords/PutRecord(s), LimitExceeded elsewhere.
 * - `ExpiredIterator`: GetRecords only.
 * - `AccessDenied`: not retryable. `InternalFailure`, `ServiceUnavailable`: retryable (5xx).
 * - `AwsError`: any exception by name; `fault: "server"` makes it a 5xx.
 * - `Latency`: the call waits `ms` on Effect's `Clock`, then goes on (other faults still apply).
 * - `Timeout`: after `afterMs` the call fails with the SDK's `TimeoutError` (retryable). Without
 *   `lostResponse` the request never reached the service; with it the service carried the call
 *   out and only the response was lost: a PutRecord "failed" this way has written its record.
 * - `ConnectionReset`: `afterMs` after the call started the connection drops, and the call fails
 *   as the SDK's node handler fails on a reset socket (code `ECONNRESET`, retryable). Without
 *   `reachedService` the request never reached the service; with it the service carried the call
 *   out and only the answer was lost, as with `Timeout.lostResponse`.
 * - `FailedPutEntries`: PutRecords only; the chosen entries come back with `errorCode` and are not
 *   written, the others are.
 *
 * On SubscribeToShard (a stream of events) a fault is decided when the subscription starts: an
 * error fails the stream at once (`{ _tag: "AwsError", name: "ResourceInUseException" }` is the
 * retryable throttle the real client makes of it there), and a `ConnectionReset` drops the open
 * subscription: the events of its first `afterMs` arrive, then the stream fails with the reset.
 */
export type FaultKind =
  | { readonly _tag: "Throttle" }
  | { readonly _tag: "ExpiredIterator" }
  | { readonly _tag: "AccessDenied" }
  | { readonly _tag: "InternalFailure" }
  | { readonly _tag: "ServiceUnavailable" }
  | { readonly _tag: "AwsError"; readonly name: string; readonly fault?: "client" | "server" }
  | { readonly _tag: "Latency"; readonly ms: number }
  | { readonly _tag: "Timeout"; readonly afterMs: number; readonly lostResponse?: boolean }
  | { readonly _tag: "ConnectionReset"; readonly afterMs: number; readonly reachedService?: boolean }
  | { readonly _tag: "FailedPutEntries"; readonly entries: FailedEntries; readonly errorCode?: PutEntryErrorCode }

/** The name of a fault kind, e.g. `"Throttle"`. */
export type FaultKindTag = FaultKind["_tag"]

/** Every fault kind's name, for checking plans and drawing kinds. */
export const faultKindTags: ReadonlyArray<FaultKindTag> = [
  "Throttle",
  "ExpiredIterator",
  "AccessDenied",
  "InternalFailure",
  "ServiceUnavailable",
  "AwsError",
  "Latency",
  "Timeout",
  "ConnectionReset",
  "FailedPutEntries"
]

/** The one operation a kind applies to, for kinds that do not apply to every operation. */
export const onlyOperation: Partial<Record<FaultKindTag, KinesisOperation>> = {
  ExpiredIterator: "GetRecords",
  FailedPutEntries: "PutRecords"
}

/**
 * One fault of a plan: which calls it may hit and what it does to them. Call indexes count the
 * calls matching `operation`, `streamName` and `shardId` (0 is the first such call), whatever
 * other faults did to them. All conditions given must hold: `at` lists the indexes, `times` lets
 * only the first `times` be hit, `rate` hits each with that probability, decided by the plan's
 * seed. With none of them every matching call is hit.
 */
export interface FaultSpec {
  readonly operation: KinesisOperation | "*"
  readonly kind: FaultKind
  readonly at?: ReadonlyArray<number>
  readonly times?: number
  readonly rate?: number
  readonly streamName?: string
  readonly shardId?: string
}

/**
 * Faults as plain data: print it in a counterexample, paste it into a test, get the same faults.
 *
 * @example
 * ```ts
 * const plan: FaultPlan = { seed: 7, faults: [{ operation: "GetRecords", kind: { _tag: "Throttle" }, rate: 0.3 }] }
 * const kinesis = Faults.layer(plan).pipe(Layer.provide(MemoryKinesis.layer({ streams })))
 * ```
 */
export interface FaultPlan {
  readonly seed: number
  readonly faults: ReadonlyArray<FaultSpec>
}

/**
 * A process crash, for pipeline harnesses: once the sink has completed `afterBatch` batches
 * since the last (re)start (0: before the first), the process stops without draining and starts
 * again from its checkpoints. `checkpointed: false` crashes after that last batch's sink but
 * before its checkpoint is saved, so the batch is delivered again after the restart.
 */
export interface Crash {
  readonly _tag: "Crash"
  readonly afterBatch: number
  readonly checkpointed?: boolean
}

/** Faults on Kinesis calls plus process crashes (in order); lease losses will join later. */
export interface ScenarioPlan extends FaultPlan {
  readonly crashes: ReadonlyArray<Crash>
}

const dataPlane = new Set<string>(["GetRecords", "PutRecord", "PutRecords"])

/** What Kinesis calls a throttle of `operation`: data calls exceed throughput, control calls a limit. */
export const throttleErrorName = (operation: KinesisOperation): string =>
  dataPlane.has(operation) ? "ProvisionedThroughputExceededException" : "LimitExceededException"

const awsError = (name: string, fault: "client" | "server", status: number, detail: string) =>
  Object.assign(new Error(`${injected}: ${detail}`), { name, $fault: fault, $metadata: { httpStatusCode: status } })

/** The error a kind fails a call with, as the real client would report it. */
export const errorOf = (
  kind: Exclude<FaultKind, { readonly _tag: "Latency" | "FailedPutEntries" }>,
  operation: KinesisOperation,
  target: CallTarget
): KinesisError => {
  const fail = (cause: unknown) => fromAwsError(operation, target, cause)
  switch (kind._tag) {
    case "Throttle":
      return fail(awsError(throttleErrorName(operation), "client", 400, "Rate exceeded"))
    case "ExpiredIterator":
      return fail(awsError("ExpiredIteratorException", "client", 400, "Iterator expired"))
    case "AccessDenied":
      return fail(awsError("AccessDeniedException", "client", 400, `not authorized to perform ${operation}`))
    case "InternalFailure":
      return fail(awsError("InternalFailureException", "server", 500, "Internal service failure"))
    case "ServiceUnavailable":
      return fail(awsError("ServiceUnavailableException", "server", 503, "Service unavailable"))
    case "AwsError": {
      const fault = kind.fault ?? "client"
      return fail(awsError(kind.name, fault, fault === "server" ? 500 : 400, kind.name))
    }
    case "Timeout": {
      // The SDK's node handler: a connection that never opened is a bare TimeoutError, a request
      // that got no answer in time also carries code ETIMEDOUT.
      const lost = kind.lostResponse === true
      const cause = new Error(`${injected}: ${lost ? "no response" : "no connection"} within ${kind.afterMs} ms`)
      return fail(Object.assign(cause, { name: "TimeoutError", ...(lost ? { code: "ETIMEDOUT" } : {}) }))
    }
    case "ConnectionReset": {
      // What node's http client rejects with when the peer resets the socket before an answer.
      const where = kind.reachedService === true
        ? "the service carried the call out, its answer was lost"
        : "the request never reached the service"
      const cause = new Error(`${injected}: socket hang up after ${kind.afterMs} ms (${where})`)
      return fail(Object.assign(cause, { code: "ECONNRESET" }))
    }
  }
}

/** The kind an error returned by a hand-written rule stands for, for the call log. */
export const kindOfError = (error: KinesisError): FaultKind => {
  switch (error._tag) {
    case "KinesisThrottled":
      return { _tag: "Throttle" }
    case "ExpiredIterator":
      return { _tag: "ExpiredIterator" }
    case "KinesisResourceNotFound":
      return { _tag: "AwsError", name: "ResourceNotFoundException" }
    case "KinesisRequestError":
      // A rule's error fails the call at once, before it is sent.
      if (error.errorName === "ECONNRESET") return { _tag: "ConnectionReset", afterMs: 0 }
      return { _tag: "AwsError", name: error.errorName, fault: error.retryable ? "server" : "client" }
    default: {
      // KinesisAccessDenied, KinesisConfigError and any tag added later; by tag name, so this
      // file builds whichever of them src/kinesis has.
      const other = error as { readonly _tag: string; readonly errorName?: unknown }
      if (other._tag === "KinesisAccessDenied") return { _tag: "AccessDenied" }
      return { _tag: "AwsError", name: typeof other.errorName === "string" ? other.errorName : other._tag }
    }
  }
}

/** True when the error was made by `Faults` rather than returned by the service. */
export const isInjected = (error: KinesisError): boolean =>
  error.cause instanceof Error && error.cause.message.startsWith(injected)

/** The entry indexes (ascending, below `count`) that `entries` picks; random picks hash the seed and coordinates. */
export const resolveEntries = (
  entries: FailedEntries,
  count: number,
  seed: number,
  ...coordinates: ReadonlyArray<number>
): ReadonlyArray<number> => {
  if (entries === "one") return count === 0 ? [] : [Math.floor(unitFloat(seed, ...coordinates, 1) * count)]
  if ("rate" in entries) {
    const picked: Array<number> = []
    for (let i = 0; i < count; i++) if (unitFloat(seed, ...coordinates, 2, i) < entries.rate) picked.push(i)
    return picked
  }
  return [...new Set(entries)].filter((i) => i < count).sort((a, b) => a - b)
}

const specRule = (seed: number, spec: FaultSpec, position: number): FaultRule => (call) => {
  const index = call.indexOf(spec)
  if (index === undefined) return undefined
  if (spec.times !== undefined && index >= spec.times) return undefined
  if (spec.at !== undefined && !spec.at.includes(index)) return undefined
  if (spec.rate !== undefined && !(unitFloat(seed, position, index) < spec.rate)) return undefined
  const { kind } = spec
  if (kind._tag !== "FailedPutEntries") return kind
  const count = (call.input as { readonly Records?: ReadonlyArray<unknown> } | undefined)?.Records?.length ?? 0
  const entries = resolveEntries(kind.entries, count, seed, position, index)
  // No entry picked: nothing injected, and the next faults are asked.
  return entries.length === 0 ? undefined : { ...kind, entries }
}

/** The rules of a plan that {@link checkFaultPlan} accepted, asked in the plan's order. */
export const rulesOf = (plan: FaultPlan): ReadonlyArray<FaultRule> =>
  plan.faults.map((spec, position) => specRule(plan.seed, spec, position))
