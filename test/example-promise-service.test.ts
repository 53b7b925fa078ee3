import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const tsx = join(root, "node_modules", ".bin", "tsx")

const batchLine = /^batch +(\d+) \| +(\d+) orders \| +(\d+) insert call\(s\)( \| failed: .+)?$/
const doneLine = /^done: (\d+) batches, (\d+) orders consumed, (\d+) in the database, (\d+) dead-lettered \((.+)\) in (.+)$/

describe("examples/promise-service (the Promise API only)", () => {
  it("consumes orders through a flaky database; on SIGTERM it drains, accounts for every order, and exits 0", async () => {
    let terminated = false
    const lines: Array<string> = []
    let stderr = ""
    const run = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(tsx, ["examples/promise-service/main.ts", "--seconds", "0", "--rate", "400"], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let pending = ""
      child.stdout.setEncoding("utf8").on("data", (data: string) => {
        pending += data
        const parts = pending.split("\n")
        pending = parts.pop()!
        for (const line of parts) {
          lines.push(line)
          // Stop once a few batches went through and an order in an unknown currency was produced (1 in 400).
          if (!terminated && batchLine.test(line) && Number(batchLine.exec(line)![1]) >= 2) {
            terminated = true
            child.kill("SIGTERM")
          }
        }
      })
      child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
      const guard = setTimeout(() => child.kill("SIGKILL"), 40_000)
      child.on("error", reject)
      child.on("close", (code, signal) => {
        clearTimeout(guard)
        resolve({ code, signal })
      })
    })
    expect(stderr).toBe("")
    expect(terminated).toBe(true)
    expect(run).toEqual({ code: 0, signal: null })
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
