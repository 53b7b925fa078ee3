import type { Server } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { Effect } from "effect"

/** An HTTP server listening, with the port it got and how to stop it. */
export interface ListeningServer {
  readonly server: Server
  readonly port: number
  readonly stop: Effect.Effect<void>
}

/**
 * Makes a server (an in-process emulator) listen on `host:port` (0: any free port). Its `stop`
 * cuts open connections first: clients keep theirs alive, and `close` alone would wait for them.
 * Fails with what `onError` makes of a throw from `make` or a listen error.
 */
export const listenServer = <E>(
  make: () => Server,
  host: string,
  port: number,
  onError: (cause: unknown) => E
): Effect.Effect<ListeningServer, E> =>
  Effect.async<ListeningServer, E>((resume) => {
    const failed = (cause: unknown) => resume(Effect.fail(onError(cause)))
    let server: Server
    try {
      server = make()
    } catch (cause) {
      return failed(cause)
    }
    const sockets = new Set<Socket>()
    let closing = false
    server.on("connection", (socket: Socket) => {
      // A connection arriving while closing would keep `close` waiting for it.
      if (closing) return void socket.destroy()
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
    })
    const stop = Effect.async<void>((done) => {
      closing = true
      server.close(() => done(Effect.void))
      for (const socket of sockets) socket.destroy()
    })
    server.once("error", failed)
    server.listen(port, host, () => {
      server.off("error", failed)
      resume(Effect.succeed({ server, port: (server.address() as AddressInfo).port, stop }))
    })
  })
