import { Effect, Schedule, type Scope, Stream } from "effect"
import type { CheckpointScope } from "../checkpoint/index.js"
import type { Codec } from "../codec/index.js"
import { type InitialPosition, listShards, readShard, type ShardReaderSettings } from "../consumer/index.js"
import { type Assignment, type CoordinatorSettings, makeCoordinator } from "../coordinator/index.js"
import type { Kinesis, KinesisError } from "../kinesis/index.js"
import type { LeaseStore, LeaseStoreError } from "../lease/index.js"
import type { BatchDraft } from "./Batch.js"
import { decodeChunk } from "./decodeChunk.js"
import type { SourceRun } from "./KinesisSource.js"

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
  readonly reader: ShardReaderSettings
  readonly startAt: InitialPosition
  readonly settings: CoordinatorSettings
}): Effect.Effect<SourceRun<A>, KinesisError | LeaseStoreError, Scope.Scope | Kinesis | LeaseStore> =>
  Effect.gen(function* () {
    const { scope, codec, reader } = config
    const streamName = scope.streamName
    const list = listShards(streamName, reader.retry)
    const coordinator = yield* makeCoordinator({ scope, initial: config.startAt, settings: config.settings, listShards: list })

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

    const readAssigned = (assignment: Assignment) =>
      Stream.unwrap(
        Effect.map(coordinator.startPosition(assignment), (position) =>
          position === undefined
            ? Stream.empty
            : readShard({ streamName, shardId: assignment.lease.shardId, position }, reader).pipe(
                Stream.catchTag("KinesisResourceNotFound", (error) => onNotFound(assignment, error)),
                Stream.mapEffect((chunk) => decodeChunk(codec, chunk, assignment.session))
              )
        )
      ).pipe(Stream.interruptWhen(assignment.session.lost))

    const deliverable = (draft: BatchDraft<A>): BatchDraft<A> => {
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

    const commitShard = (draft: BatchDraft<A>, shardId: string) =>
      Effect.suspend(() => {
        const session = draft.sessions.get(shardId)
        const checkpoint = draft.checkpoints.get(shardId)
        if (session === undefined || checkpoint === undefined) return Effect.void
        return coordinator.checkpoint(session, checkpoint, draft.childShards.get(shardId)).pipe(
          Effect.retry({ schedule: checkpointRetry, while: (e) => e._tag === "LeaseStoreError" }),
          // Lost meanwhile: the next owner reads on from the last checkpoint it sees (the hook was told).
          Effect.catchTag("LeaseLost", (lost) => Effect.logDebug(`shardline: checkpoint refused, ${lost.message}`))
        )
      })

    return {
      chunks: coordinator.assignments.pipe(Stream.map(readAssigned), Stream.flatten({ concurrency: "unbounded", bufferSize: 2 })),
      deliverable,
      fencingTokens: (draft) => new Map([...draft.sessions].map(([id, s]) => [id, s.counter])),
      commit: (draft) => Effect.forEach([...draft.checkpoints.keys()], (id) => commitShard(draft, id), { concurrency: 8, discard: true }),
      shutdown: coordinator.shutdown,
      finishInFlightOnInterrupt: true
    }
  })
