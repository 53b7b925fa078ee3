import { Effect } from "effect"
import { AccessLogEventSchema } from "../../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { produceEvents } from "../shared/produce.js"
import { accessLogs, type Burst, partitionKeyOf } from "./events.js"

/**
 * Writes about `requestsPerSecond` access-log events, in PutRecords calls every 100 ms, until
 * interrupted; each tick's events are spread over the 100 ms before it.
 */
export const produce = (
  streamName: string,
  options: { readonly requestsPerSecond: number; readonly seed: number; readonly burst?: Burst }
) =>
  Effect.suspend(() => {
    const next = accessLogs({ seed: options.seed, burst: options.burst })
    return produceEvents({
      streamName,
      perSecond: options.requestsPerSecond,
      schema: AccessLogEventSchema,
      partitionKey: partitionKeyOf,
      event: (nowMs, index, perTick) => next(nowMs - 100 + Math.floor((index * 100) / perTick))
    })
  })
