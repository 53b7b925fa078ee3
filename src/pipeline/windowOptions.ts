import { Duration, Effect } from "effect"
import { durationOption, InvalidOption } from "../config/index.js"

/** A window over batches: how long it is and how often it is computed. */
export interface WindowOptions {
  /** How much time the window covers: a multiple of the batch interval. */
  readonly length: Duration.DurationInput
  /** How often the window is computed: a multiple of the batch interval. Default: the batch interval (every batch). */
  readonly slide?: Duration.DurationInput
}

/** A window measured in batch intervals. */
export interface WindowSlots {
  readonly length: number
  readonly slide: number
}

const inIntervals = (option: string, duration: Duration.Duration, interval: number): Effect.Effect<number, InvalidOption> => {
  const millis = Duration.toMillis(duration)
  const count = millis / interval
  return Number.isInteger(count) && count >= 1
    ? Effect.succeed(count)
    : Effect.fail(
        new InvalidOption({
          option,
          given: Duration.format(duration),
          expected: `a multiple of the batch interval (${Duration.format(Duration.millis(interval))}), e.g. ${Duration.format(Duration.millis(interval * Math.max(1, Math.round(count))))}`
        })
      )
}

/** Checks a window against the batch interval (milliseconds); `name` prefixes the option names in errors. */
export const windowSlots = (name: string, options: WindowOptions, interval: number): Effect.Effect<WindowSlots, InvalidOption> =>
  Effect.gen(function* () {
    const length = yield* durationOption(`${name}.length`, options.length, Duration.zero, Duration.zero, true)
    const slide = yield* durationOption(`${name}.slide`, options.slide, Duration.millis(interval), Duration.zero, true)
    const slots = { length: yield* inIntervals(`${name}.length`, length, interval), slide: yield* inIntervals(`${name}.slide`, slide, interval) }
    if (slots.slide > slots.length) {
      return yield* new InvalidOption({ option: `${name}.slide`, given: Duration.format(slide), expected: `at most the window length (${Duration.format(length)})` })
    }
    return slots
  })

/**
 * Processing time cut into batch intervals: a batch belongs to the interval its close time falls
 * in, and a window is computed at the first batch of each slide period. Time, not a batch count,
 * so that a restarted run (or the next owner of a shard) continues the same windows.
 */
export class WindowClock {
  private previous: number | undefined
  constructor(
    private readonly interval: number,
    private readonly slots: WindowSlots
  ) {}

  slotOf(closedAt: number): number {
    return Math.floor(closedAt / this.interval)
  }

  /** Whether the window is computed at the batch of this slot (one call per batch, in order). */
  due(slot: number): boolean {
    const previous = this.previous ?? slot - 1
    this.previous = Math.max(previous, slot)
    return Math.floor(slot / this.slots.slide) > Math.floor(previous / this.slots.slide)
  }

  /** The first slot still inside a window computed at `slot`. */
  firstSlot(slot: number): number {
    return slot - this.slots.length + 1
  }
}
