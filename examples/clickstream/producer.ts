import { toBinary } from "@bufbuild/protobuf"
import { Clock, Effect, Schedule } from "effect"
import { ClickstreamEventSchema } from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { Kinesis } from "../../src/index.js"
import { partitionKeyOf, randomEvent, seededRandom } from "./events.js"

/** Writes about `eventsPerSecond` events, in PutRecords calls every 100 ms, until interrupted. */
export const produce = (streamName: string, eventsPerSecond: number, seed = 42) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const random = seededRandom(seed)
    const perTick = Math.max(1, Math.round(eventsPerSecond / 10))
    let sequence = 0
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (let offset = 0; offset < perTick; offset += 500) {
        const records = Array.from({ length: Math.min(500, perTick - offset) }, () => {
          const event = randomEvent(random, now, sequence++)
          return { PartitionKey: partitionKeyOf(event), Data: toBinary(ClickstreamEventSchema, event) }
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
