import { Clock, Effect } from "effect"
import { type CallTarget, fromAwsError, type KinesisError, type KinesisOperation } from "../kinesis/index.js"
import type { MemoryStream } from "./memoryModel.js"

export const ARN_PREFIX = "arn:aws:kinesis:us-east-1:000000000000:stream/"

/** An AWS-shaped exception turned into a shardline error by the same mapping the real client uses. */
export const refuse = (
  operation: KinesisOperation,
  target: CallTarget,
  name: string,
  message: string
): Effect.Effect<never, KinesisError> =>
  Effect.fail(fromAwsError(operation, target, Object.assign(new Error(message), { name, $fault: "client" })))

export const invalid = (operation: KinesisOperation, target: CallTarget, message: string) =>
  refuse(operation, target, "InvalidArgumentException", message)

/** A request outside a documented bound, answered the way kinesalite and Kinesis answer it. */
export const validation = (
  operation: KinesisOperation,
  target: CallTarget,
  field: string,
  value: unknown,
  rule: string
) =>
  refuse(
    operation,
    target,
    "ValidationException",
    `1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: ${rule}`
  )

export const between = (min: number, max: number) => `Member must have value between ${min} and ${max}`

export const outOfRange = (value: number | undefined, min: number, max: number): boolean =>
  value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)

export const notFound = (operation: KinesisOperation, target: CallTarget, what: string) =>
  refuse(operation, target, "ResourceNotFoundException", `${what} under account 000000000000 not found.`)

/** The stream a request names, by name or ARN. */
export const nameOf = (input: { StreamName?: string | undefined; StreamARN?: string | undefined }) =>
  input.StreamName ?? (input.StreamARN?.startsWith(ARN_PREFIX) ? input.StreamARN.slice(ARN_PREFIX.length) : undefined)

/**
 * Runs a call at the clock's current time. The body is synchronous, so calls never interleave,
 * and it runs anew each time the effect runs (a retried call sees the current state).
 */
export const at = <A>(f: (now: number) => Effect.Effect<A, KinesisError>): Effect.Effect<A, KinesisError> =>
  Effect.flatMap(Clock.currentTimeMillis, f)

/** Looks the stream up (ResourceNotFound when absent) and continues with it. */
export const withStream = <A>(
  streams: ReadonlyMap<string, MemoryStream>,
  operation: KinesisOperation,
  name: string | undefined,
  target: CallTarget,
  f: (stream: MemoryStream) => Effect.Effect<A, KinesisError>
): Effect.Effect<A, KinesisError> => {
  if (name === undefined) return invalid(operation, target, "StreamName or StreamARN is required.")
  const stream = streams.get(name)
  return stream === undefined ? notFound(operation, target, `Stream ${name}`) : f(stream)
}
