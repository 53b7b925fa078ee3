import { Effect } from "effect"
import { ClickstreamEventSchema } from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { produceEvents } from "../shared/produce.js"
import { seededRandom } from "../shared/random.js"
import { partitionKeyOf, randomEvent } from "./events.js"

/** Writes about `eventsPerSecond` events, in PutRecords calls every 100 ms, until interrupted. */
export const produce = (streamName: string, eventsPerSecond: number, seed = 42) =>
  Effect.suspend(() => {
    const random = seededRandom(seed)
    let sequence = 0
    return produceEvents({
      streamName,
      perSecond: eventsPerSecond,
      schema: ClickstreamEventSchema,
      partitionKey: partitionKeyOf,
      event: (nowMs) => randomEvent(random, nowMs, sequence++)
    })
  })
