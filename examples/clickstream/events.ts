import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import {
  type ClickstreamEvent,
  ClickstreamEventSchema,
  DeviceType
} from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"

const pages = ["/", "/search", "/products/42", "/products/7", "/products/19", "/cart", "/checkout", "/help"]
// Skewed so the top pages differ clearly: the first pages are viewed far more often.
const pageWeights = [30, 18, 14, 10, 8, 9, 6, 5]
const currencies = ["EUR", "USD", "GBP", "JPY"]
const devices = [DeviceType.DESKTOP, DeviceType.MOBILE, DeviceType.TABLET]

const pick = <A>(items: ReadonlyArray<A>, random: () => number): A => items[Math.floor(random() * items.length)]!

const pickWeighted = (random: () => number): string => {
  const total = pageWeights.reduce((a, b) => a + b, 0)
  let roll = random() * total
  for (let i = 0; i < pages.length; i++) {
    roll -= pageWeights[i]!
    if (roll < 0) return pages[i]!
  }
  return pages[0]!
}

/** A small seeded generator (mulberry32), so a run can be replayed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One clickstream event: mostly page views, some clicks, a few purchases. */
export const randomEvent = (random: () => number, nowMs: number, sequence: number): ClickstreamEvent => {
  const userId = `user-${Math.floor(random() * 500)}`
  const sessionId = `${userId}-s${Math.floor(random() * 3)}`
  const occurredAt = timestampFromMs(nowMs)
  const roll = random()
  const base = { eventId: `evt-${sequence}`, tenant: "demo", sentAt: occurredAt }
  if (roll < 0.75) {
    return create(ClickstreamEventSchema, {
      ...base,
      event: {
        case: "pageView",
        value: {
          sessionId,
          userId,
          url: pickWeighted(random),
          referrer: random() < 0.3 ? "https://search.example/" : "",
          device: pick(devices, random),
          occurredAt,
          attributes: random() < 0.2 ? { utm_source: "newsletter" } : {},
          loadTimeMs: 50 + Math.floor(random() * 900)
        }
      }
    })
  }
  if (roll < 0.95) {
    return create(ClickstreamEventSchema, {
      ...base,
      event: {
        case: "click",
        value: {
          sessionId,
          userId,
          url: pickWeighted(random),
          elementId: pick(["buy", "search", "menu", "logo"], random),
          x: Math.floor(random() * 1280),
          y: Math.floor(random() * 800),
          occurredAt
        }
      }
    })
  }
  const quantity = 1 + Math.floor(random() * 3)
  const unitPriceMinor = BigInt(199 + Math.floor(random() * 9800))
  return create(ClickstreamEventSchema, {
    ...base,
    event: {
      case: "purchase",
      value: {
        orderId: `order-${sequence}`,
        userId,
        currency: pick(currencies, random),
        totalMinor: unitPriceMinor * BigInt(quantity),
        items: [{ sku: `sku-${Math.floor(random() * 100)}`, quantity, unitPriceMinor }],
        occurredAt,
        payment: random() < 0.8 ? { case: "cardLast4", value: "4242" } : { case: "invoice", value: true }
      }
    }
  })
}

/** The partition key: the session, so one session's events stay in order on one shard. */
export const partitionKeyOf = (event: ClickstreamEvent): string => {
  switch (event.event.case) {
    case "pageView":
    case "click":
      return event.event.value.sessionId
    case "purchase":
      return event.event.value.userId
    default:
      return event.eventId
  }
}
