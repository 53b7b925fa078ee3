// Fails when gen/ is not what `buf generate` makes from proto/ (protoc-gen-es's files and
// protoc-gen-shardline's), when `buf lint` fails, or when proto/ breaks records written with the
// last release's schemas (`buf breaking`, scripts/schema-guard.mjs).
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { checkBreaking } from "./schema-guard.mjs"

const root = process.cwd()
const bin = join(root, "node_modules", ".bin")
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` }
const run = (args, cwd) => execFileSync(join(bin, "buf"), args, { cwd, env, stdio: "inherit" })

run(["lint"], root)

const scratch = mkdtempSync(join(tmpdir(), "shardline-gen-"))
try {
  // From the root, output under scratch: protoc-gen-shardline runs from src/ (buf.gen.yaml).
  run(["generate", "--output", scratch], root)
  const list = (dir) =>
    readdirSync(dir, { recursive: true })
      .map((p) => join(dir, p))
      .filter((p) => statSync(p).isFile())
      .map((p) => relative(dir, p))
      .sort()
  const want = list(join(scratch, "gen"))
  const have = list(join(root, "gen"))
  const problems = []
  for (const f of want) {
    if (!have.includes(f)) problems.push(`missing: gen/${f}`)
    else if (!readFileSync(join(scratch, "gen", f)).equals(readFileSync(join(root, "gen", f)))) problems.push(`stale: gen/${f}`)
  }
  for (const f of have) if (!want.includes(f)) problems.push(`not generated from proto/: gen/${f}`)
  if (problems.length > 0) console.error(`gen/ is out of date; run \`npm run gen\` and commit:\n  ${problems.join("\n  ")}`)
  // Also when gen/ is stale: a schema change usually makes both, and both are worth one run.
  const breaking = checkBreaking(root)
  if (!breaking.ok) console.error(breaking.report)
  if (problems.length > 0 || !breaking.ok) process.exitCode = 1
  else console.log(`gen/ is up to date (${want.length} files); buf lint passed; ${breaking.line}`)
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
