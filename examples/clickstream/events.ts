import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import {
  type ClickstreamEvent,
  ClickstreamEventSchema,
  DeviceType
} from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"
import { pick, pickWeighted } from "../shared/random.js"

// The benchmarks take their generator from here.
export { seededRandom } from "../shared/random.js"

const pages = ["/", "/search", "/products/42", "/products/7", "/products/19", "/cart", "/checkout", "/help"]
// Skewed so the top pages differ clearly: the first pages are viewed far more often.
const pageWeights = [30, 18, 14, 10, 8, 9, 6, 5]
const currencies = ["EUR", "USD", "GBP", "JPY"]
const devices = [DeviceType.DESKTOP, DeviceType.MOBILE, DeviceType.TABLET]

const pickPage = pickWeighted(pages, pageWeights)

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
          url: pickPage(random),
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
          url: pickPage(random),
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
