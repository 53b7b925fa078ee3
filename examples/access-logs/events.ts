import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { type AccessLogEvent, AccessLogEventSchema } from "../../gen/shardline/examples/accesslog/v1/access_log_pb.js"
import { pick, pickWeighted, seededRandom } from "../shared/random.js"

/** How one route behaves: how often it is called, how long it takes, how it fails. */
interface Route {
  readonly endpoint: string
  /** Relative share of the traffic. */
  readonly weight: number
  /** Median latency (ms) and the spread of its log-normal distribution. */
  readonly medianMs: number
  readonly sigma: number
  /** Share of requests answered with a 5xx in normal times. */
  readonly errorRate: number
  /** Non-error statuses other than the usual success, with their shares (404s, 401s, 304s: not errors). */
  readonly otherStatuses: ReadonlyArray<readonly [status: number, share: number]>
  readonly ok: number
}

/** Eight routes of a shop's API, with their traffic shares and latency profiles. */
export const routes: ReadonlyArray<Route> = [
  { endpoint: "GET /api/products", weight: 20, medianMs: 35, sigma: 0.5, errorRate: 0.002, otherStatuses: [[304, 0.05]], ok: 200 },
  { endpoint: "GET /api/products/:id", weight: 25, medianMs: 20, sigma: 0.4, errorRate: 0.002, otherStatuses: [[404, 0.03], [304, 0.05]], ok: 200 },
  { endpoint: "GET /api/search", weight: 15, medianMs: 110, sigma: 0.7, errorRate: 0.006, otherStatuses: [[400, 0.01]], ok: 200 },
  { endpoint: "POST /api/cart", weight: 10, medianMs: 55, sigma: 0.45, errorRate: 0.003, otherStatuses: [[409, 0.01]], ok: 200 },
  { endpoint: "POST /api/checkout", weight: 6, medianMs: 240, sigma: 0.5, errorRate: 0.004, otherStatuses: [[402, 0.02]], ok: 201 },
  { endpoint: "GET /api/orders/:id", weight: 8, medianMs: 45, sigma: 0.5, errorRate: 0.003, otherStatuses: [[404, 0.04]], ok: 200 },
  { endpoint: "POST /api/login", weight: 6, medianMs: 85, sigma: 0.35, errorRate: 0.002, otherStatuses: [[401, 0.08], [429, 0.01]], ok: 200 },
  { endpoint: "GET /healthz", weight: 10, medianMs: 2, sigma: 0.3, errorRate: 0, otherStatuses: [], ok: 200 }
]

/** The endpoint names, in the order above. */
export const endpoints: ReadonlyArray<string> = routes.map((r) => r.endpoint)

/** A time span (epoch ms, `[fromMs, toMs)`) in which one endpoint's backend fails often. */
export interface Burst {
  readonly endpoint: string
  readonly fromMs: number
  readonly toMs: number
  /** Share of that endpoint's requests answered with a 5xx during the burst. */
  readonly errorRate: number
}

const hosts = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]
const regions = ["eu-west-1", "us-east-1"]
const clients = ["web", "ios", "android"]

const pickRoute = pickWeighted(routes, routes.map((r) => r.weight))

/** A standard normal sample (Box-Muller). */
const normal = (random: () => number): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())

/** Log-normal around the route's median, with a rare slow tail (a GC pause, a cold cache). */
const latencyOf = (route: Route, random: () => number): number => {
  const slow = random() < 0.01 ? 4 + random() * 6 : 1
  return Math.max(1, Math.round(route.medianMs * Math.exp(route.sigma * normal(random)) * slow))
}

/**
 * A seeded source of access-log events: each call makes one request served at `timeMs` (epoch
 * ms), on a route picked by traffic share. During `burst`, its endpoint fails with 503s (fast:
 * the backend refuses) and 504s (slow: the gateway times out after about 3 s).
 *
 * @example
 * ```ts
 * const next = accessLogs({ seed: 7, burst: { endpoint: "POST /api/checkout", fromMs: t0 + 4000, toMs: t0 + 8000, errorRate: 0.35 } })
 * const event = next(Date.now())
 * ```
 */
export const accessLogs = (options: { readonly seed: number; readonly burst?: Burst | undefined }): ((timeMs: number) => AccessLogEvent) => {
  const random = seededRandom(options.seed)
  const burst = options.burst
  return (timeMs) => {
    const route = pickRoute(random)
    const inBurst = burst !== undefined && route.endpoint === burst.endpoint && timeMs >= burst.fromMs && timeMs < burst.toMs
    let status = route.ok
    let latencyMs = latencyOf(route, random)
    const roll = random()
    if (inBurst && roll < burst.errorRate) {
      const timeout = random() < 0.5
      status = timeout ? 504 : 503
      latencyMs = timeout ? 3000 + Math.round(random() * 400) : 1 + Math.round(random() * 8)
    } else if (roll < route.errorRate) {
      status = pick([500, 502, 503], random)
    } else {
      let share = random()
      for (const [other, p] of route.otherStatuses) {
        if (share < p) {
          status = other
          break
        }
        share -= p
      }
    }
    return create(AccessLogEventSchema, {
      time: timestampFromMs(timeMs),
      endpoint: route.endpoint,
      status,
      latencyMs,
      host: pick(hosts, random),
      labels: {
        region: pick(regions, random),
        client: pick(clients, random),
        trace_id: Math.floor(random() * 2 ** 48).toString(16).padStart(12, "0")
      }
    })
  }
}

/** The partition key: the host, so one host's log lines stay in order on one shard. */
export const partitionKeyOf = (event: AccessLogEvent): string => event.host
