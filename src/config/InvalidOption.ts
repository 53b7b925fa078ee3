import { Data, Duration, Effect, Option } from "effect"

/** A setting that cannot work, found before anything started. The message says what to change. */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  /** The option's name as the user wrote it, e.g. `batchInterval`. */
  readonly option: string
  /** What was given, shown as text. */
  readonly given: string
  /** What would be accepted. */
  readonly expected: string
}> {
  override get message() {
    return `Invalid option ${this.option}: got ${this.given}; expected ${this.expected}`
  }
}

const show = (value: unknown): string => {
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value)
  } catch {
    return typeof value
  }
}

/** Decodes a duration option, failing with {@link InvalidOption} when it is not one or is below `min`. */
export const durationOption = (
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  min: Duration.Duration = Duration.zero,
  strict = false
): Effect.Effect<Duration.Duration, InvalidOption> =>
  Effect.suspend(() => {
    const raw = value ?? fallback
    // Effect reads -1, "-5 seconds" and NaN as zero; a negative setting is a mistake to report.
    const negative =
      (typeof raw === "number" && !(raw >= 0)) ||
      (typeof raw === "bigint" && raw < 0n) ||
      (typeof raw === "string" && raw.trim().startsWith("-"))
    const decoded = negative ? Option.none() : Duration.decodeUnknown(raw)
    const expected = `a duration ${strict ? "greater than" : "of at least"} ${Duration.format(min)}`
    if (decoded._tag === "None") return Effect.fail(new InvalidOption({ option, given: show(raw), expected }))
    const d = decoded.value
    const tooSmall = strict ? Duration.lessThanOrEqualTo(d, min) : Duration.lessThan(d, min)
    if (tooSmall || !Duration.isFinite(d)) return Effect.fail(new InvalidOption({ option, given: show(raw), expected }))
    return Effect.succeed(d)
  })

/** Decodes a whole-number option within `[min, max]`. */
export const integerOption = (
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER
): Effect.Effect<number, InvalidOption> =>
  Effect.suspend(() => {
    const n = value ?? fallback
    return Number.isInteger(n) && n >= min && n <= max
      ? Effect.succeed(n)
      : Effect.fail(
          new InvalidOption({
            option,
            given: show(n),
            expected: max === Number.MAX_SAFE_INTEGER ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`
          })
        )
  })

/** Checks that a required text option is present and not blank. */
export const textOption = (option: string, value: string | undefined): Effect.Effect<string, InvalidOption> =>
  typeof value === "string" && value.trim() !== ""
    ? Effect.succeed(value)
    : Effect.fail(new InvalidOption({ option, given: show(value), expected: "a non-empty string" }))
