import { Effect, Schedule, type Scope, Stream } from "effect"
import type { CheckpointScope } from "../checkpoint/index.js"
import type { Codec } from "../codec/index.js"
import { type InitialPosition, listShards, type ShardReaderSettings } from "../consumer/index.js"
import type { Checkpoint } from "../checkpoint/index.js"
import { type Assignment, type CoordinatorSettings, type LeaseSession, makeCoordinator } from "../coordinator/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"
import { type Lease, LeaseStore, type LeaseStoreError } from "../lease/index.js"
import type { KinesisRecord } from "../consumer/index.js"
import { checkpointMeter } from "../metrics/meters.js"
import type { Draft } from "./Batch.js"
import { decodeRecords, rawChunk } from "./decodeChunk.js"
import type { RecordFilter } from "./filter.js"
import type { SourceRun } from "./KinesisSource.js"
import type { ShardReading } from "./retrieval.js"
import { storedState } from "./sourceState.js"

/** Store hiccups while checkpointing are retried briefly before the run fails. */
const checkpointRetry = Schedule.intersect(Schedule.jittered(Schedule.exponential("50 millis")), Schedule.recurs(5))

/**
 * Reads the shards this worker holds leases for, each from its lease's checkpoint once its
 * parents ended; a shard's reader stops when its lease is lost. Batches deliver only what is still
 * held and checkpoint through the leases.
 */
export const startLeased = <A>(config: {
  readonly scope: CheckpointScope
  readonly codec: Codec<A>
  readonly deaggregate: boolean
  readonly filter: RecordFilter | undefined
  readonly reader: ShardReaderSettings
  readonly read: ShardReading
  readonly startAt: InitialPosition
  readonly settings: CoordinatorSettings
}): Effect.Effect<SourceRun<A>, KinesisError | LeaseStoreError, Scope.Scope | Kinesis | LeaseStore> =>
  Effect.gen(function* () {
    const { scope, codec, reader } = config
    const streamName = scope.streamName
    const list = listShards(streamName, reader.retry)
    const coordinator = yield* makeCoordinator({ scope, initial: config.startAt, settings: config.settings, listShards: list })
    const store = yield* LeaseStore
    const meter = checkpointMeter(scope.applicationName, streamName, config.settings.workerId)
    // Per holding: the row as taken (its checkpoint and state are where the shard resumes).
    const rows = new WeakMap<LeaseSession, Lease>()
    // Per holding: its last checkpoint, for state-only commits.
    const lastCheckpoint = new WeakMap<LeaseSession, Checkpoint>()
    // Shards being read (their parents ended) under which holding: what a stateful pipeline holds
    // state for, and the holding a state-only commit goes through.
    const reading = new Map<string, LeaseSession>()

    // A shard past retention answers ResourceNotFound: give it up if it is gone from the stream,
    // so its children are not held back; anything else (the stream itself gone) is an error.
    const onNotFound = (assignment: Assignment, error: KinesisError) =>
      Stream.unwrap(
        Effect.map(list, (shards) =>
          shards.some((s) => s.shardId === assignment.lease.shardId)
            ? Stream.fail(error)
            : Stream.execute(coordinator.shardGone(assignment.session))
        )
      )

    const readAssigned = (assignment: Assignment) => {
      rows.set(assignment.session, assignment.lease)
      if (assignment.lease.checkpoint !== undefined) lastCheckpoint.set(assignment.session, assignment.lease.checkpoint)
      return Stream.unwrap(
        Effect.map(coordinator.startPosition(assignment), (position) => {
          if (position !== undefined) reading.set(assignment.lease.shardId, assignment.session)
          return position === undefined
            ? Stream.empty
            : config.read({ streamName, shardId: assignment.lease.shardId, position }).pipe(
                Stream.catchTag("KinesisResourceNotFound", (error) => onNotFound(assignment, error)),
                Stream.map((chunk) => rawChunk(chunk, assignment.session))
              )
        })
      ).pipe(
        Stream.interruptWhen(assignment.session.lost),
        Stream.ensuring(Effect.sync(() => {
          if (reading.get(assignment.lease.shardId) === assignment.session) reading.delete(assignment.lease.shardId)
        }))
      )
    }

    const loadState = (shardId: string, session: LeaseSession | undefined) =>
      Effect.gen(function* () {
        const row = session === undefined ? undefined : rows.get(session)
        if (row === undefined) return { _tag: "Own", bytes: undefined } as const
        return yield* storedState({
          shardId,
          own: yield* store.loadState(scope, row),
          started: row.checkpoint !== undefined,
          list,
          parentState: (parent) =>
            Effect.flatMap(store.get(scope, parent), (parentRow) => (parentRow === undefined ? Effect.succeed(undefined) : store.loadState(scope, parentRow)))
        })
      })

    const deliverable = (draft: Draft<KinesisRecord>): Draft<KinesisRecord> => {
      const lost = [...draft.sessions].filter(([, s]) => !s.held).map(([id]) => id)
      if (lost.length === 0) return draft
      const gone = new Set(lost)
      return {
        ...draft,
        records: draft.records.filter((r) => !gone.has(r.shardId)),
        checkpoints: new Map([...draft.checkpoints].filter(([id]) => !gone.has(id))),
        sessions: new Map([...draft.sessions].filter(([id]) => !gone.has(id)))
      }
    }

    const commitShard = (draft: Draft<KinesisRecord>, shardId: string, state: Uint8Array | undefined) =>
      Effect.suspend(() => {
        const session = draft.sessions.get(shardId) ?? reading.get(shardId)
        const checkpoint = draft.checkpoints.get(shardId) ?? (session === undefined ? undefined : lastCheckpoint.get(session))
        // A shard with no position yet keeps its new state in memory until its first checkpoint.
        if (session === undefined || !session.held || checkpoint === undefined) return Effect.succeed(false)
        return coordinator.checkpoint(session, checkpoint, draft.childShards.get(shardId), state).pipe(
          Effect.tapBoth({ onFailure: (e) => meter.failed(e._tag === "LeaseLost" ? "lease_lost" : "error"), onSuccess: () => meter.written }),
          Effect.retry({ schedule: checkpointRetry, while: (e) => e._tag === "LeaseStoreError" }),
          Effect.tap(() => void lastCheckpoint.set(session, checkpoint)),
          Effect.as(true),
          // Lost meanwhile: the next owner reads on from the last checkpoint it sees (the hook was told).
          Effect.catchTag("LeaseLost", (lost) => Effect.as(Effect.logDebug(`shardline: checkpoint refused, ${lost.message}`), false))
        )
      })

    const commit = (draft: Draft<KinesisRecord>, states: ReadonlyMap<string, Uint8Array>) =>
      Effect.suspend(() => {
        const shardIds = [...new Set([...draft.checkpoints.keys(), ...states.keys()])]
        return Effect.map(
          Effect.forEach(shardIds, (id) => commitShard(draft, id, states.get(id)), { concurrency: 8 }),
          (done) => new Set(shardIds.filter((id, i) => done[i] === true && states.has(id)))
        )
      })

    return {
      chunks: coordinator.assignments.pipe(Stream.map(readAssigned), Stream.flatten({ concurrency: "unbounded", bufferSize: 2 })),
      decode: (records, options) => decodeRecords(codec, records, { ...options, deaggregate: config.deaggregate, filter: config.filter }),
      deliverable,
      fencingTokens: (draft) => new Map([...draft.sessions].map(([id, s]) => [id, s.counter])),
      commit,
      activeShards: () => reading,
      loadState,
      origin: (shardId) => ({ streamName, shardId }),
      shutdown: coordinator.shutdown,
      finishInFlightOnInterrupt: true,
      leaseTable: store.list(scope)
    }
  })
