import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { isIP } from "node:net"
import { Data, Effect, type Scope } from "effect"
import { integerOption, InvalidOption } from "../config/index.js"
import { listenServer } from "../internal/listenServer.js"
import { contentSecurityPolicy, dashboardPage } from "./page.js"
import type { DashboardState } from "./state.js"

/** Where the dashboard listens. */
export interface DashboardOptions {
  /** 0: any free port (the server answers which). */
  readonly port: number
  /** Default `127.0.0.1`: only this machine. `0.0.0.0` or `::` to reach it from elsewhere (there is no authentication). */
  readonly host?: string
  /** Least time between two snapshots sent on one `/events` connection. Default 250 ms (4 per second). */
  readonly throttleMillis?: number
  /** Time between SSE heartbeat comments, which keep proxies from closing a quiet connection. Default 15 s. */
  readonly heartbeatMillis?: number
}

/** A dashboard server listening; it stops when its scope closes. */
export interface DashboardServer {
  /** e.g. `http://127.0.0.1:9464/` */
  readonly url: string
  readonly host: string
  readonly port: number
  /** `/events` connections open now. */
  readonly connections: () => number
}

/** The dashboard could not listen (the port is taken, the host is not this machine's). */
export class DashboardError extends Data.TaggedError("DashboardError")<{
  readonly host: string
  readonly port: number
  readonly cause: unknown
}> {
  override get message() {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `Dashboard could not listen on ${this.host}:${this.port}: ${reason}`
  }
}

const hostname = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

const validHost = (host: unknown): Effect.Effect<string, InvalidOption> =>
  typeof host === "string" && (isIP(host) !== 0 || hostname.test(host))
    ? Effect.succeed(host)
    : Effect.fail(new InvalidOption({ option: "dashboard.host", given: JSON.stringify(host) ?? String(host), expected: "an IP address or a host name" }))

const urlOf = (host: string, port: number): string => {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}/`
}

const commonHeaders = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer"
} as const

/** One `/events` connection: sends the snapshot at once, then on changes (throttled), with heartbeats. */
const openEvents = (
  response: ServerResponse,
  state: DashboardState,
  throttleMillis: number,
  heartbeatMillis: number,
  onClose: () => void
): (() => void) => {
  response.writeHead(200, {
    ...commonHeaders,
    "Content-Type": "text/event-stream; charset=utf-8",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no"
  })
  let lastSent = 0
  let pending: NodeJS.Timeout | undefined
  let closed = false
  const send = () => {
    pending = undefined
    if (closed) return
    lastSent = Date.now()
    response.write(`event: snapshot\ndata: ${JSON.stringify(state.snapshot())}\n\n`)
  }
  const changed = () => {
    if (closed || pending !== undefined) return
    const wait = lastSent + throttleMillis - Date.now()
    if (wait <= 0) send()
    else pending = setTimeout(send, wait)
  }
  const unsubscribe = state.subscribe(changed)
  const heartbeat = setInterval(() => response.write(`: heartbeat\n\n`), heartbeatMillis)
  const close = () => {
    if (closed) return
    closed = true
    unsubscribe()
    clearInterval(heartbeat)
    if (pending !== undefined) clearTimeout(pending)
    if (!response.writableEnded) response.end()
    onClose()
  }
  response.on("close", close)
  response.write("retry: 2000\n\n")
  send()
  return close
}

/**
 * Serves the dashboard of `state` until the scope closes: `GET /` the page, `GET /snapshot.json`
 * the state now, `GET /events` a server-sent event `snapshot` at connect and on every change.
 * Closing the scope ends every `/events` connection and the server. Fails with `InvalidOption`
 * for a bad port or host, with {@link DashboardError} when it cannot listen.
 *
 * @example
 * ```ts
 * const state = yield* DashboardState.make()
 * const { url } = yield* Dashboard.serve({ port: 9464 }, state)
 * yield* Effect.log(`dashboard on ${url}`)
 * ```
 */
export const serve = (
  options: DashboardOptions,
  state: DashboardState
): Effect.Effect<DashboardServer, InvalidOption | DashboardError, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* integerOption("dashboard.port", options.port, 0, 0, 65_535)
    const host = yield* validHost(options.host ?? "127.0.0.1")
    const throttleMillis = yield* integerOption("dashboard.throttleMillis", options.throttleMillis, 250, 0, 60_000)
    const heartbeatMillis = yield* integerOption("dashboard.heartbeatMillis", options.heartbeatMillis, 15_000, 10, 3_600_000)
    const events = new Set<() => void>()
    const handle = (request: IncomingMessage, response: ServerResponse) => {
      const path = new URL(request.url ?? "/", "http://dashboard").pathname
      const get = request.method === "GET" || request.method === "HEAD"
      if (!get) {
        response.writeHead(405, { ...commonHeaders, Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" })
        return void response.end("Method not allowed\n")
      }
      switch (path) {
        case "/":
        case "/index.html":
          response.writeHead(200, {
            ...commonHeaders,
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": contentSecurityPolicy,
            "X-Frame-Options": "DENY"
          })
          return void response.end(request.method === "HEAD" ? undefined : dashboardPage)
        case "/snapshot.json":
          response.writeHead(200, { ...commonHeaders, "Content-Type": "application/json; charset=utf-8" })
          return void response.end(request.method === "HEAD" ? undefined : JSON.stringify(state.snapshot()))
        case "/events": {
          const close = openEvents(response, state, throttleMillis, heartbeatMillis, () => events.delete(close))
          return void events.add(close)
        }
        case "/favicon.ico":
          // Browsers ask for it; no content rather than a 404 in the console.
          response.writeHead(204, commonHeaders)
          return void response.end()
        default:
          response.writeHead(404, { ...commonHeaders, "Content-Type": "text/plain; charset=utf-8" })
          return void response.end("Not found\n")
      }
    }
    const listening = yield* Effect.acquireRelease(
      listenServer(() => createServer(handle), host, port, (cause) => new DashboardError({ host, port, cause })),
      (running) =>
        Effect.zipRight(
          Effect.sync(() => {
            for (const close of [...events]) close()
          }),
          running.stop
        )
    )
    return {
      url: urlOf(host, listening.port),
      host,
      port: listening.port,
      connections: () => events.size
    }
  })
