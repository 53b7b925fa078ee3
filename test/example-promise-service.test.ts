import { describe, expect, it } from "vitest"
import { runScript } from "./support/runScript.js"

const batchLine = /^batch +(\d+) \| +(\d+) orders \| +(\d+) insert call\(s\)( \| failed: .+)?$/
const doneLine = /^done: (\d+) batches, (\d+) orders consumed, (\d+) in the database, (\d+) dead-lettered \((.+)\) in (.+)$/

describe("examples/promise-service (the Promise API only)", () => {
  it("consumes orders through a flaky database; on SIGTERM it drains, accounts for every order, and exits 0", async () => {
    let terminated = false
    const run = await runScript("examples/promise-service/main.ts", ["--seconds", "0", "--rate", "400"], (line, child) => {
      // Stop once a few batches went through and an order in an unknown currency was produced (1 in 400).
      if (!terminated && batchLine.test(line) && Number(batchLine.exec(line)![1]) >= 2) {
        terminated = true
        child.kill("SIGTERM")
      }
    }, 40_000)
    const { lines, stderr } = run
    expect(stderr).toBe("")
    expect(terminated).toBe(true)
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
    expect(lines).toContain("SIGTERM: stopping (draining and checkpointing the batch in progress)")
    const done = doneLine.exec(lines.at(-1) ?? "")
    expect(done).not.toBeNull()
    const [, , consumed, stored, deadLettered, ids] = done!
    // Every order consumed is in the database or was given up to the dead letters.
    expect(Number(stored) + Number(deadLettered)).toBe(Number(consumed))
    // Only the poison orders (o-399, o-799, ...) were given up: bisection isolated them from their batches.
    const given = ids === "none" ? [] : ids!.split(", ")
    expect(given.length).toBe(Number(deadLettered))
    for (const id of given) expect(Number(id.slice(2)) % 400).toBe(399)
    // The batch lines add up to the summary.
    const total = lines.filter((l) => batchLine.test(l)).reduce((sum, l) => sum + Number(batchLine.exec(l)![2]), 0)
    expect(total).toBe(Number(consumed))
  })
})
