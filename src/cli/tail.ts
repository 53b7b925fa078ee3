import { Command, Options } from "@effect/cli"
import { Deferred, Effect, Layer, Option } from "effect"
import { CheckpointStore } from "../checkpoint/index.js"
import { InvalidOption } from "../config/index.js"
import type { InitialPosition } from "../consumer/index.js"
import { DeadLetter } from "../deadletter/index.js"
import { onSignal, Pipeline, type StreamRecord } from "../pipeline/index.js"
import { connectionOptions, kinesisLayer } from "./common.js"
import { CliOutput, makeProgress } from "./progress.js"
import { jsonFormat, loadSchemaFormat, rawFormat, type RecordFormat } from "./schema.js"

/** `--from`: trim-horizon, latest, or an ISO 8601 time. */
export const parseFrom = (from: string): Effect.Effect<InitialPosition, InvalidOption> => {
  const lower = from.trim().toLowerCase().replace(/_/g, "-")
  if (lower === "trim-horizon") return Effect.succeed("TRIM_HORIZON")
  if (lower === "latest") return Effect.succeed("LATEST")
  const at = /^\d{4}-\d{2}-\d{2}/.test(from.trim()) ? new Date(from.trim()) : new Date(NaN)
  return isNaN(at.getTime())
    ? Effect.fail(new InvalidOption({ option: "--from", given: JSON.stringify(from), expected: "trim-horizon, latest, or an ISO 8601 time such as 2024-05-01T12:00:00Z" }))
    : Effect.succeed({ atTimestamp: at })
}

/** One record as one line: shard, sequence number, partition key, arrival time, value (tab-separated). */
export const recordLine = (record: StreamRecord<unknown>, format: RecordFormat): string =>
  [
    record.shardId,
    record.sequenceNumber,
    record.partitionKey,
    record.approximateArrivalTimestamp?.toISOString() ?? "-",
    format.show(record.value)
  ].join("\t")

export interface TailArgs {
  readonly stream: string
  readonly schema: Option.Option<string>
  readonly json: boolean
  readonly base64: boolean
  readonly pretty: boolean
  readonly from: string
  readonly count: Option.Option<number>
  readonly strict: boolean
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
}

/**
 * Prints a stream's records, one line each, following new ones until `--count` records are
 * printed or Ctrl-C. Reads with a pipeline over in-memory checkpoints: nothing is written anywhere.
 */
export const tail = (args: TailArgs) =>
  Effect.gen(function* () {
    const output = yield* CliOutput
    const progress = makeProgress(output)
    const format = Option.isSome(args.schema)
      ? yield* loadSchemaFormat(args.schema.value, args.pretty)
      : args.json ? jsonFormat(args.pretty) : rawFormat(args.base64)
    const startAt = yield* parseFrom(args.from)
    const limit = Option.getOrUndefined(args.count)
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      return yield* new InvalidOption({ option: "--count", given: String(limit), expected: "a whole number >= 1" })
    }
    const enough = yield* Deferred.make<void>()
    let printed = 0
    let skipped = 0
    const status = () =>
      progress.status(limit === undefined ? `${args.stream}: ${printed} records (Ctrl-C stops)` : `${args.stream}: ${printed}/${limit} records`)
    // Records that do not decode: a warning line each (shard and sequence number are in the message), and on.
    const warnings = DeadLetter.layerFunction("tail", (records) =>
      Effect.sync(() => {
        for (const r of records) {
          skipped++
          progress.note(`warning: ${r.reason.message}; skipped`)
        }
      }))
    const run = Pipeline.fromKinesis({
      streamName: args.stream,
      applicationName: "shardline-tail",
      codec: format.codec,
      batchInterval: "200 millis",
      maxBatchRecords: 1_000,
      startAt,
      reader: { noRecordsPollDelay: "500 millis" }
    }).pipe(
      Pipeline.foreachBatch((batch) =>
        Effect.suspend(() => {
          for (const record of batch.records) {
            if (limit !== undefined && printed >= limit) break
            progress.line(recordLine(record, format))
            printed++
          }
          status()
          return limit !== undefined && printed >= limit ? Deferred.succeed(enough, undefined) : Effect.void
        }), {
        stopWhen: Effect.race(onSignal(), Deferred.await(enough)),
        onStarted: Effect.sync(() => progress.status(`${args.stream}: reading from ${args.from}...`, true))
      })
    )
    yield* run.pipe(
      Effect.provide(Layer.mergeAll(kinesisLayer(args), CheckpointStore.layerMemory, args.strict ? Layer.empty : warnings))
    )
    progress.done(`tail: ${printed} records${skipped === 0 ? "" : `, ${skipped} could not be decoded`}`)
  })

export const tailCommand = Command.make("tail", {
  stream: Options.text("stream").pipe(Options.withDescription("The stream to read")),
  schema: Options.text("schema").pipe(
    Options.withDescription("Decode with module#Export: a generated message schema (./gen/x_pb.js#OrderPlacedSchema) or a shardline Codec; printed as protobuf JSON"),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Records are JSON text")),
  base64: Options.boolean("base64").pipe(Options.withDescription("Print raw records as base64 (default: UTF-8 text when they are, else base64:...)")),
  pretty: Options.boolean("pretty").pipe(Options.withDescription("Indent decoded values (several lines per record)")),
  from: Options.text("from").pipe(
    Options.withDescription("Where to start: trim-horizon (oldest kept), latest (only new records) or an ISO 8601 time"),
    Options.withDefault("trim-horizon")
  ),
  count: Options.integer("count").pipe(Options.withDescription("Stop after this many records (default: follow until Ctrl-C)"), Options.optional),
  strict: Options.boolean("strict").pipe(Options.withDescription("Stop at the first record that does not decode (default: warn and go on)")),
  ...connectionOptions
}, tail).pipe(
  Command.withDescription("Print a stream's records, one line each: shard, sequence number, partition key, arrival time, value (tab-separated)")
)
