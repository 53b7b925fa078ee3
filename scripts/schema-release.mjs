// Cuts the schema baseline of a release: writes proto/ as proto/released/<package.json version>.txtpb
// (a buf image in protobuf text format, without comments so only schema changes show in its diff)
// and removes the previous release's: `npm run gen:check` checks against the last release only,
// and git keeps the older ones. Refuses when proto/ breaks against the previous baseline, unless
// --accept-breaking says the break is intended.
//
//   node scripts/schema-release.mjs [--accept-breaking] [root]
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join, resolve } from "node:path"
import { buf, checkBreaking, findSnapshot, releasedDir, snapshotName } from "./schema-guard.mjs"

const args = process.argv.slice(2)
const accept = args.includes("--accept-breaking")
const root = resolve(args.find((a) => !a.startsWith("--")) ?? process.cwd())
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const target = `${releasedDir}/${snapshotName(version)}`

const previous = findSnapshot(root).snapshot
if (previous !== undefined) {
  const check = checkBreaking(root)
  if (!check.ok && !accept) {
    console.error(`${check.report}\nNo snapshot written.`)
    process.exit(1)
  }
}

const scratch = mkdtempSync(join(tmpdir(), "shardline-schema-"))
try {
  const image = join(scratch, "image.txtpb")
  const built = spawnSync(buf, ["build", "--exclude-source-info", "-o", image], { cwd: root, stdio: "inherit" })
  if (built.status !== 0) process.exit(built.status ?? 1)
  const header = [
    `# The schemas of shardline ${version} (proto/): a buf image in protobuf text format, without comments.`,
    "# `npm run gen:check` runs `buf breaking` of proto/ against it (rules: buf.yaml's `breaking`).",
    "# Written by `npm run schema:release` when cutting a release; do not edit by hand.",
    ""
  ].join("\n")
  mkdirSync(join(root, releasedDir), { recursive: true })
  writeFileSync(join(root, target), header + readFileSync(image, "utf8"))
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
if (previous !== undefined && previous !== target) rmSync(join(root, previous))
const replaced = previous === undefined ? "" : previous === target ? " (rewritten)" : ` (replaces ${basename(previous)})`
console.log(`wrote ${target}${replaced}`)
