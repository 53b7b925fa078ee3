import { Effect } from "effect"
import { InvalidOption, textOption } from "../config/index.js"
import { retryKinesis, type RetryOption, RetryPolicy } from "../retry/index.js"
import type { KinesisError, KinesisResourceNotFound } from "./errors.js"
import { Kinesis } from "./Kinesis.js"

// arn:aws:kinesis:<region>:<account>:stream/<name>
const regionOfArn = (arn: string | undefined): string | undefined => {
  const region = arn?.split(":")[3]
  return region === undefined || region === "" ? undefined : region
}

const missing = (streamName: string, error: KinesisResourceNotFound) =>
  new InvalidOption({
    option: "streamName",
    given: JSON.stringify(streamName),
    expected: `a stream that exists in region ${error.region ?? "(the one in use)"}${
      error.endpoint === undefined ? "" : ` at endpoint ${error.endpoint}`
    }; create it, or correct streamName, the region or the endpoint`
  })

/**
 * Checks, before a pipeline starts, that the stream exists and is not being deleted, so a typo
 * fails at once with a readable {@link InvalidOption} instead of deep inside a consumer.
 * Throttles and transient faults are retried with `retry` (default `RetryPolicy.default`);
 * access and configuration errors fail as they are.
 *
 * @example
 * ```ts
 * yield* verifyStream("clicks") // InvalidOption { option: "streamName", ... } if there is no such stream
 * ```
 */
export const verifyStream = (
  streamName: string,
  retry: RetryOption = RetryPolicy.default
): Effect.Effect<void, InvalidOption | KinesisError, Kinesis> =>
  Effect.gen(function* () {
    yield* textOption("streamName", streamName)
    const kinesis = yield* Kinesis
    const out = yield* kinesis.describeStreamSummary({ StreamName: streamName }).pipe(
      retryKinesis(retry),
      Effect.catchTag("KinesisResourceNotFound", (error) => Effect.fail(missing(streamName, error)))
    )
    const summary = out.StreamDescriptionSummary
    if (summary?.StreamStatus === "DELETING") {
      const region = regionOfArn(summary.StreamARN)
      return yield* new InvalidOption({
        option: "streamName",
        given: JSON.stringify(streamName),
        expected: `a stream that is not being deleted (it is DELETING${
          region === undefined ? "" : ` in region ${region}`
        }); wait until it is gone and create it again, or use another stream`
      })
    }
  })
