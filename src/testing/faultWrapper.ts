import type { PutRecordsCommandInput, SubscribeToShardEvent } from "@aws-sdk/client-kinesis"
import { Cause, Clock, Duration, Effect, Exit, FiberId, Option, Stream } from "effect"
import type { CallTarget, KinesisApi, KinesisError, KinesisOperation } from "../kinesis/index.js"
import { targetOf } from "../kinesis/Kinesis.js"
import { errorOf, type FaultKind, injected, kindOfError, type PutEntryErrorCode, resolveEntries } from "./faultPlan.js"
import type { CallFilter, FaultCall, FaultRule, RecordedCall, WrappedKinesis } from "./faults.js"
import { streamOfArn } from "./memoryFanOut.js"

type FailedPutEntries = Extract<FaultKind, { readonly _tag: "FailedPutEntries" }>

const entryMessages: Record<PutEntryErrorCode, string> = {
  ProvisionedThroughputExceededException: "Rate exceeded for shard",
  InternalFailure: "Internal service failure."
}

/**
 * Sends only the surviving entries on, and splices the failed ones back in at their positions.
 * `fault.entries` are indexes within the call's entries (the wrapper resolved them).
 */
const partialPut = (api: KinesisApi, input: PutRecordsCommandInput, fault: FailedPutEntries) => {
  const records = input.Records ?? []
  const failed = new Set(fault.entries as ReadonlyArray<number>)
  // Over 500 entries the service refuses the whole call: let it.
  if (failed.size === 0 || records.length > 500) return api.putRecords(input)
  const ErrorCode = fault.errorCode ?? "ProvisionedThroughputExceededException"
  const entry = { ErrorCode, ErrorMessage: `${entryMessages[ErrorCode]} (${injected})` }
  const survivors = records.filter((_, i) => !failed.has(i))
  const rest = survivors.length === 0
    ? Effect.succeed({ FailedRecordCount: 0, Records: [] })
    : api.putRecords({ ...input, Records: survivors })
  return Effect.map(rest, (out) => {
    const written = out.Records ?? []
    let next = 0
    return {
      ...out,
      FailedRecordCount: (out.FailedRecordCount ?? 0) + failed.size,
      Records: records.map((_, i) => (failed.has(i) ? entry : written[next++]!))
    }
  })
}

/** The request never left: the call fails `afterMs` after it started. */
const failAfter = <A, E>(afterMs: number, fail: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  afterMs > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(afterMs)), fail) : fail

/** The service gets the call; the caller fails at `afterMs` whatever the answer, which is dropped. */
const answerLost = <A, E, X>(run: Effect.Effect<X, unknown>, afterMs: number, fail: Effect.Effect<A, E>) =>
  Effect.flatMap(Clock.currentTimeMillis, (start) =>
    Effect.exit(run).pipe(
      Effect.timeoutOption(Duration.millis(afterMs)),
      Effect.zipRight(Clock.currentTimeMillis),
      Effect.flatMap((now) => Effect.sleep(Duration.millis(Math.max(0, start + afterMs - now)))),
      Effect.zipRight(fail)
    ))

const keyOf = (operation: string, streamName: string | undefined, shardId: string | undefined) =>
  JSON.stringify([operation, streamName ?? null, shardId ?? null])

/** Wraps a service with rules and a call log (see `Faults.wrap`). */
export const wrapRules = (api: KinesisApi, rules: ReadonlyArray<FaultRule>): Effect.Effect<WrappedKinesis> =>
  Effect.sync(() => {
    const log: Array<RecordedCall> = []
    const counts = new Map<string, number>()
    // Per filter (operation or "*", stream or any, shard or any): how many calls matched so far.
    const filterCounts = new Map<string, number>()
    // Iterators handed out through the wrapper, so GetRecords calls can be told apart by shard.
    const iterators = new Map<string, CallTarget>()
    const next = (key: string): number => {
      const n = counts.get(key) ?? 0
      counts.set(key, n + 1)
      return n
    }
    const countFilters = (operation: KinesisOperation, { shardId, streamName }: CallTarget) => {
      const seen = new Map<string, number>()
      for (const o of [operation, "*"]) {
        for (const s of new Set([streamName, undefined])) {
          for (const h of new Set([shardId, undefined])) {
            const key = keyOf(o, s, h)
            const n = filterCounts.get(key) ?? 0
            seen.set(key, n)
            filterCounts.set(key, n + 1)
          }
        }
      }
      return (filter: CallFilter): number | undefined => {
        if (filter.operation !== "*" && filter.operation !== operation) return undefined
        if (filter.streamName !== undefined && filter.streamName !== streamName) return undefined
        if (filter.shardId !== undefined && filter.shardId !== shardId) return undefined
        return seen.get(keyOf(filter.operation, filter.streamName, filter.shardId))
      }
    }

    /** What the rules decide for one call: its delay, the faults noted, and the fault that decides it, if any. */
    const decideCall = (operation: KinesisOperation, input: unknown, target: CallTarget) => {
      const { shardId, streamName } = target
      const call: FaultCall = {
        operation,
        index: next(operation),
        indexOnStream: next(`${operation}/${streamName ?? ""}`),
        input,
        streamName,
        shardId,
        indexOf: countFilters(operation, target)
      }
      const faults: Array<FaultKind> = []
      let delay = 0
      let decided: { readonly kind: FaultKind; readonly error?: KinesisError } | undefined
      for (const rule of rules) {
        const out = rule(call)
        if (out === undefined) continue
        if (out instanceof Error) {
          decided = { kind: kindOfError(out), error: out }
        } else if (out._tag === "Latency") {
          delay += out.ms
          faults.push(out)
          continue
        } else if (out._tag === "FailedPutEntries") {
          // Indexes kept within the call's entries; a hand-written rule's "one" or rate is
          // decided by the call's index (seed 0). Plan rules answer indexes already.
          const count = (input as PutRecordsCommandInput | undefined)?.Records?.length ?? 0
          const entries = resolveEntries(out.entries, count, 0, call.index)
          if (entries.length === 0) continue
          decided = { kind: { ...out, entries } }
        } else {
          decided = { kind: out }
        }
        faults.push(decided.kind)
        break
      }
      return { faults, delay, decided }
    }

    /** Notes a call in the log as it ended; `injectedError` tells an injected failure from the service's. */
    const note = (
      base: Omit<RecordedCall, "outcome">,
      faults: ReadonlyArray<FaultKind>,
      exit: Exit.Exit<Partial<RecordedCall>, KinesisError>,
      injectedError: KinesisError | undefined
    ) => {
      const noted = faults.length === 0 ? {} : { faults }
      if (Exit.isSuccess(exit)) return log.push({ ...base, outcome: "ok", ...exit.value, ...noted })
      if (Cause.isInterruptedOnly(exit.cause)) return log.push({ ...base, outcome: "interrupted", ...noted })
      const error = Cause.failureOption(exit.cause)
      const outcome = Option.isSome(error) && error.value === injectedError ? "injected" : "failed"
      log.push({ ...base, outcome, ...(Option.isSome(error) ? { error: error.value } : {}), ...noted })
    }

    const baseOf = (operation: KinesisOperation, at: number, { shardId, streamName }: CallTarget) => ({
      operation,
      at,
      ...(streamName === undefined ? {} : { streamName }),
      ...(shardId === undefined ? {} : { shardId })
    })

    const guard = <A>(
      operation: KinesisOperation,
      input: unknown,
      target: CallTarget,
      run: Effect.Effect<A, KinesisError>,
      seen: (output: A) => Partial<RecordedCall> = () => ({}),
      failEntries?: (fault: FailedPutEntries) => Effect.Effect<A, KinesisError>
    ): Effect.Effect<A, KinesisError> =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.suspend(() => {
          const { decided, delay, faults } = decideCall(operation, input, target)

          let injectedError: KinesisError | undefined
          const inject = (error: KinesisError) =>
            Effect.suspend(() => {
              injectedError = error
              return Effect.fail(error)
            })
          const decide = (): Effect.Effect<A, KinesisError> => {
            if (decided === undefined) return run
            const { error, kind } = decided
            switch (kind._tag) {
              case "Latency": // never decides a call: it was added to the delay
                return run
              case "FailedPutEntries":
                return failEntries === undefined
                  ? Effect.dieMessage(`Faults: FailedPutEntries applies to PutRecords, not ${operation}`)
                  : failEntries(kind)
              case "Timeout":
              case "ConnectionReset": {
                const fail = inject(error ?? errorOf(kind, operation, target))
                const reached = kind._tag === "Timeout" ? kind.lostResponse === true : kind.reachedService === true
                return reached ? answerLost(run, kind.afterMs, fail) : failAfter(kind.afterMs, fail)
              }
              default:
                return inject(error ?? errorOf(kind, operation, target))
            }
          }
          const body = delay > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(delay)), Effect.suspend(decide)) : decide()
          return Effect.onExit(body, (exit) =>
            Effect.sync(() => note(baseOf(operation, at, target), faults, Exit.map(exit, seen), injectedError)))
        }))

    /**
     * SubscribeToShard: the rules decide when the stream starts. A failure fails it at once (after
     * `afterMs` for a `Timeout`); a `ConnectionReset` lets the events of its first `afterMs` through,
     * then drops the subscription with the reset error. Logged when the subscription ends, with the
     * records it delivered.
     */
    const subscribe = (
      run: NonNullable<KinesisApi["subscribeToShard"]>
    ): NonNullable<KinesisApi["subscribeToShard"]> =>
    (input, target) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const operation = "SubscribeToShard"
          const known = target ?? { streamName: streamOfArn(input.ConsumerARN), shardId: input.ShardId }
          const at = yield* Clock.currentTimeMillis
          const { decided, delay, faults } = decideCall(operation, input, known)
          let injectedError: KinesisError | undefined
          let failure: Cause.Cause<KinesisError> | undefined
          let records = 0
          yield* Effect.addFinalizer((exit) =>
            Effect.sync(() => {
              const ended: Exit.Exit<Partial<RecordedCall>, KinesisError> = failure !== undefined
                ? Exit.failCause(failure)
                : Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
                ? Exit.interrupt(FiberId.none)
                : Exit.succeed({ records })
              note(baseOf(operation, at, known), faults, ended, injectedError)
            })
          )
          if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
          const inject = (error: KinesisError) =>
            Effect.suspend(() => {
              injectedError = error
              return Effect.fail(error)
            })
          const events = (): Stream.Stream<SubscribeToShardEvent, KinesisError> => {
            if (decided === undefined) return run(input, target)
            const { error, kind } = decided
            switch (kind._tag) {
              case "Latency":
                return run(input, target)
              case "FailedPutEntries":
                return Stream.dieMessage(`Faults: FailedPutEntries applies to PutRecords, not ${operation}`)
              case "Timeout": {
                const fail = inject(error ?? errorOf(kind, operation, known))
                return Stream.fromEffect(
                  kind.lostResponse === true
                    ? answerLost(Stream.runDrain(run(input, target)), kind.afterMs, fail)
                    : failAfter(kind.afterMs, fail)
                )
              }
              case "ConnectionReset": {
                const fail = inject(error ?? errorOf(kind, operation, known))
                // A reset before anything was sent never opens the subscription.
                if (kind.afterMs === 0 && kind.reachedService !== true) return Stream.fromEffect(fail)
                return Stream.interruptWhen(run(input, target), failAfter(kind.afterMs, fail))
              }
              default:
                return Stream.fromEffect(inject(error ?? errorOf(kind, operation, known)))
            }
          }
          return events().pipe(
            Stream.tap((event) => Effect.sync(() => void (records += event.Records?.length ?? 0))),
            Stream.tapErrorCause((cause) => Effect.sync(() => void (failure = cause)))
          )
        })
      )

    /** Stream and shard of a fan-out call, from its target or the ARN it names. */
    const arnTarget = (arn: string | undefined, target: CallTarget | undefined): CallTarget =>
      target ?? { streamName: streamOfArn(arn) }

    const remember = (iterator: string | undefined, target: CallTarget) => {
      if (iterator !== undefined) iterators.set(iterator, target)
    }

    const wrapped: { -readonly [K in keyof KinesisApi]: KinesisApi[K] } = {
      createStream: (input) => guard("CreateStream", input, targetOf(input), api.createStream(input)),
      describeStreamSummary: (input) =>
        guard("DescribeStreamSummary", input, targetOf(input), api.describeStreamSummary(input)),
      listShards: (input, target) =>
        guard("ListShards", input, target ?? targetOf(input), api.listShards(input, target)),
      getShardIterator: (input) => {
        const target = targetOf(input)
        return guard("GetShardIterator", input, target, api.getShardIterator(input), (out) => {
          remember(out.ShardIterator, target)
          return {}
        })
      },
      getRecords: (input, target) =>
        Effect.suspend(() => {
          const known = target ?? iterators.get(input.ShardIterator ?? "") ?? {}
          return guard("GetRecords", input, known, api.getRecords(input, target), (out) => {
            remember(out.NextShardIterator, known)
            return { records: out.Records?.length ?? 0 }
          })
        }),
      putRecord: (input) => guard("PutRecord", input, targetOf(input), api.putRecord(input)),
      putRecords: (input) =>
        guard(
          "PutRecords",
          input,
          targetOf(input),
          api.putRecords(input),
          undefined,
          (fault) => partialPut(api, input, fault)
        ),
      splitShard: (input) =>
        guard("SplitShard", input, { streamName: input.StreamName, shardId: input.ShardToSplit }, api.splitShard(input)),
      mergeShards: (input) =>
        guard(
          "MergeShards",
          input,
          { streamName: input.StreamName, shardId: input.ShardToMerge },
          api.mergeShards(input)
        ),
      deleteStream: (input) => guard("DeleteStream", input, targetOf(input), api.deleteStream(input))
    }
    // The fan-out calls only where the service has them: without, readers fail as they should.
    const { deregisterStreamConsumer, describeStreamConsumer, listStreamConsumers, registerStreamConsumer, subscribeToShard } =
      api
    if (registerStreamConsumer !== undefined) {
      wrapped.registerStreamConsumer = (input, target) =>
        guard("RegisterStreamConsumer", input, arnTarget(input.StreamARN, target), registerStreamConsumer(input, target))
    }
    if (describeStreamConsumer !== undefined) {
      wrapped.describeStreamConsumer = (input, target) =>
        guard(
          "DescribeStreamConsumer",
          input,
          arnTarget(input.ConsumerARN ?? input.StreamARN, target),
          describeStreamConsumer(input, target)
        )
    }
    if (listStreamConsumers !== undefined) {
      wrapped.listStreamConsumers = (input, target) =>
        guard("ListStreamConsumers", input, arnTarget(input.StreamARN, target), listStreamConsumers(input, target))
    }
    if (deregisterStreamConsumer !== undefined) {
      wrapped.deregisterStreamConsumer = (input, target) =>
        guard(
          "DeregisterStreamConsumer",
          input,
          arnTarget(input.ConsumerARN ?? input.StreamARN, target),
          deregisterStreamConsumer(input, target)
        )
    }
    if (subscribeToShard !== undefined) wrapped.subscribeToShard = subscribe(subscribeToShard)
    return { api: wrapped, calls: Effect.sync(() => log.slice()) }
  })
