/** dynalite (an in-memory DynamoDB) started in this process on 127.0.0.1 for the tests. */
import type { Server } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import dynalite from "dynalite"
import { Context, Effect, Layer, type Scope } from "effect"
import { EmulatorStartError, LeaseStore } from "../../src/index.js"

/** Dummy credentials: dynalite checks that a request is signed, not by whom. */
export const localCredentials = { accessKeyId: "test", secretAccessKey: "test" } as const
export const localRegion = "us-east-1"

/** A running dynalite. */
export interface DynaliteInstance {
  /** e.g. `http://127.0.0.1:45123`. */
  readonly endpoint: string
}

const host = "127.0.0.1"

/**
 * Starts dynalite on a free port; stopped when the scope closes. Tables are ACTIVE at once
 * (dynalite's default keeps them CREATING for 500 ms).
 */
export const startDynalite: Effect.Effect<DynaliteInstance, EmulatorStartError, Scope.Scope> = Effect.map(
  Effect.acquireRelease(Effect.async(listen), (running) => running.stop),
  ({ port }) => ({ endpoint: `http://${host}:${port}` })
)

interface Running {
  readonly port: number
  readonly stop: Effect.Effect<void>
}

function listen(resume: (effect: Effect.Effect<Running, EmulatorStartError>) => void): void {
  const failed = (cause: unknown) => resume(Effect.fail(new EmulatorStartError({ emulator: "dynalite", host, port: 0, cause })))
  let server: Server
  try {
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  } catch (cause) {
    return failed(cause)
  }
  // dynalite's close waits for open connections (the SDK keeps them alive), so they are cut.
  const sockets = new Set<Socket>()
  let closing = false
  server.on("connection", (socket: Socket) => {
    if (closing) return void socket.destroy()
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  const stop = Effect.async<void>((done) => {
    closing = true
    // Its close also closes the in-memory database; an error there is of no interest to a test.
    server.close(() => done(Effect.void))
    for (const socket of sockets) socket.destroy()
  })
  server.once("error", failed)
  server.listen(0, host, () => {
    server.off("error", failed)
    resume(Effect.succeed({ port: (server.address() as AddressInfo).port, stop }))
  })
}

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
