/** One measured case: how many records each run handled and how long each measured run took. */
export interface Result {
  readonly id: string
  readonly name: string
  readonly records: number
  readonly runsMs: ReadonlyArray<number>
  readonly note?: string | undefined
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const rateOf = (result: Result): number => result.records / (median(result.runsMs) / 1000)

// Results land here so V8 cannot drop a loop whose output nobody reads.
let blackhole = 0
export const consume = (value: number) => {
  blackhole = (blackhole + value) | 0
}
export const blackholeValue = () => blackhole

/** A synchronous case: `run` handles `records` records and answers a checksum. */
export interface SyncCase {
  readonly id: string
  readonly name: string
  readonly records: number
  readonly run: () => number
  readonly note?: string
}

/**
 * Runs the cases in interleaved rounds, each round starting one case later (a b c, b c a, ...), so
 * drift in CPU speed and the previous case's garbage fall on all of them alike; the first
 * `warmups` rounds are not kept.
 */
export const measureInterleaved = (cases: ReadonlyArray<SyncCase>, rounds: number, warmups: number): Array<Result> => {
  const runs = cases.map((): Array<number> => [])
  for (let round = 0; round < warmups + rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (round + k) % cases.length
      const started = performance.now()
      consume(cases[i]!.run())
      const ms = performance.now() - started
      if (round >= warmups) runs[i]!.push(ms)
    }
  }
  return cases.map((c, i) => ({ id: c.id, name: c.name, records: c.records, runsMs: runs[i]!, note: c.note }))
}

/** An asynchronous case, run `warmups` times unkept and then `rounds` times. */
export const measureAsync = async (
  c: { readonly id: string; readonly name: string; readonly records: number; readonly note?: string },
  rounds: number,
  warmups: number,
  run: () => Promise<number>
): Promise<Result> => {
  const runsMs: Array<number> = []
  for (let round = 0; round < warmups + rounds; round++) {
    const ms = await run()
    if (round >= warmups) runsMs.push(ms)
  }
  return { id: c.id, name: c.name, records: c.records, runsMs, note: c.note }
}

const fmtRate = (n: number) => Math.round(n).toLocaleString("en-US")
const fmtRatio = (n: number) => n.toFixed(n >= 10 ? 1 : 2)

/** The table: name | records | records/s | ratio vs the baseline | median and spread of the runs. */
export const renderTable = (results: ReadonlyArray<Result>, baselineRate: number): string => {
  const header = ["case", "records", "records/s", "ratio vs fromBinary", "median ms (min-max, runs)"]
  const rows = results.map((r) => {
    const min = Math.min(...r.runsMs)
    const max = Math.max(...r.runsMs)
    return [
      r.name,
      r.records.toLocaleString("en-US"),
      fmtRate(rateOf(r)),
      fmtRatio(rateOf(r) / baselineRate),
      `${median(r.runsMs).toFixed(1)} (${min.toFixed(1)}-${max.toFixed(1)}, ${r.runsMs.length})`
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...rows.map(line)].join("\n")
}

/** Runs a bench's `main` and exits with 0, or 1 after printing its failure. */
export const runMain = (main: () => Promise<void>): void => {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
}
