import { Duration, Effect, Either, Stream } from "effect"
import { dual } from "effect/Function"
import { InvalidOption } from "../config/index.js"
import type { StoredState } from "../state/StateRuntime.js"
import type { KinesisRecord } from "../consumer/index.js"
import type { Draft, RecordChunk, StreamRecord } from "./Batch.js"
import type { ResolvedSource, SourceRun } from "./KinesisSource.js"
import { buildAll, fromSourceWith, type Operators, type Pipeline } from "./Pipeline.js"

const prefixed = (prefix: string) => (id: string) => `${prefix}${id}`

const renameChunk = (chunk: RecordChunk<KinesisRecord>, name: (id: string) => string): RecordChunk<KinesisRecord> => ({
  ...chunk,
  shardId: name(chunk.shardId),
  records: chunk.records.map((r) => ({ ...r, shardId: name(r.shardId) })),
  childShards: chunk.childShards?.map((c) => ({ shardId: name(c.shardId), parentShardIds: c.parentShardIds.map(name) }))
})

const renameMap = <V>(map: ReadonlyMap<string, V>, keep: (id: string) => string | undefined): Map<string, V> => {
  const out = new Map<string, V>()
  for (const [id, v] of map) {
    const renamed = keep(id)
    if (renamed !== undefined) out.set(renamed, v)
  }
  return out
}

/**
 * The part of a merged batch that came from one side, with that side's own shard ids. The records
 * are copied only for `deliverable`: committing and fencing tokens read the batch's maps alone.
 */
const sideOf = (draft: Draft<KinesisRecord>, prefix: string, withRecords = false): Draft<KinesisRecord> => {
  const strip = (id: string) => (id.startsWith(prefix) ? id.slice(prefix.length) : undefined)
  const records: Array<KinesisRecord> = []
  if (withRecords) {
    for (const r of draft.records) if (r.shardId.startsWith(prefix)) records.push({ ...r, shardId: r.shardId.slice(prefix.length) })
  }
  return {
    ...draft,
    records,
    checkpoints: renameMap(draft.checkpoints, strip),
    millisBehindLatest: renameMap(draft.millisBehindLatest, strip),
    sessions: renameMap(draft.sessions, strip),
    childShards: new Map(
      [...renameMap(draft.childShards, strip)].map(([id, cs]) => [
        id,
        cs.map((c) => ({ shardId: strip(c.shardId) ?? c.shardId, parentShardIds: c.parentShardIds.map((p) => strip(p) ?? p) }))
      ])
    )
  }
}

/** Both sources' runs as one: shard ids carry their side's prefix (`<stream>/<shard id>`). */
const mergeRuns = <A>(runs: ReadonlyArray<readonly [string, SourceRun<A>]>): SourceRun<A> => {
  const sideFor = (id: string) => runs.find(([prefix]) => id.startsWith(prefix))
  const joinDrafts = (draft: Draft<KinesisRecord>, parts: ReadonlyArray<readonly [string, Draft<KinesisRecord>]>): Draft<KinesisRecord> => {
    // Records keep the merged batch's order; a side may only have dropped its own shards' records.
    const keptShards = new Set(parts.flatMap(([prefix, part]) => [...new Set(part.records.map((r) => r.shardId))].map(prefixed(prefix))))
    const join = <V>(pick: (d: Draft<KinesisRecord>) => ReadonlyMap<string, V>) =>
      new Map(parts.flatMap(([prefix, part]) => [...pick(part)].map(([id, v]) => [prefix + id, v] as const)))
    return {
      ...draft,
      records: draft.records.filter((r) => keptShards.has(r.shardId)),
      checkpoints: join((d) => d.checkpoints),
      millisBehindLatest: join((d) => d.millisBehindLatest),
      sessions: join((d) => d.sessions),
      childShards: join((d) => d.childShards)
    }
  }
  return {
    chunks: Stream.mergeAll(runs.map(([prefix, run]) => Stream.map(run.chunks, (c) => renameChunk(c, prefixed(prefix)))), { concurrency: "unbounded" }),
    // Each side decodes its own records (with its own codec); shard ids keep their prefix.
    // Merged pipelines never feed (their operators are each side's, after this decode).
    decode: (records, options) => {
      // Per side, in its own order: a batch keeps per-shard order, not an order across shards.
      const out: Array<StreamRecord<A>> = []
      for (const [prefix, run] of runs) {
        // Each side applies its own source filter; the batch's time and the tally are shared.
        const decoded = run.decode(records.filter((r) => r.shardId.startsWith(prefix)), { poison: options.poison, now: options.now, tally: options.tally })
        if (Either.isLeft(decoded)) return decoded
        for (const d of decoded.right) out.push(d)
      }
      return Either.right(out)
    },
    deliverable: (draft) => joinDrafts(draft, runs.map(([prefix, run]) => [prefix, run.deliverable(sideOf(draft, prefix, true))] as const)),
    fencingTokens: (draft) =>
      new Map(runs.flatMap(([prefix, run]) => [...run.fencingTokens(sideOf(draft, prefix))].map(([id, t]) => [prefix + id, t] as const))),
    commit: (draft, states) =>
      Effect.map(
        Effect.forEach(runs, ([prefix, run]) =>
          Effect.map(
            run.commit(sideOf(draft, prefix), renameMap(states, (id) => (id.startsWith(prefix) ? id.slice(prefix.length) : undefined))),
            (written) => [...written].map(prefixed(prefix))
          ), { concurrency: "unbounded" }),
        (written) => new Set(written.flat())
      ),
    activeShards: () =>
      new Map(runs.flatMap(([prefix, run]) => [...run.activeShards()].map(([id, session]) => [prefix + id, session] as const))),
    loadState: (shardId, session) => {
      const side = sideFor(shardId)
      if (side === undefined) return Effect.succeed<StoredState>({ _tag: "Own", bytes: undefined })
      return side[1].loadState(shardId.slice(side[0].length), session)
    },
    origin: (shardId) => {
      const side = sideFor(shardId)
      return side === undefined ? { streamName: "", shardId } : side[1].origin(shardId.slice(side[0].length))
    },
    shutdown: Effect.forEach(runs, ([, run]) => run.shutdown, { discard: true }),
    finishInFlightOnInterrupt: runs.some(([, run]) => run.finishInFlightOnInterrupt)
  }
}

/**
 * One pipeline over two sources (Spark's `union`): batches hold the records of both, each side's
 * operators applied to its own records. Both need the same batch interval. Shard ids (in records
 * and in a batch's checkpoints) carry their stream's name, `<stream>/<shard id>`, since two
 * streams' shard ids look alike. Each side keeps its own checkpoints (or leases) as it would alone.
 *
 * @example
 * ```ts
 * const clicks = Pipeline.merge(webClicks, appClicks) // two streams, one batch stream
 * ```
 */
export const merge: {
  <A, E2, R2>(that: Pipeline<A, E2, R2>): <E, R>(self: Pipeline<A, E, R>) => Pipeline<A, E | E2, R | R2>
  <A, E, R, E2, R2>(self: Pipeline<A, E, R>, that: Pipeline<A, E2, R2>): Pipeline<A, E | E2, R | R2>
} = dual(2, <A, E, R, E2, R2>(self: Pipeline<A, E, R>, that: Pipeline<A, E2, R2>): Pipeline<A, E | E2, R | R2> => {
  const source = Effect.gen(function* () {
    const left: ResolvedSource<unknown, R | R2> = yield* self.source
    const right: ResolvedSource<unknown, R | R2> = yield* that.source
    if (!Duration.equals(left.batchInterval, right.batchInterval)) {
      return yield* new InvalidOption({
        option: "batchInterval",
        given: `${Duration.format(left.batchInterval)} and ${Duration.format(right.batchInterval)}`,
        expected: "the same batch interval on both sides of Pipeline.merge"
      })
    }
    const sameStream = left.scope.streamName === right.scope.streamName
    if (sameStream && left.scope.applicationName === right.scope.applicationName) {
      return yield* new InvalidOption({
        option: "streamName",
        given: left.scope.streamName,
        expected: "two different streams (or application names) on the two sides of Pipeline.merge"
      })
    }
    const prefixOf = (s: typeof left) => (sameStream ? `${s.scope.applicationName}:${s.scope.streamName}/` : `${s.scope.streamName}/`)
    const prefixes = [prefixOf(left), prefixOf(right)] as const
    const merged: ResolvedSource<unknown, R | R2> = {
      scope: left.scope,
      batchInterval: left.batchInterval,
      maxBatchRecords: left.maxBatchRecords + right.maxBatchRecords,
      // Each side's share, as for records; a side without a byte cap leaves the merged batch without one.
      maxBatchBytes: left.maxBatchBytes === undefined || right.maxBatchBytes === undefined ? undefined : left.maxBatchBytes + right.maxBatchBytes,
      start: (options) =>
        Effect.map(Effect.all([left.start(options), right.start(options)]), ([l, r]) =>
          mergeRuns<unknown>([[prefixes[0], l], [prefixes[1], r]]))
    }
    return { merged, prefixes }
  })
  return fromSourceWith(
    Effect.map(source, (s) => s.merged),
    (run) =>
      Effect.gen(function* () {
        const { prefixes } = yield* Effect.orDie(source)
        const left = yield* buildAll(self, run)
        const right = yield* buildAll(that, run)
        const both: Operators<A, E | E2, R | R2> = (records, context) => {
          const l: Array<StreamRecord<unknown>> = []
          const r: Array<StreamRecord<unknown>> = []
          for (const record of records) (record.shardId.startsWith(prefixes[0]) ? l : r).push(record)
          return Effect.zipWith(left(l, context), right(r, context), (a, b) => [...a, ...b])
        }
        return both
      }),
    self.perRecord && that.perRecord
  )
})
