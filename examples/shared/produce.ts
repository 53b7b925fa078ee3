import type { DescMessage, MessageShape } from "@bufbuild/protobuf"
import { Clock, Effect, Schedule } from "effect"
import { Codec, type Kinesis, Producer } from "../../src/index.js"

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
 * Writes about `perSecond` events through a {@link Producer}, a tick's events every 100 ms, until
 * interrupted (which sends what is still buffered). The producer batches them into PutRecords
 * calls (of up to 500) and retries refused records; a record that still fails is logged as a
 * warning (the first of its tick) and the next tick goes on.
 *
 * @example
 * ```ts
 * yield* Effect.forkScoped(produceEvents({ streamName, perSecond: 400, schema: PageViewSchema, partitionKey: (v) => v.sessionId, event: makeView }))
 * ```
 */
export const produceEvents = <Desc extends DescMessage>(options: ProduceOptions<Desc>): Effect.Effect<void, never, Kinesis> =>
  Effect.scoped(
    Effect.gen(function* () {
      const producer = yield* Producer.make({
        streamName: options.streamName,
        codec: Codec.protobuf(options.schema),
        partitionKey: options.partitionKey,
        // A tick's events arrive together in one putAll: nothing to wait for before sending them.
        maxBufferTime: 0
      })
      const perTick = Math.max(1, Math.round(options.perSecond / 10))
      const tick = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const events = Array.from({ length: perTick }, (_, i) => options.event(now, i, perTick))
        yield* producer.putAll(events)
      })
      yield* tick.pipe(
        Effect.catchAll((error) => Effect.logWarning(`producer: ${error.message}`)),
        Effect.repeat(Schedule.fixed("100 millis"))
      )
    })
  ).pipe(Effect.catchAll((error) => Effect.logWarning(`producer: ${error.message}`)))
