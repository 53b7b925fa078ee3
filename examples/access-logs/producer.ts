import { toBinary } from "@bufbuild/protobuf"
import { Clock, Effect, Schedule } from "effect"
import { AccessLogEventSchema } from "../../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { Kinesis } from "../../src/index.js"
import { accessLogs, type Burst, partitionKeyOf } from "./events.js"

/**
 * Writes about `requestsPerSecond` access-log events, in PutRecords calls every 100 ms, until
 * interrupted; each tick's events are spread over the 100 ms before it.
 */
export const produce = (
  streamName: string,
  options: { readonly requestsPerSecond: number; readonly seed: number; readonly burst?: Burst }
) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const next = accessLogs({ seed: options.seed, burst: options.burst })
    const perTick = Math.max(1, Math.round(options.requestsPerSecond / 10))
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (let offset = 0; offset < perTick; offset += 500) {
        const records = Array.from({ length: Math.min(500, perTick - offset) }, (_, i) => {
          const event = next(now - 100 + Math.floor(((offset + i) * 100) / perTick))
          return { PartitionKey: partitionKeyOf(event), Data: toBinary(AccessLogEventSchema, event) }
        })
        const result = yield* kinesis.putRecords({ StreamName: streamName, Records: records })
        if ((result.FailedRecordCount ?? 0) > 0) {
          yield* Effect.logWarning(`producer: ${result.FailedRecordCount} of ${records.length} records were refused`)
        }
      }
    })
    yield* tick.pipe(
      Effect.catchAll((error) => Effect.logWarning(`producer: ${error.message}`)),
      Effect.repeat(Schedule.fixed("100 millis"))
    )
  })
