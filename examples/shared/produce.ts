import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf"
import { Clock, Effect, Schedule } from "effect"
import { Kinesis } from "../../src/index.js"

/** How {@link produceEvents} makes and places its events. */
export interface ProduceOptions<Desc extends DescMessage> {
  readonly streamName: string
  /** About this many events a second, written in ten ticks. */
  readonly perSecond: number
  /** The events' protobuf schema: each record's data is the event in binary. */
  readonly schema: Desc
  readonly partitionKey: (event: MessageShape<Desc>) => string
  /** The `index`-th of the `perTick` events of the tick that started at `nowMs` (epoch ms). */
  readonly event: (nowMs: number, index: number, perTick: number) => MessageShape<Desc>
}

/**
 * Writes about `perSecond` events, in PutRecords calls (of up to 500) every 100 ms, until
 * interrupted. Refused records and failed calls are logged as warnings; the next tick goes on.
 *
 * @example
 * ```ts
 * yield* Effect.forkScoped(produceEvents({ streamName, perSecond: 400, schema: PageViewSchema, partitionKey: (v) => v.sessionId, event: makeView }))
 * ```
 */
export const produceEvents = <Desc extends DescMessage>(options: ProduceOptions<Desc>) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const perTick = Math.max(1, Math.round(options.perSecond / 10))
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (let offset = 0; offset < perTick; offset += 500) {
        const records = Array.from({ length: Math.min(500, perTick - offset) }, (_, i) => {
          const event = options.event(now, offset + i, perTick)
          return { PartitionKey: options.partitionKey(event), Data: toBinary(options.schema, event) }
        })
        const result = yield* kinesis.putRecords({ StreamName: options.streamName, Records: records })
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
