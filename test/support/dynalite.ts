/** dynalite (an in-memory DynamoDB) started in this process on 127.0.0.1 for the tests. */
import type { AddressInfo } from "node:net"
import dynalite from "dynalite"
import { Effect, Layer } from "effect"
import { LeaseStore } from "../../src/index.js"

/** Dummy credentials: dynalite checks that a request is signed, not by whom. */
export const localCredentials = { accessKeyId: "local", secretAccessKey: "local" }

/** Starts dynalite on a free port; closed when the scope closes. Answers its endpoint. */
export const startDynalite = Effect.acquireRelease(
  Effect.async<{ readonly endpoint: string; readonly close: () => void }>((resume) => {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ endpoint: `http://127.0.0.1:${port}`, close: () => server.close() }))
    })
  }),
  (d) => Effect.sync(() => d.close())
)

/** A LeaseStore on a fresh dynalite, in table `tableName`. */
export const dynamoLeaseStoreLayer = (tableName = "shardline-leases") =>
  Layer.unwrapScoped(
    Effect.map(startDynalite, ({ endpoint }) =>
      LeaseStore.layerDynamoDB({ tableName, endpoint, region: "us-east-1", credentials: localCredentials })
    )
  )
