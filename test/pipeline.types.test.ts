/**
 * Type inference through pipelines, checked by `tsc -p . --noEmit`. At run time `expectTypeOf`
 * does nothing and no pipeline is run: these tests only build descriptions.
 */
import { Context, Data, Effect } from "effect"
import { describe, expectTypeOf, it } from "vitest"
import {
  type Click,
  type ClickstreamEvent,
  ClickstreamEventSchema,
  type PageView,
  PageViewSchema,
  type Purchase
} from "../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import {
  type Batch,
  type CheckpointStore,
  Codec,
  type Kinesis,
  Pipeline,
  type PipelineError,
  type PipelineSummary,
  type StreamRecord
} from "../src/index.js"

const pageViews = Pipeline.fromKinesis({
  streamName: "clickstream",
  codec: Codec.protobuf(PageViewSchema),
  batchInterval: "1 second"
})

const events = Pipeline.fromKinesis({
  streamName: "clickstream",
  codec: Codec.protobuf(ClickstreamEventSchema),
  batchInterval: "1 second"
})

/** A ClickstreamEvent known to carry a purchase. */
type PurchaseEvent = ClickstreamEvent & { readonly event: { readonly case: "purchase"; readonly value: Purchase } }

const isPurchase = (event: ClickstreamEvent): event is PurchaseEvent => event.event.case === "purchase"

class Enrichment extends Context.Tag("test/Enrichment")<Enrichment, { readonly country: (userId: string) => string }>() {}

class EnrichmentFailed extends Data.TaggedError("EnrichmentFailed")<{ readonly userId: string }> {}

class SinkFailed extends Data.TaggedError("SinkFailed")<{ readonly batchId: number }> {}

class Warehouse extends Context.Tag("test/Warehouse")<Warehouse, { readonly insert: (rows: ReadonlyArray<string>) => Effect.Effect<void> }>() {}

describe("pipeline type inference", () => {
  it("a protobuf codec gives a pipeline of its message and hands the sink Batch<PageView>", () => {
    expectTypeOf(pageViews).toEqualTypeOf<Pipeline.Pipeline<PageView, never, CheckpointStore>>()
    const run = pageViews.pipe(
      Pipeline.foreachBatch((batch) => {
        expectTypeOf(batch).toEqualTypeOf<Batch<PageView>>()
        expectTypeOf(batch.records).toEqualTypeOf<ReadonlyArray<StreamRecord<PageView>>>()
        expectTypeOf<(typeof batch.records)[number]["value"]>().toEqualTypeOf<PageView>()
        const first = batch.records[0]
        if (first !== undefined) {
          expectTypeOf(first.value.url).toEqualTypeOf<string>()
          expectTypeOf(first.value.loadTimeMs).toEqualTypeOf<number>()
        }
        return Effect.void
      })
    )
    expectTypeOf(run).toEqualTypeOf<Effect.Effect<PipelineSummary, PipelineError, Kinesis | CheckpointStore>>()
  })

  it("map changes the value type, and the record handed to it keeps the input type", () => {
    const urls = pageViews.pipe(
      Pipeline.map((view, record) => {
        expectTypeOf(view).toEqualTypeOf<PageView>()
        expectTypeOf(record).toEqualTypeOf<StreamRecord<PageView>>()
        return { url: view.url, shardId: record.shardId }
      })
    )
    expectTypeOf(urls).toEqualTypeOf<Pipeline.Pipeline<{ url: string; shardId: string }, never, CheckpointStore>>()
    // The data-first form infers the same.
    expectTypeOf(Pipeline.map(pageViews, (view) => view.loadTimeMs)).toEqualTypeOf<Pipeline.Pipeline<number, never, CheckpointStore>>()
  })

  it("filter with a type guard narrows; a plain predicate keeps the type", () => {
    const purchases = events.pipe(Pipeline.filter(isPurchase))
    expectTypeOf(purchases).toEqualTypeOf<Pipeline.Pipeline<PurchaseEvent, never, CheckpointStore>>()
    const orderIds = purchases.pipe(Pipeline.map((event) => event.event.value.orderId))
    expectTypeOf(orderIds).toEqualTypeOf<Pipeline.Pipeline<string, never, CheckpointStore>>()

    const inline = events.pipe(
      Pipeline.filter((event): event is PurchaseEvent => event.event.case === "purchase"),
      Pipeline.map((event) => event.event.value)
    )
    expectTypeOf(inline).toEqualTypeOf<Pipeline.Pipeline<Purchase, never, CheckpointStore>>()

    const slow = pageViews.pipe(Pipeline.filter((view) => view.loadTimeMs > 1_000))
    expectTypeOf(slow).toEqualTypeOf<Pipeline.Pipeline<PageView, never, CheckpointStore>>()
  })

  it("flatMap to strings gives a pipeline of strings", () => {
    const skus = events.pipe(
      Pipeline.filter(isPurchase),
      Pipeline.flatMap((event) => event.event.value.items.map((item) => item.sku))
    )
    expectTypeOf(skus).toEqualTypeOf<Pipeline.Pipeline<string, never, CheckpointStore>>()
    const words = pageViews.pipe(Pipeline.flatMap((view) => new Set(view.url.split("/"))))
    expectTypeOf(words).toEqualTypeOf<Pipeline.Pipeline<string, never, CheckpointStore>>()
  })

  it("mapEffect adds its error and requirements to the pipeline and to the run", () => {
    const enriched = pageViews.pipe(
      Pipeline.mapEffect((view) =>
        Effect.gen(function* () {
          const enrichment = yield* Enrichment
          if (view.userId === "") return yield* new EnrichmentFailed({ userId: view.userId })
          return { url: view.url, country: enrichment.country(view.userId) }
        })
      )
    )
    expectTypeOf(enriched).toEqualTypeOf<Pipeline.Pipeline<{ url: string; country: string }, EnrichmentFailed, Enrichment | CheckpointStore>>()

    const run = enriched.pipe(
      Pipeline.map((row) => row.country),
      Pipeline.foreachBatch((batch) => {
        expectTypeOf(batch).toEqualTypeOf<Batch<string>>()
        return Effect.void
      })
    )
    expectTypeOf(run).toEqualTypeOf<
      Effect.Effect<PipelineSummary, EnrichmentFailed | PipelineError, Enrichment | Kinesis | CheckpointStore>
    >()
    expectTypeOf<Effect.Effect.Error<typeof run>>().toEqualTypeOf<EnrichmentFailed | PipelineError>()
    expectTypeOf<Effect.Effect.Context<typeof run>>().toEqualTypeOf<Enrichment | Kinesis | CheckpointStore>()
  })

  it("the sink's own error and requirements join the run's", () => {
    const run = pageViews.pipe(
      Pipeline.map((view) => view.url),
      Pipeline.foreachBatch((batch) =>
        Effect.gen(function* () {
          const warehouse = yield* Warehouse
          if (batch.records.length === 0) return yield* new SinkFailed({ batchId: batch.batchId })
          yield* warehouse.insert(batch.records.map((r) => r.value))
        })
      )
    )
    expectTypeOf<Effect.Effect.Success<typeof run>>().toEqualTypeOf<PipelineSummary>()
    expectTypeOf<Effect.Effect.Error<typeof run>>().toEqualTypeOf<SinkFailed | PipelineError>()
    expectTypeOf<Effect.Effect.Context<typeof run>>().toEqualTypeOf<Warehouse | Kinesis | CheckpointStore>()
    // The data-first form infers the same.
    const direct = Pipeline.foreachBatch(pageViews, (batch) => Effect.succeed(batch.records.length))
    expectTypeOf(direct).toEqualTypeOf<Effect.Effect<PipelineSummary, PipelineError, Kinesis | CheckpointStore>>()
  })

  it("misuse is a compile error", () => {
    // A sink written for clicks cannot run a pipeline of page views.
    const clickSink = (batch: Batch<Click>) => Effect.log(batch.records.map((r) => r.value.elementId))
    // @ts-expect-error PageView is not a Click
    pageViews.pipe(Pipeline.foreachBatch(clickSink))
    // @ts-expect-error PageView is not a Click (data-first form)
    Pipeline.foreachBatch(pageViews, clickSink)

    // Operators see the type the pipeline holds at that point, not the one it started with.
    pageViews.pipe(
      Pipeline.map((view) => view.url),
      // @ts-expect-error the value is a string now, it has no loadTimeMs
      Pipeline.filter((view) => view.loadTimeMs > 100)
    )

    // A codec must be a Codec, and the options are checked.
    // @ts-expect-error batchInterval is required
    Pipeline.fromKinesis({ streamName: "clickstream", codec: Codec.utf8 })
    // @ts-expect-error a schema is not a codec
    Pipeline.fromKinesis({ streamName: "clickstream", codec: PageViewSchema, batchInterval: "1 second" })
    // @ts-expect-error startAt takes "TRIM_HORIZON", "LATEST" or { atTimestamp }
    Pipeline.fromKinesis({ streamName: "s", codec: Codec.utf8, batchInterval: "1 second", startAt: "EARLIEST" })

    // mapEffect must return an Effect, not a plain value.
    // @ts-expect-error a plain value is not an Effect
    pageViews.pipe(Pipeline.mapEffect((view) => view.url))
  })
})
