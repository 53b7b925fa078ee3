/**
 * fast-check arbitraries for the clickstream example messages, covering the edges of every
 * field type: unicode text, map entries, int64 over its full range, every oneof case and
 * timestamps across the whole range protobuf JSON accepts.
 */
import { create } from "@bufbuild/protobuf"
import { type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt"
import fc from "fast-check"
import {
  type Click,
  ClickSchema,
  type ClickstreamEvent,
  ClickstreamEventSchema,
  DeviceType,
  type LineItem,
  LineItemSchema,
  type PageView,
  PageViewSchema,
  type Purchase,
  PurchaseSchema
} from "../../gen/shardline/examples/clickstream/v1/clickstream_pb.js"

/** Any Unicode text that UTF-8 can carry (no lone surrogates), including astral code points. */
export const arbitraryText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.string({ unit: "grapheme", maxLength: 12 })
)

export const arbitraryInt64: fc.Arbitrary<bigint> = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
export const arbitraryInt32: fc.Arbitrary<number> = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
export const arbitraryUint32: fc.Arbitrary<number> = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }).map(Number)

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of RFC 3339 timestamps. */
export const minTimestampSeconds = -62_135_596_800n
export const maxTimestampSeconds = 253_402_300_799n

export const arbitraryTimestamp: fc.Arbitrary<Timestamp> = fc
  .record({
    seconds: fc.bigInt({ min: minTimestampSeconds, max: maxTimestampSeconds }),
    nanos: fc.integer({ min: 0, max: 999_999_999 })
  })
  .map((init) => create(TimestampSchema, init))

const optionalTimestamp = fc.option(arbitraryTimestamp, { nil: undefined })

export const arbitraryDeviceType: fc.Arbitrary<DeviceType> = fc.constantFrom(
  DeviceType.UNSPECIFIED,
  DeviceType.DESKTOP,
  DeviceType.MOBILE,
  DeviceType.TABLET
)

export const arbitraryPageView: fc.Arbitrary<PageView> = fc
  .record({
    sessionId: arbitraryText,
    userId: arbitraryText,
    url: arbitraryText,
    referrer: arbitraryText,
    device: arbitraryDeviceType,
    occurredAt: optionalTimestamp,
    // protobuf-es decodes maps into plain objects, where a "__proto__" key cannot be stored.
    attributes: fc.dictionary(arbitraryText.filter((key) => key !== "__proto__"), arbitraryText, {
      maxKeys: 5,
      noNullPrototype: true
    }),
    loadTimeMs: arbitraryUint32
  })
  .map((init) => create(PageViewSchema, init))

export const arbitraryClick: fc.Arbitrary<Click> = fc
  .record({
    sessionId: arbitraryText,
    userId: arbitraryText,
    url: arbitraryText,
    elementId: arbitraryText,
    x: arbitraryInt32,
    y: arbitraryInt32,
    occurredAt: optionalTimestamp
  })
  .map((init) => create(ClickSchema, init))

export const arbitraryLineItem: fc.Arbitrary<LineItem> = fc
  .record({ sku: arbitraryText, quantity: arbitraryUint32, unitPriceMinor: arbitraryInt64 })
  .map((init) => create(LineItemSchema, init))

/** Every case of `Purchase.payment`, including none; `invoice: false` is a set case too. */
export const arbitraryPayment: fc.Arbitrary<Purchase["payment"]> = fc.oneof(
  fc.constant({ case: undefined }),
  fc.record({ case: fc.constant("cardLast4" as const), value: arbitraryText }),
  fc.record({ case: fc.constant("voucherCode" as const), value: arbitraryText }),
  fc.record({ case: fc.constant("invoice" as const), value: fc.boolean() })
)

export const arbitraryPurchase: fc.Arbitrary<Purchase> = fc
  .record({
    orderId: arbitraryText,
    userId: arbitraryText,
    currency: arbitraryText,
    totalMinor: arbitraryInt64,
    items: fc.array(arbitraryLineItem, { maxLength: 4 }),
    occurredAt: optionalTimestamp,
    payment: arbitraryPayment
  })
  .map((init) => create(PurchaseSchema, init))

/** Every case of `ClickstreamEvent.event`, including none. */
export const arbitraryEventCase: fc.Arbitrary<ClickstreamEvent["event"]> = fc.oneof(
  fc.record({ case: fc.constant("pageView" as const), value: arbitraryPageView }),
  fc.record({ case: fc.constant("click" as const), value: arbitraryClick }),
  fc.record({ case: fc.constant("purchase" as const), value: arbitraryPurchase }),
  fc.constant({ case: undefined })
)

export const arbitraryClickstreamEvent: fc.Arbitrary<ClickstreamEvent> = fc
  .record({
    eventId: arbitraryText,
    tenant: arbitraryText,
    sentAt: optionalTimestamp,
    event: arbitraryEventCase
  })
  .map((init) => create(ClickstreamEventSchema, init))
