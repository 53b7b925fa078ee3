/**
 * A counter-based pseudo-random source for fault plans: each decision is a hash of the seed and
 * the decision's coordinates (which fault, which call, which entry), not a draw from a shared
 * stream, so one fault's decisions do not shift when other calls interleave differently.
 */

/** A splitmix32-style step: the golden-ratio increment, then a bijective, well-avalanched 32-bit finalizer. */
const mix32 = (value: number): number => {
  let x = (value + 0x9e3779b9) | 0
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad)
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97)
  return (x ^ (x >>> 15)) >>> 0
}

/** A 32-bit hash of a seed (any safe integer) and whole-number coordinates. */
export const hash32 = (seed: number, ...coordinates: ReadonlyArray<number>): number => {
  let h = mix32(mix32(seed >>> 0) ^ (Math.floor(seed / 0x1_0000_0000) >>> 0))
  for (const c of coordinates) h = mix32(h ^ (c >>> 0))
  return h
}

/** A number in [0, 1) decided by the seed and the coordinates; the same inputs give the same number. */
export const unitFloat = (seed: number, ...coordinates: ReadonlyArray<number>): number =>
  hash32(seed, ...coordinates) / 0x1_0000_0000
