import { Duration } from "effect"
import { InvalidOption } from "../config/index.js"

/**
 * A record as a {@link RecordFilter} sees it: where it sits, its keys, its arrival time and its
 * bytes, before anything is decoded. With KPL de-aggregation, each user record of an aggregate on
 * its own (its own partition key, explicit hash key and bytes).
 */
export interface RawRecord {
  /** As the batch's records carry it (merged pipelines prefix it with the stream, `<stream>/<shard id>`). */
  readonly shardId: string
  readonly sequenceNumber: string
  /** Inside a KPL aggregate, the user record's index; left out (read it as 0) for a plain record. */
  readonly subSequenceNumber?: number | undefined
  readonly partitionKey: string
  /**
   * Only KPL user records whose aggregate names one have it: Kinesis (GetRecords, SubscribeToShard)
   * does not return the explicit hash key a plain record was put with, so it is undefined then.
   */
  readonly explicitHashKey?: string | undefined
  /** When Kinesis accepted the record (the aggregate's time for its user records). */
  readonly approximateArrivalTimestamp: Date | undefined
  /** The bytes the codec would decode. A view into the read buffers: do not keep or change it. */
  readonly data: Uint8Array
}

/**
 * Decides, before a record is decoded, whether the pipeline keeps it (true) or skips it (false),
 * like Lambda's filter criteria. `now` (milliseconds) is the same for every record of a batch: the
 * batch's time, to compare arrival times with instead of reading the clock per record. Called once
 * per record (per KPL user record) on the hot path: keep it pure and cheap. A filter that throws
 * is a bug: the run dies with it.
 */
export type RecordFilter = (record: RawRecord, now: number) => boolean

/** Exactly one of `T`'s fields. */
type One<T> = {
  [K in keyof T]: { readonly [P in K]: T[K] } & { readonly [P in Exclude<keyof T, K>]?: never }
}[keyof T]

/** The ways a key can match, one at a time. */
interface KeyMatchers {
  /** The key is exactly this. */
  readonly equals: string
  /** The key is one of these. */
  readonly anyOf: ReadonlyArray<string>
  /** The key starts with this (or one of these). */
  readonly prefix: string | ReadonlyArray<string>
  /** The key ends with this (or one of these). */
  readonly suffix: string | ReadonlyArray<string>
  /** The key is none of these (Lambda's `anything-but`). */
  readonly anythingBut: string | ReadonlyArray<string>
  /** The key matches this regular expression (its `g` and `y` flags are dropped). */
  readonly pattern: RegExp
}

/** How {@link RecordFilter.partitionKey} matches a key: a string is `{ equals }`. */
export type KeyMatch = string | One<KeyMatchers>

/** How {@link RecordFilter.explicitHashKey} matches: a {@link KeyMatch}, or one of these. */
export type HashKeyMatch =
  | KeyMatch
  | One<{
    /** The record has an explicit hash key (true) or has none (false), as Lambda's `exists`. */
    readonly exists: boolean
    /** The key, a decimal number, is within `[min, max]` (inclusive), compared as numbers. */
    readonly between: readonly [string, string]
  }>

const invalid = (option: string, given: unknown, expected: string): InvalidOption =>
  new InvalidOption({ option: `RecordFilter.${option}`, given: show(given), expected })

const show = (value: unknown): string => {
  if (value instanceof RegExp || value instanceof Date) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return typeof value
  }
}

const texts = (option: string, value: unknown, allowEmpty: boolean): ReadonlyArray<string> => {
  const list = typeof value === "string" ? [value] : value
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string") || (!allowEmpty && list.length === 0)) {
    throw invalid(option, value, allowEmpty ? "a string or an array of strings" : "a string or a non-empty array of strings")
  }
  return list as ReadonlyArray<string>
}

const keyMatchers = ["equals", "anyOf", "prefix", "suffix", "anythingBut", "pattern"] as const

/** The one matcher named in `match`, as a function of the key; the lists are read once, here. */
const keyMatcher = (option: string, match: unknown, extra: ReadonlyArray<string> = []): ((key: string) => boolean) | undefined => {
  if (typeof match === "string") return (key) => key === match
  const named = typeof match === "object" && match !== null ? Object.keys(match).filter((k) => (match as any)[k] !== undefined) : []
  if (named.length !== 1 || ![...keyMatchers, ...extra].includes(named[0]!)) {
    throw invalid(option, match, `a string or an object with exactly one of ${[...keyMatchers, ...extra].join(", ")}`)
  }
  const name = named[0]!
  const value: unknown = (match as any)[name]
  switch (name) {
    case "equals": {
      if (typeof value !== "string") throw invalid(`${option}.equals`, value, "a string")
      return (key) => key === value
    }
    case "anyOf": {
      const set = new Set(texts(`${option}.anyOf`, value, true))
      return (key) => set.has(key)
    }
    case "anythingBut": {
      const set = new Set(texts(`${option}.anythingBut`, value, true))
      return (key) => !set.has(key)
    }
    case "prefix": {
      const list = texts(`${option}.prefix`, value, false)
      if (list.length === 1) {
        const only = list[0]!
        return (key) => key.startsWith(only)
      }
      return (key) => {
        for (let i = 0; i < list.length; i++) if (key.startsWith(list[i]!)) return true
        return false
      }
    }
    case "suffix": {
      const list = texts(`${option}.suffix`, value, false)
      return (key) => {
        for (let i = 0; i < list.length; i++) if (key.endsWith(list[i]!)) return true
        return false
      }
    }
    case "pattern": {
      if (!(value instanceof RegExp)) throw invalid(`${option}.pattern`, value, "a RegExp")
      // A global or sticky RegExp remembers where it stopped: test() would then skip every other match.
      const re = new RegExp(value.source, value.flags.replace(/[gy]/g, ""))
      return (key) => re.test(key)
    }
  }
  return undefined
}

const isDecimal = (s: string): boolean => {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** Compares two decimal strings as numbers, leading zeros and all, without making a BigInt. */
const compareDecimal = (a: string, b: string): number => {
  let i = 0
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++
  let j = 0
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++
  const lengths = a.length - i - (b.length - j)
  if (lengths !== 0) return lengths
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j)
    if (d !== 0) return d
  }
  return 0
}

const checkFilters = (option: string, filters: ReadonlyArray<unknown>): ReadonlyArray<RecordFilter> => {
  filters.forEach((f, i) => {
    if (typeof f !== "function") throw invalid(`${option}[${i}]`, typeof f, "a RecordFilter (a function)")
  })
  return filters as ReadonlyArray<RecordFilter>
}

const arrivalOf = (option: string, date: unknown): number => {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw invalid(option, date, "a valid Date")
  return date.getTime()
}

const encoder = new TextEncoder()

/**
 * Builders for the usual {@link RecordFilter}s, in the spirit of Lambda's filter criteria on
 * metadata and data. Each reads and encodes its arguments once; the filters they build allocate
 * nothing per record. Arguments that cannot work throw {@link InvalidOption} when the filter is
 * built (in TypeScript most are compile errors already).
 *
 * @example
 * ```ts
 * const orders = Pipeline.fromKinesis({
 *   streamName: "events",
 *   codec: Codec.protobuf(OrderEventSchema),
 *   batchInterval: "1 second",
 *   filter: RecordFilter.all(
 *     RecordFilter.partitionKey({ prefix: "order-" }),
 *     RecordFilter.arrivedWithin("1 hour")
 *   )
 * })
 * ```
 */
export const RecordFilter = {
  /**
   * Keeps records whose partition key matches: a string (equal), or one of `equals`, `anyOf`,
   * `prefix`, `suffix`, `anythingBut`, `pattern`.
   *
   * @example
   * ```ts
   * RecordFilter.partitionKey({ anyOf: ["tenant-1", "tenant-7"] })
   * ```
   */
  partitionKey: (match: KeyMatch): RecordFilter => {
    const matches = keyMatcher("partitionKey", match)!
    return (record) => matches(record.partitionKey)
  },

  /**
   * Keeps records whose explicit hash key matches, as {@link RecordFilter.partitionKey} does, or
   * `{ exists }`, or `{ between: [min, max] }` (decimal, inclusive). Only KPL user records can have
   * one (Kinesis does not return a plain record's): a record without one matches `{ exists: false }`
   * and nothing else.
   *
   * @example
   * ```ts
   * RecordFilter.explicitHashKey({ between: ["0", "170141183460469231731687303715884105727"] }) // the lower half
   * ```
   */
  explicitHashKey: (match: HashKeyMatch): RecordFilter => {
    // Checked as data: JavaScript callers (and casts) get an InvalidOption, not a silent mismatch.
    const named = typeof match === "object" && match !== null ? (match as Readonly<Record<string, unknown>>) : undefined
    const given = named === undefined ? [] : Object.keys(named).filter((k) => named[k] !== undefined)
    if (named !== undefined && given.length === 1 && given[0] === "exists") {
      const exists = named.exists
      if (typeof exists !== "boolean") throw invalid("explicitHashKey.exists", exists, "true or false")
      return exists ? (record) => record.explicitHashKey !== undefined : (record) => record.explicitHashKey === undefined
    }
    if (named !== undefined && given.length === 1 && given[0] === "between") {
      const range = named.between
      if (
        !Array.isArray(range) || range.length !== 2 || !range.every((s) => typeof s === "string" && isDecimal(s)) ||
        compareDecimal(range[0], range[1]) > 0
      ) {
        throw invalid("explicitHashKey.between", range, "[min, max]: two decimal strings, min <= max")
      }
      const [min, max] = range as [string, string]
      return (record) => {
        const key = record.explicitHashKey
        return key !== undefined && isDecimal(key) && compareDecimal(key, min) >= 0 && compareDecimal(key, max) <= 0
      }
    }
    const matches = keyMatcher("explicitHashKey", match, ["exists", "between"])!
    return (record) => {
      const key = record.explicitHashKey
      return key !== undefined && matches(key)
    }
  },

  /**
   * Keeps records that arrived after `date` (strictly). Records without an arrival time never match.
   *
   * @example
   * ```ts
   * RecordFilter.arrivedAfter(new Date("2025-06-01T00:00:00Z")) // skip a backlog written before a fix
   * ```
   */
  arrivedAfter: (date: Date): RecordFilter => {
    const after = arrivalOf("arrivedAfter", date)
    return (record) => {
      const at = record.approximateArrivalTimestamp
      return at !== undefined && at.getTime() > after
    }
  },

  /** Keeps records that arrived before `date` (strictly). Records without an arrival time never match. */
  arrivedBefore: (date: Date): RecordFilter => {
    const before = arrivalOf("arrivedBefore", date)
    return (record) => {
      const at = record.approximateArrivalTimestamp
      return at !== undefined && at.getTime() < before
    }
  },

  /**
   * Keeps records that arrived at most `age` before their batch's time (`now`): skips stale
   * records after a long outage, say. Records without an arrival time never match.
   *
   * @example
   * ```ts
   * RecordFilter.arrivedWithin("15 minutes")
   * ```
   */
  arrivedWithin: (age: Duration.DurationInput): RecordFilter => {
    const decoded = Duration.decodeUnknown(age)
    const negative = (typeof age === "number" && !(age >= 0)) || (typeof age === "string" && age.trim().startsWith("-"))
    if (decoded._tag === "None" || negative || !Duration.isFinite(decoded.value)) {
      throw invalid("arrivedWithin", age, "a finite duration of at least 0, e.g. \"15 minutes\"")
    }
    const ms = Duration.toMillis(decoded.value)
    return (record, now) => {
      const at = record.approximateArrivalTimestamp
      return at !== undefined && now - at.getTime() <= ms
    }
  },

  /**
   * Keeps records whose bytes start with `prefix` (or one of several): strings are taken as UTF-8.
   * Cheap checks on raw bytes, e.g. a JSON type field written first or a protobuf's first tag.
   *
   * @example
   * ```ts
   * RecordFilter.dataStartsWith('{"type":"purchase"')
   * ```
   */
  dataStartsWith: (prefix: Uint8Array | string | ReadonlyArray<Uint8Array | string>): RecordFilter => {
    const list: ReadonlyArray<unknown> = Array.isArray(prefix) ? prefix : [prefix]
    if (list.length === 0 || !list.every((p) => typeof p === "string" || p instanceof Uint8Array)) {
      throw invalid("dataStartsWith", prefix, "bytes or a string, or a non-empty array of them")
    }
    // Encoded (and copied) once: later changes to the caller's array do not change the filter.
    const prefixes = list.map((p) => (typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p as Uint8Array)))
    const startsWith = (data: Uint8Array, p: Uint8Array) => {
      if (data.length < p.length) return false
      for (let i = 0; i < p.length; i++) if (data[i] !== p[i]) return false
      return true
    }
    if (prefixes.length === 1) {
      const only = prefixes[0]!
      return (record) => startsWith(record.data, only)
    }
    return (record) => {
      for (let i = 0; i < prefixes.length; i++) if (startsWith(record.data, prefixes[i]!)) return true
      return false
    }
  },

  /** Keeps records every one of `filters` keeps (in order, stopping at the first that skips); none: keeps all. */
  all: (...filters: ReadonlyArray<RecordFilter>): RecordFilter => {
    const list = checkFilters("all", filters)
    if (list.length === 0) return keepAll
    if (list.length === 1) return list[0]!
    if (list.length === 2) {
      const [a, b] = list as [RecordFilter, RecordFilter]
      return (record, now) => a(record, now) && b(record, now)
    }
    return (record, now) => {
      for (let i = 0; i < list.length; i++) if (!list[i]!(record, now)) return false
      return true
    }
  },

  /** Keeps records any one of `filters` keeps (in order, stopping at the first that keeps); none: keeps nothing. */
  any: (...filters: ReadonlyArray<RecordFilter>): RecordFilter => {
    const list = checkFilters("any", filters)
    if (list.length === 0) return keepNone
    if (list.length === 1) return list[0]!
    if (list.length === 2) {
      const [a, b] = list as [RecordFilter, RecordFilter]
      return (record, now) => a(record, now) || b(record, now)
    }
    return (record, now) => {
      for (let i = 0; i < list.length; i++) if (list[i]!(record, now)) return true
      return false
    }
  },

  /** Keeps the records `filter` skips. */
  not: (filter: RecordFilter): RecordFilter => {
    const [f] = checkFilters("not", [filter])
    return (record, now) => !f!(record, now)
  }
} as const

const keepAll: RecordFilter = () => true
const keepNone: RecordFilter = () => false

/** Checks a source's `filter` option: absent, or a function. */
export const checkFilter = (filter: unknown): InvalidOption | undefined =>
  filter === undefined || typeof filter === "function"
    ? undefined
    : new InvalidOption({
      option: "filter",
      given: typeof filter === "object" ? show(filter) : typeof filter,
      expected: "a RecordFilter: a function (record, now) => boolean, e.g. RecordFilter.partitionKey({ prefix: \"eu-\" })"
    })
