import { Effect, Exit, Scope } from "effect"
import type { KinesisOptions } from "../kinesis/index.js"
import { Kinesis } from "../kinesis/index.js"
import { LocalKinesis, type LocalKinesisOptions } from "../local/index.js"
import { errorOf } from "./errors.js"

/** A record to put into a local stream. */
export interface LocalRecord {
  readonly partitionKey: string
  readonly data: Uint8Array
  readonly explicitHashKey?: string
}

/** A running embedded emulator (kinesalite), for local runs, demos and tests. */
export interface LocalKinesisHandle {
  /** e.g. `http://127.0.0.1:45123`. */
  readonly endpoint: string
  /** Pass as a consumer's `kinesis` option to reach this emulator. */
  readonly kinesis: KinesisOptions
  /** Creates a stream and resolves once it is ACTIVE. */
  createStream(name: string, shardCount: number): Promise<void>
  /** Puts records (any number, in PutRecords calls of up to 500); resolves with where each landed, in order. */
  put(streamName: string, records: ReadonlyArray<LocalRecord>): Promise<ReadonlyArray<{ readonly shardId: string; readonly sequenceNumber: string }>>
  /** Stops the emulator (its streams are gone). Calling it again does nothing. */
  close(): Promise<void>
}

const run = <A>(effect: Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(errorOf(exit.cause))))

/**
 * Starts an embedded Kinesis emulator in this process (needs the optional package `kinesalite`);
 * rejects with `MissingDependency` without it, or `EmulatorStartError` if it cannot listen.
 *
 * @example
 * ```ts
 * const local = await startLocalKinesis({ streams: [{ name: "orders", shardCount: 2 }] })
 * await local.put("orders", [{ partitionKey: "o-1", data: new TextEncoder().encode("{}") }])
 * const consumer = createConsumer({ streamName: "orders", kinesis: local.kinesis, ... })
 * // ...
 * await consumer.stop()
 * await local.close()
 * ```
 */
export const startLocalKinesis = async (options: LocalKinesisOptions = {}): Promise<LocalKinesisHandle> => {
  const scope = Effect.runSync(Scope.make())
  const started = await run(Scope.extend(
    Effect.gen(function* () {
      const instance = yield* LocalKinesis.start(options)
      const api = yield* Kinesis.make(instance.kinesisOptions)
      return { instance, api }
    }),
    scope
  )).catch(async (error: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  })
  const { api, instance } = started
  let closed: Promise<void> | undefined
  return {
    endpoint: instance.endpoint,
    kinesis: instance.kinesisOptions,
    createStream: (name, shardCount) => run(instance.createStream(name, shardCount)),
    put: (streamName, records) =>
      run(Effect.gen(function* () {
        const placed: Array<{ shardId: string; sequenceNumber: string }> = []
        for (let offset = 0; offset < records.length; offset += 500) {
          const part = records.slice(offset, offset + 500)
          const out = yield* api.putRecords({
            StreamName: streamName,
            Records: part.map((r) => ({
              PartitionKey: r.partitionKey,
              Data: r.data,
              ...(r.explicitHashKey === undefined ? {} : { ExplicitHashKey: r.explicitHashKey })
            }))
          })
          for (const entry of out.Records ?? []) {
            if (entry.ShardId === undefined || entry.SequenceNumber === undefined) {
              return yield* Effect.fail(new Error(`PutRecords refused a record: ${entry.ErrorCode ?? "unknown"} ${entry.ErrorMessage ?? ""}`))
            }
            placed.push({ shardId: entry.ShardId, sequenceNumber: entry.SequenceNumber })
          }
        }
        return placed
      })),
    close: () => (closed ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  }
}
