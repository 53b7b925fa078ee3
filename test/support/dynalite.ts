/** dynalite (an in-memory DynamoDB) started in this process on 127.0.0.1 for the tests. */
import dynalite from "dynalite"
import { Context, Effect, Layer, type Scope } from "effect"
import { EmulatorStartError, LeaseStore } from "../../src/index.js"
import { listenServer } from "../../src/internal/listenServer.js"

/** Dummy credentials: dynalite checks that a request is signed, not by whom. */
export const localCredentials = { accessKeyId: "test", secretAccessKey: "test" } as const
export const localRegion = "us-east-1"

/** A running dynalite. */
export interface DynaliteInstance {
  /** e.g. `http://127.0.0.1:45123`. */
  readonly endpoint: string
}

const host = "127.0.0.1"

const listen = listenServer(
  () => dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }),
  host,
  0,
  (cause) => new EmulatorStartError({ emulator: "dynalite", host, port: 0, cause })
)

/**
 * Starts dynalite on a free port; stopped when the scope closes. Tables are ACTIVE at once
 * (dynalite's default keeps them CREATING for 500 ms).
 */
export const startDynalite: Effect.Effect<DynaliteInstance, EmulatorStartError, Scope.Scope> = Effect.map(
  Effect.acquireRelease(listen, (running) => running.stop),
  ({ port }) => ({ endpoint: `http://${host}:${port}` })
)

/** dynalite as a service, for suites that share one instance. */
export class Dynalite extends Context.Tag("test/Dynalite")<Dynalite, DynaliteInstance>() {
  static readonly layer = (): Layer.Layer<Dynalite, EmulatorStartError> => Layer.scoped(Dynalite, startDynalite)
}

/** LeaseStore.layerDynamoDB options that reach `endpoint`. */
export const dynamoOptions = (endpoint: string, tableName: string) =>
  ({ tableName, endpoint, region: localRegion, credentials: localCredentials }) as const

/** A LeaseStore on a fresh dynalite of its own, in table `tableName` (created by the store). */
export const dynamoLeaseStoreLayer = (tableName = "shardline-leases") =>
  Layer.unwrapScoped(Effect.map(startDynalite, ({ endpoint }) => LeaseStore.layerDynamoDB(dynamoOptions(endpoint, tableName))))
