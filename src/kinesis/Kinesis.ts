import {
  CreateStreamCommand,
  type CreateStreamCommandInput,
  DeleteStreamCommand,
  type DeleteStreamCommandInput,
  DeregisterStreamConsumerCommand,
  type DeregisterStreamConsumerCommandInput,
  DescribeStreamConsumerCommand,
  type DescribeStreamConsumerCommandInput,
  type DescribeStreamConsumerCommandOutput,
  DescribeStreamSummaryCommand,
  type DescribeStreamSummaryCommandInput,
  type DescribeStreamSummaryCommandOutput,
  GetRecordsCommand,
  type GetRecordsCommandInput,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type GetShardIteratorCommandOutput,
  KinesisClient,
  type KinesisClientConfig,
  ListShardsCommand,
  type ListShardsCommandInput,
  type ListShardsCommandOutput,
  ListStreamConsumersCommand,
  type ListStreamConsumersCommandInput,
  type ListStreamConsumersCommandOutput,
  MergeShardsCommand,
  type MergeShardsCommandInput,
  PutRecordCommand,
  type PutRecordCommandInput,
  type PutRecordCommandOutput,
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsCommandOutput,
  RegisterStreamConsumerCommand,
  type RegisterStreamConsumerCommandInput,
  type RegisterStreamConsumerCommandOutput,
  SplitShardCommand,
  type SplitShardCommandInput,
  SubscribeToShardCommand,
  type SubscribeToShardCommandInput,
  type SubscribeToShardEvent,
  type SubscribeToShardEventStream
} from "@aws-sdk/client-kinesis"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted, type Scope, Stream } from "effect"
import { type CallTarget, type ClientContext, fromAwsError, type KinesisError, type KinesisOperation } from "./errors.js"

/** A call's output without the SDK's response metadata. */
type Out<T> = Omit<T, "$metadata">

/**
 * The Kinesis calls shardline makes, each cancellable (interrupting the fiber aborts the HTTP
 * request) and failing only with {@link KinesisError}. The optional `target` names the stream and
 * shard for error messages where the input does not (GetRecords carries only an iterator, the
 * consumer calls only ARNs).
 */
export interface KinesisApi {
  readonly createStream: (input: CreateStreamCommandInput) => Effect.Effect<void, KinesisError>
  readonly describeStreamSummary: (
    input: DescribeStreamSummaryCommandInput
  ) => Effect.Effect<Out<DescribeStreamSummaryCommandOutput>, KinesisError>
  readonly listShards: (
    input: ListShardsCommandInput,
    target?: CallTarget
  ) => Effect.Effect<Out<ListShardsCommandOutput>, KinesisError>
  readonly getShardIterator: (
    input: GetShardIteratorCommandInput
  ) => Effect.Effect<Out<GetShardIteratorCommandOutput>, KinesisError>
  readonly getRecords: (
    input: GetRecordsCommandInput,
    target?: CallTarget
  ) => Effect.Effect<Out<GetRecordsCommandOutput>, KinesisError>
  readonly putRecord: (input: PutRecordCommandInput) => Effect.Effect<Out<PutRecordCommandOutput>, KinesisError>
  readonly putRecords: (input: PutRecordsCommandInput) => Effect.Effect<Out<PutRecordsCommandOutput>, KinesisError>
  /** Closes a shard and opens two children splitting its hash range (resharding; tests and tools). */
  readonly splitShard: (input: SplitShardCommandInput) => Effect.Effect<void, KinesisError>
  /** Closes two adjacent shards and opens one child covering both ranges. */
  readonly mergeShards: (input: MergeShardsCommandInput) => Effect.Effect<void, KinesisError>
  readonly deleteStream: (input: DeleteStreamCommandInput) => Effect.Effect<void, KinesisError>
  // Enhanced fan-out. Optional so that hand-written implementations (test doubles) need not have
  // them; `fromClient` has all of them, and the fan-out reader fails with a clear error without them.
  /** Registers an enhanced fan-out consumer of a stream (by `StreamARN`); it starts CREATING. */
  readonly registerStreamConsumer?: (
    input: RegisterStreamConsumerCommandInput,
    target?: CallTarget
  ) => Effect.Effect<Out<RegisterStreamConsumerCommandOutput>, KinesisError>
  /** A consumer's ARN and status, by `ConsumerARN` or by `StreamARN` + `ConsumerName`. */
  readonly describeStreamConsumer?: (
    input: DescribeStreamConsumerCommandInput,
    target?: CallTarget
  ) => Effect.Effect<Out<DescribeStreamConsumerCommandOutput>, KinesisError>
  /** One page of a stream's registered consumers. */
  readonly listStreamConsumers?: (
    input: ListStreamConsumersCommandInput,
    target?: CallTarget
  ) => Effect.Effect<Out<ListStreamConsumersCommandOutput>, KinesisError>
  /** Deregisters a consumer, by `ConsumerARN` or by `StreamARN` + `ConsumerName`. */
  readonly deregisterStreamConsumer?: (
    input: DeregisterStreamConsumerCommandInput,
    target?: CallTarget
  ) => Effect.Effect<void, KinesisError>
  /**
   * Subscribes a consumer to a shard: the events the service pushes, until it ends the
   * subscription (after 5 minutes) or the shard ends. Ending or interrupting the stream aborts the
   * HTTP request; an exception inside the event stream (ResourceInUse, a dropped connection) fails
   * it with a {@link KinesisError}.
   */
  readonly subscribeToShard?: (
    input: SubscribeToShardCommandInput,
    target?: CallTarget
  ) => Stream.Stream<SubscribeToShardEvent, KinesisError>
}

/**
 * How to reach Kinesis. Anything left out is resolved the way the AWS SDK resolves it
 * (environment, shared config files, instance metadata).
 */
export interface KinesisOptions {
  readonly region?: string
  /** Endpoint override, e.g. a local emulator's `http://127.0.0.1:4567`. */
  readonly endpoint?: string
  readonly credentials?: KinesisClientConfig["credentials"]
  /**
   * The HTTP handler. With an `endpoint` the default is HTTP/1.1 (`NodeHttpHandler`), which the
   * emulators need; without one the SDK's own default is kept (real AWS needs HTTP/2 for
   * SubscribeToShard).
   */
  readonly requestHandler?: KinesisClientConfig["requestHandler"]
  /**
   * Attempts the SDK itself makes per call. Defaults to 1: shardline retries with its own
   * `Schedule`s, which run on Effect's `Clock` and are visible to tests.
   */
  readonly maxAttempts?: number
  /** Any further client settings, applied last. */
  readonly clientConfig?: KinesisClientConfig
}

/**
 * The Kinesis service.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const kinesis = yield* Kinesis
 *   const { Shards } = yield* kinesis.listShards({ StreamName: "clicks" })
 * }).pipe(Effect.provide(Kinesis.layer({ region: "eu-west-1" })))
 * ```
 */
export class Kinesis extends Context.Tag("shardline/Kinesis")<Kinesis, KinesisApi>() {
  /** Builds the client in a scope; closing the scope destroys its sockets. */
  static readonly make = (options: KinesisOptions = {}): Effect.Effect<KinesisApi, never, Scope.Scope> =>
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => new KinesisClient(clientConfig(options))),
        (client) => Effect.sync(() => client.destroy())
      ),
      fromClient
    )

  /** A layer with a client built from `options`. */
  static readonly layer = (options: KinesisOptions = {}): Layer.Layer<Kinesis> =>
    Layer.scoped(Kinesis, Kinesis.make(options))

  /**
   * A layer configured from Effect `Config` (see {@link kinesisOptionsConfig}): `AWS_REGION`, and
   * for an emulator `SHARDLINE_KINESIS_ENDPOINT` (or the SDK's `AWS_ENDPOINT_URL_KINESIS`).
   */
  static readonly layerConfig = (
    config: Config.Config<KinesisOptions> = kinesisOptionsConfig
  ): Layer.Layer<Kinesis, ConfigError.ConfigError> =>
    Layer.scoped(Kinesis, Effect.flatMap(config, Kinesis.make))
}

/**
 * Reads {@link KinesisOptions} from configuration (all optional): `AWS_REGION`, an endpoint from
 * `SHARDLINE_KINESIS_ENDPOINT` or `AWS_ENDPOINT_URL_KINESIS`, and static credentials from
 * `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`). Left out, the AWS SDK's own
 * resolution applies (profiles, instance roles, ...).
 */
export const kinesisOptionsConfig: Config.Config<KinesisOptions> = Config.all({
  region: Config.option(Config.string("AWS_REGION")),
  endpoint: Config.option(
    Config.string("SHARDLINE_KINESIS_ENDPOINT").pipe(Config.orElse(() => Config.string("AWS_ENDPOINT_URL_KINESIS")))
  ),
  accessKeyId: Config.option(Config.string("AWS_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.redacted("AWS_SECRET_ACCESS_KEY")),
  sessionToken: Config.option(Config.redacted("AWS_SESSION_TOKEN"))
}).pipe(
  Config.map(({ accessKeyId, endpoint, region, secretAccessKey, sessionToken }) => ({
    ...(Option.isSome(region) ? { region: region.value } : {}),
    ...(Option.isSome(endpoint) ? { endpoint: endpoint.value } : {}),
    ...(Option.isSome(accessKeyId) && Option.isSome(secretAccessKey)
      ? {
          credentials: {
            accessKeyId: accessKeyId.value,
            secretAccessKey: Redacted.value(secretAccessKey.value),
            ...(Option.isSome(sessionToken) ? { sessionToken: Redacted.value(sessionToken.value) } : {})
          }
        }
      : {})
  }))
)

const clientConfig = (options: KinesisOptions): KinesisClientConfig => {
  const config: KinesisClientConfig = { maxAttempts: options.maxAttempts ?? 1 }
  if (options.region !== undefined) config.region = options.region
  if (options.credentials !== undefined) config.credentials = options.credentials
  if (options.endpoint !== undefined) {
    config.endpoint = options.endpoint
    config.requestHandler = options.requestHandler ?? new NodeHttpHandler()
  } else if (options.requestHandler !== undefined) {
    config.requestHandler = options.requestHandler
  }
  return { ...config, ...options.clientConfig }
}

/** The stream and shard a request names, for errors and call logs. */
export const targetOf = (input: { StreamName?: string | undefined; ShardId?: string | undefined }): CallTarget => ({
  streamName: input.StreamName,
  shardId: input.ShardId
})

/** Whether the service answered: a success, or an exception it sent (network errors have no status). */
const answered = (cause: unknown): boolean => {
  const status = (cause as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode
  return typeof status === "number"
}

const showEndpoint = (endpoint: unknown): string | undefined => {
  if (typeof endpoint === "string") return endpoint
  if (endpoint instanceof URL) return endpoint.href
  const e = endpoint as { protocol?: unknown; hostname?: unknown; port?: unknown; path?: unknown } | null
  if (typeof e !== "object" || e === null || typeof e.hostname !== "string") return undefined
  const protocol = typeof e.protocol === "string" ? e.protocol : "https:"
  const port = typeof e.port === "number" || typeof e.port === "string" ? `:${e.port}` : ""
  const path = typeof e.path === "string" && e.path !== "/" ? e.path : ""
  return `${protocol}${protocol.endsWith(":") ? "" : ":"}//${e.hostname}${port}${path}`
}

/** Resolves a config value that may be a provider; undefined if it is absent or fails. */
const settle = (value: unknown): Effect.Effect<unknown> =>
  typeof value === "function"
    ? Effect.tryPromise(async () => (value as () => unknown)()).pipe(Effect.orElseSucceed(() => undefined))
    : Effect.succeed(value)

/** The client's region and endpoint override, read only when a call failed; never fails itself. */
const settingsOf = (client: KinesisClient): Effect.Effect<Pick<ClientContext, "region" | "endpoint">> =>
  Effect.suspend(() =>
    Effect.all({ region: settle(client.config.region), endpoint: settle(client.config.endpoint) }).pipe(
      Effect.map(({ endpoint, region }) => ({
        region: typeof region === "string" && region !== "" ? region : undefined,
        endpoint: showEndpoint(endpoint)
      }))
    )
  ).pipe(Effect.orElseSucceed(() => ({ region: undefined, endpoint: undefined })))

/** Wraps an SDK client as the service; exported for users who already own a client. */
export const fromClient = (client: KinesisClient): KinesisApi => {
  // Once the service has answered, this endpoint is known right: later connection errors are blips.
  let reached = false
  const failed = (operation: KinesisOperation, target: CallTarget, cause: unknown): Effect.Effect<never, KinesisError> => {
    if (answered(cause)) reached = true
    const wasReached = reached
    return Effect.flatMap(settingsOf(client), (settings) =>
      Effect.fail(fromAwsError(operation, target, cause, { ...settings, reached: wasReached })))
  }
  const call = <A>(
    operation: KinesisOperation,
    target: CallTarget,
    send: (signal: AbortSignal) => Promise<A>
  ): Effect.Effect<A, KinesisError> =>
    Effect.tryPromise({
      try: (signal) =>
        send(signal).then((out) => {
          reached = true
          return out
        }),
      catch: (cause) => cause
    }).pipe(Effect.catchAll((cause) => failed(operation, target, cause)))

  const subscribeToShard = (
    input: SubscribeToShardCommandInput,
    target?: CallTarget
  ): Stream.Stream<SubscribeToShardEvent, KinesisError> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const at = target ?? { shardId: input.ShardId }
        // The response outlives the call: this controller aborts it when the stream's scope closes.
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        const out = yield* call("SubscribeToShard", at, (signal) => {
          signal.addEventListener("abort", () => controller.abort(), { once: true })
          return client.send(new SubscribeToShardCommand(input), { abortSignal: controller.signal })
        })
        const iterator = (out.EventStream ?? emptyEvents)[Symbol.asyncIterator]()
        // Not Stream.fromAsyncIterable: its release awaits `return()`, which waits for the pending
        // `next()`, i.e. for the next event. Abort first and let the generator unwind on its own.
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            controller.abort()
            iterator.return?.().catch(() => {})
          })
        )
        const next: Effect.Effect<SubscribeToShardEvent, Option.Option<KinesisError>> = Effect.tryPromise({
          try: () => iterator.next(),
          catch: (cause) => cause
        }).pipe(
          Effect.catchAll((cause) => Effect.mapError(failed("SubscribeToShard", at, cause), Option.some)),
          Effect.flatMap((result) => {
            if (result.done === true) return Effect.fail(Option.none())
            const member = result.value
            if (member.SubscribeToShardEvent !== undefined) return Effect.succeed(member.SubscribeToShardEvent)
            // A modelled exception the SDK handed on as a member instead of throwing it.
            const [name, value] = Object.entries(member).find(([, v]) => v !== undefined) ?? ["UnknownError", undefined]
            const cause = value instanceof Error ? value : Object.assign(new Error(`${name} in the event stream`), { name })
            return Effect.mapError(failed("SubscribeToShard", at, cause), Option.some)
          })
        )
        return Stream.repeatEffectOption(next)
      })
    )

  return {
    createStream: (input) =>
      Effect.asVoid(
        call("CreateStream", targetOf(input), (abortSignal) =>
          client.send(new CreateStreamCommand(input), { abortSignal })
        )
      ),
    describeStreamSummary: (input) =>
      call("DescribeStreamSummary", targetOf(input), (abortSignal) =>
        client.send(new DescribeStreamSummaryCommand(input), { abortSignal })
      ),
    listShards: (input, target) =>
      call("ListShards", target ?? targetOf(input), (abortSignal) =>
        client.send(new ListShardsCommand(input), { abortSignal })
      ),
    getShardIterator: (input) =>
      call("GetShardIterator", targetOf(input), (abortSignal) =>
        client.send(new GetShardIteratorCommand(input), { abortSignal })
      ),
    getRecords: (input, target) =>
      call("GetRecords", target ?? {}, (abortSignal) => client.send(new GetRecordsCommand(input), { abortSignal })),
    putRecord: (input) =>
      call("PutRecord", targetOf(input), (abortSignal) => client.send(new PutRecordCommand(input), { abortSignal })),
    putRecords: (input) =>
      call("PutRecords", targetOf(input), (abortSignal) => client.send(new PutRecordsCommand(input), { abortSignal })),
    splitShard: (input) =>
      Effect.asVoid(
        call("SplitShard", { streamName: input.StreamName, shardId: input.ShardToSplit }, (abortSignal) =>
          client.send(new SplitShardCommand(input), { abortSignal }))
      ),
    mergeShards: (input) =>
      Effect.asVoid(
        call("MergeShards", { streamName: input.StreamName, shardId: input.ShardToMerge }, (abortSignal) =>
          client.send(new MergeShardsCommand(input), { abortSignal }))
      ),
    deleteStream: (input) =>
      Effect.asVoid(
        call("DeleteStream", targetOf(input), (abortSignal) =>
          client.send(new DeleteStreamCommand(input), { abortSignal }))
      ),
    registerStreamConsumer: (input, target) =>
      call("RegisterStreamConsumer", target ?? {}, (abortSignal) =>
        client.send(new RegisterStreamConsumerCommand(input), { abortSignal })),
    describeStreamConsumer: (input, target) =>
      call("DescribeStreamConsumer", target ?? {}, (abortSignal) =>
        client.send(new DescribeStreamConsumerCommand(input), { abortSignal })),
    listStreamConsumers: (input, target) =>
      call("ListStreamConsumers", target ?? {}, (abortSignal) =>
        client.send(new ListStreamConsumersCommand(input), { abortSignal })),
    deregisterStreamConsumer: (input, target) =>
      Effect.asVoid(
        call("DeregisterStreamConsumer", target ?? {}, (abortSignal) =>
          client.send(new DeregisterStreamConsumerCommand(input), { abortSignal }))
      ),
    subscribeToShard
  }
}

const emptyEvents: AsyncIterable<SubscribeToShardEventStream> = {
  [Symbol.asyncIterator]: async function*() {}
}
