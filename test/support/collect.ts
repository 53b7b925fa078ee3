import { Deferred, Duration, Effect } from "effect"
import { type Batch, Pipeline, type RunOptions } from "../../src/index.js"

/**
 * Runs `pipeline`, keeping every batch the sink gets, until `done` holds for the batches so far
 * (`done` may be an effect, e.g. to write more records mid-run); then stops it gracefully. A run
 * that does not get there within `timeout` fails the test instead of hanging.
 */
export const collect = <A, E, R, R2 = never>(
  pipeline: Pipeline.Pipeline<A, E, R>,
  done: (batches: ReadonlyArray<Batch<A>>) => boolean | Effect.Effect<boolean, never, R2>,
  options: Omit<RunOptions, "stopWhen"> & { readonly timeout?: Duration.DurationInput } = {}
) =>
  Effect.gen(function* () {
    const batches: Array<Batch<A>> = []
    const enough = yield* Deferred.make<void>()
    const { timeout = "30 seconds", ...runOptions } = options
    const summary = yield* pipeline.pipe(
      Pipeline.foreachBatch(
        (batch) =>
          Effect.suspend(() => {
            batches.push(batch)
            const verdict = done(batches)
            return Effect.flatMap(Effect.isEffect(verdict) ? verdict : Effect.succeed(verdict), (reached) =>
              reached ? Deferred.succeed(enough, undefined) : Effect.void
            )
          }),
        { ...runOptions, stopWhen: Deferred.await(enough) }
      ),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new Error(`the run did not reach its goal in ${Duration.format(Duration.decode(timeout))}`)
      })
    )
    return { batches, summary, records: batches.flatMap((b) => b.records) }
  })

/** Records read from Kinesis into `batches`, before operators. */
export const sourceCount = (batches: ReadonlyArray<Batch<unknown>>) => batches.reduce((n, b) => n + b.sourceRecords, 0)
