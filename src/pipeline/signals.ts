import { Effect } from "effect"

/**
 * Completes when the process receives one of `signals` (default SIGINT and SIGTERM). The handlers
 * are removed once it completes or is interrupted, so a second Ctrl-C falls back to Node's default
 * and ends the process.
 *
 * @example
 * ```ts
 * pipeline.pipe(Pipeline.foreachBatch(sink, { stopWhen: onSignal() }))
 * ```
 */
export const onSignal = (signals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM"]): Effect.Effect<NodeJS.Signals> =>
  Effect.async<NodeJS.Signals>((resume) => {
    const handlers = signals.map((signal) => {
      const handler = () => {
        remove()
        resume(Effect.succeed(signal))
      }
      process.on(signal, handler)
      return [signal, handler] as const
    })
    const remove = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler)
    }
    return Effect.sync(remove)
  })
