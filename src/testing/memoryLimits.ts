/**
 * Kinesis's per-shard throughput limits, on the emulator's clock. Off unless asked for: neither
 * emulator throttles, and most tests want records, not throttling.
 */

/** Per-shard limits; each defaults to the Kinesis quota. */
export interface ThroughputLimits {
  /** GetRecords calls per second per shard. Default 5. */
  readonly getRecordsPerSecond?: number
  /** Bytes read per second per shard. Default 2 MiB. A big read makes the next calls wait longer. */
  readonly readBytesPerSecond?: number
  /** Records written per second per shard. Default 1000. */
  readonly writeRecordsPerSecond?: number
  /**
   * Bytes written per second per shard (data plus partition key). Default 1 MiB. A single record
   * over it (a large record) goes through when the shard wrote nothing in the last second.
   */
  readonly writeBytesPerSecond?: number
}

const MiB = 1024 * 1024

interface ShardUsage {
  /** Times of the GetRecords calls let through in the last second. */
  readonly reads: Array<number>
  /** Until when reading is paid for by the bytes already read. */
  readUntil: number
  /** Writes let through in the last second: time and bytes. */
  readonly writes: Array<{ readonly at: number; readonly bytes: number }>
}

/**
 * Decides, per shard (`shardKey`: stream/shard), whether a call is over its quota, and counts what
 * it lets through. Without limits every method is a no-op, so unlimited streams pay nothing.
 */
export interface ShardMeter {
  /** True when a GetRecords on the shard now would be throttled. */
  readonly readThrottled: (shardKey: string, now: number) => boolean
  readonly countRead: (shardKey: string, now: number, bytes: number) => void
  /** True (and counted when false) when writing this record to the shard now goes over quota. */
  readonly tryWrite: (shardKey: string, now: number, data: Uint8Array, partitionKey: string) => boolean
}

const unlimited: ShardMeter = {
  readThrottled: () => false,
  countRead: () => {},
  tryWrite: () => false
}

export const makeShardMeter = (limits: ThroughputLimits | undefined): ShardMeter => {
  if (limits === undefined) return unlimited
  const callsPerSecond = limits.getRecordsPerSecond ?? 5
  const readRate = limits.readBytesPerSecond ?? 2 * MiB
  const writeRecords = limits.writeRecordsPerSecond ?? 1000
  const writeBytes = limits.writeBytesPerSecond ?? MiB
  const usage = new Map<string, ShardUsage>()
  const of = (key: string, now: number): ShardUsage => {
    let u = usage.get(key)
    if (u === undefined) {
      u = { reads: [], readUntil: 0, writes: [] }
      usage.set(key, u)
    }
    while (u.reads.length > 0 && u.reads[0]! <= now - 1000) u.reads.shift()
    while (u.writes.length > 0 && u.writes[0]!.at <= now - 1000) u.writes.shift()
    return u
  }
  return {
    readThrottled: (key, now) => {
      const u = of(key, now)
      return u.reads.length >= callsPerSecond || now < u.readUntil
    },
    countRead: (key, now, bytes) => {
      const u = of(key, now)
      u.reads.push(now)
      u.readUntil = Math.max(u.readUntil, now) + (bytes / readRate) * 1000
    },
    tryWrite: (key, now, data, partitionKey) => {
      const bytes = data.byteLength + Buffer.byteLength(partitionKey, "utf8")
      const u = of(key, now)
      let written = 0
      for (const w of u.writes) written += w.bytes
      // A record over the per-second quota (a large record, up to 10 MiB) is let through when the
      // shard wrote nothing in the last second: Kinesis bursts for it, then the window holds it back.
      const burst = written === 0 && bytes > writeBytes
      if (u.writes.length + 1 > writeRecords || (written + bytes > writeBytes && !burst)) return true
      u.writes.push({ at: now, bytes })
      return false
    }
  }
}
