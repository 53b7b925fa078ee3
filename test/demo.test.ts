import type { ChildProcess } from "node:child_process"
import { describe, expect, it } from "vitest"
import { runScript } from "./support/runScript.js"

/** Runs the demo (what `npm start` runs) with `args`; `onLine` may act on each line it prints. */
const runDemo = (args: ReadonlyArray<string>, onLine?: (line: string, child: ChildProcess) => void) =>
  runScript("examples/clickstream/main.ts", args, onLine)

const batchLine = /^batch +(\d+) \| +(\d+) records \| lag +(\d+|-) ms \| views +(\d+) \[.*\] \| purchases .+$/

describe("the demo (npm start)", () => {
  it("prints one line per 1 s batch with live records, then a summary, and exits 0", async () => {
    const run = await runDemo(["--seconds", "4", "--rate", "300"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const batches = run.lines.filter((l) => batchLine.test(l))
    expect(batches.length).toBeGreaterThanOrEqual(3)
    const counts = batches.map((l) => Number(batchLine.exec(l)![2]))
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(500)
    const done = run.lines.find((l) => l.startsWith("done:"))
    expect(done).toMatch(/^done: \d+ batches, \d+ records in [\d.]+ s \(\d+ records\/s consumed\), checkpoints written$/)
    // The summary counts exactly what the batch lines showed.
    expect(done).toContain(` ${counts.reduce((a, b) => a + b, 0)} records in`)
  })

  it("stops gracefully on Ctrl-C (SIGINT): drains, prints the summary, exits 0", async () => {
    let interrupted = false
    const started = Date.now()
    const run = await runDemo(["--seconds", "0"], (line, child) => {
      if (!interrupted && batchLine.test(line) && line.startsWith("batch   1")) {
        interrupted = true
        child.kill("SIGINT")
      }
    })
    expect(interrupted).toBe(true)
    expect(run.code).toBe(0)
    expect(run.signal).toBeNull()
    expect(run.lines.at(-1)).toMatch(/^done: /)
    // --seconds 0 runs until Ctrl-C: it was the signal that ended it, well before the guard.
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it("rejects bad arguments with a usage line and exit code 2", async () => {
    const run = await runDemo(["--rate=-5"])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("usage: npm start --")
  })
})
