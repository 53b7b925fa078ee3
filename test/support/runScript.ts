import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const tsx = join(root, "node_modules", ".bin", "tsx")

/** How a script run ended, and what it printed. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
}

/**
 * Runs a TypeScript script of the repository (e.g. an example) with tsx, from the repository's
 * root; `onLine` sees each line it prints as it comes (and may signal the child). Killed after
 * `timeoutMs`, so a hung script fails its test instead of hanging it.
 */
export const runScript = (
  script: string,
  args: ReadonlyArray<string>,
  onLine: (line: string, child: ChildProcess) => void = () => {},
  timeoutMs = 45_000
) =>
  new Promise<Finished>((resolve, reject) => {
    const child = spawn(tsx, [script, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    const lines: Array<string> = []
    let stderr = ""
    let pending = ""
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      pending += data
      const parts = pending.split("\n")
      pending = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        onLine(line, child)
      }
    })
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
    const guard = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, lines, stderr })
    })
  })
