/**
 * Type inference through the keyed, windowed and stateful operators, checked by `tsc -p . --noEmit`
 * (the `@ts-expect-error` lines fail the build if they ever compile). No pipeline is run.
 */
import { describe, expectTypeOf, it } from "vitest"
import { type AccessLogEvent, AccessLogEventSchema } from "../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { type CheckpointStore, Codec, type EventTimeOutput, type KeyState, type LeaseStore, Pipeline } from "../src/index.js"

const logs = Pipeline.fromKinesis({ streamName: "logs", codec: Codec.protobuf(AccessLogEventSchema), batchInterval: "1 second" })
const byEndpoint = logs.pipe(Pipeline.keyBy((e) => e.endpoint))
const latencies = byEndpoint.pipe(Pipeline.map(([endpoint, e]) => [endpoint, e.latencyMs] as const))
const add = (a: number, b: number) => a + b

describe("operator types", () => {
  it("keyBy makes [key, value] pairs; the ...ByKey operators keep the key type", () => {
    expectTypeOf(byEndpoint).toEqualTypeOf<Pipeline.Pipeline<readonly [string, AccessLogEvent], never, CheckpointStore>>()
    expectTypeOf(latencies.pipe(Pipeline.reduceByKey(add))).toEqualTypeOf<Pipeline.Pipeline<readonly [string, number], never, CheckpointStore>>()
    expectTypeOf(byEndpoint.pipe(Pipeline.countByKey())).toEqualTypeOf<Pipeline.Pipeline<readonly [string, number], never, CheckpointStore>>()
    expectTypeOf(latencies.pipe(Pipeline.groupByKey())).toEqualTypeOf<Pipeline.Pipeline<readonly [string, ReadonlyArray<number>], never, CheckpointStore>>()
    const byStatus = logs.pipe(Pipeline.keyBy((e) => e.status))
    expectTypeOf(byStatus.pipe(Pipeline.countByKey())).toEqualTypeOf<Pipeline.Pipeline<readonly [number, number], never, CheckpointStore>>()
  })

  it("keyed operators on values that are not [key, value] pairs do not compile", () => {
    // @ts-expect-error reduceByKey needs a keyed pipeline
    logs.pipe(Pipeline.reduceByKey(add))
    // @ts-expect-error countByKey needs a keyed pipeline
    logs.pipe(Pipeline.countByKey())
    // @ts-expect-error the reduce must fit the values (numbers here, not strings)
    latencies.pipe(Pipeline.reduceByKey((a: string, b: string) => a + b))
    // @ts-expect-error a key must be a primitive (objects would compare by identity)
    logs.pipe(Pipeline.keyBy((e) => e.labels))
    // @ts-expect-error mapWithState needs a keyed pipeline
    logs.pipe(Pipeline.mapWithState((key: string, value: number | undefined, state: KeyState<number>) => state.get()))
    // @ts-expect-error event-time windows need a keyed pipeline
    logs.pipe(Pipeline.reduceByKeyAndEventTimeWindow(add, { eventTime: Pipeline.arrivalTime, size: "1 minute" }))
  })

  it("windows infer their output", () => {
    expectTypeOf(latencies.pipe(Pipeline.reduceByKeyAndWindow(add, { length: "10 seconds", slide: "2 seconds", inverse: (a, b) => a - b }))).toEqualTypeOf<
      Pipeline.Pipeline<readonly [string, number], never, CheckpointStore>
    >()
    expectTypeOf(logs.pipe(Pipeline.countByWindow({ length: "10 seconds" }))).toEqualTypeOf<Pipeline.Pipeline<number, never, CheckpointStore>>()
    expectTypeOf(logs.pipe(Pipeline.window({ length: "10 seconds" }))).toEqualTypeOf<Pipeline.Pipeline<AccessLogEvent, never, CheckpointStore>>()
    expectTypeOf(logs.pipe(Pipeline.map((e) => e.latencyMs), Pipeline.reduceByWindow(Math.max, { length: "1 minute" }))).toEqualTypeOf<
      Pipeline.Pipeline<number, never, CheckpointStore>
    >()
    expectTypeOf(latencies.pipe(Pipeline.reduceByKeyAndEventTimeWindow(add, { eventTime: Pipeline.arrivalTime, size: "1 minute" }))).toEqualTypeOf<
      Pipeline.Pipeline<EventTimeOutput<string, number>, never, CheckpointStore>
    >()
  })

  it("keyed state infers what the function returns (undefined leaves nothing out) and the state type", () => {
    const running = latencies.pipe(
      Pipeline.mapWithState((endpoint: string, latency: number | undefined, state: KeyState<number>) => {
        const n = (state.get() ?? 0) + (latency ?? 0)
        if (!state.isTimingOut) state.update(n)
        return n > 100 ? { endpoint, n } : undefined
      })
    )
    expectTypeOf(running).toEqualTypeOf<Pipeline.Pipeline<{ endpoint: string; n: number }, never, CheckpointStore>>()
    const totals = latencies.pipe(Pipeline.updateStateByKey((xs: ReadonlyArray<number>, s: number | undefined) => (s ?? 0) + xs.length))
    expectTypeOf(totals).toEqualTypeOf<Pipeline.Pipeline<readonly [string, number], never, CheckpointStore>>()
  })

  it("merge joins pipelines of the same type; their requirements add up", () => {
    const leased = Pipeline.fromKinesis({ streamName: "logs-eu", codec: Codec.protobuf(AccessLogEventSchema), batchInterval: "1 second", leases: {} })
    expectTypeOf(Pipeline.merge(logs, leased)).toEqualTypeOf<Pipeline.Pipeline<AccessLogEvent, never, CheckpointStore | LeaseStore>>()
    // @ts-expect-error both sides must carry the same type
    Pipeline.merge(logs, latencies)
  })
})
