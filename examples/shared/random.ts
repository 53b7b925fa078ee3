/** Seeded randomness for the examples' made-up traffic, so a run can be replayed. */

/**
 * A small seeded generator (mulberry32): the same seed gives the same numbers in [0, 1).
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * const coin = random() < 0.5
 * ```
 */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One of `items`, each as likely as the others. */
export const pick = <A>(items: ReadonlyArray<A>, random: () => number): A => items[Math.floor(random() * items.length)]!

/**
 * Picks one of `items` in proportion to its weight in `weights` (same order), with one draw of
 * `random` a pick.
 *
 * @example
 * ```ts
 * const page = pickWeighted(["/", "/help"], [9, 1])
 * page(seededRandom(1)) // "/" nine times in ten
 * ```
 */
export const pickWeighted = <A>(items: ReadonlyArray<A>, weights: ReadonlyArray<number>): ((random: () => number) => A) => {
  const total = weights.reduce((a, b) => a + b, 0)
  return (random) => {
    let roll = random() * total
    for (let i = 0; i < items.length; i++) {
      roll -= weights[i]!
      if (roll < 0) return items[i]!
    }
    return items[0]!
  }
}
