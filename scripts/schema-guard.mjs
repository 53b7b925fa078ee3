// The schema-evolution guard: `buf breaking` of proto/ against the schemas of the last release,
// committed as a buf image in protobuf text format, proto/released/<version>.txtpb. A file, not a
// git ref: CI's clone may be shallow and without tags. In text, a release's schema diff can be
// reviewed; buf's module compiles only .proto files, so lint, build and generate never read it.
// The rules are buf.yaml's `breaking` section.
//
//   node scripts/schema-guard.mjs [root]   (root defaults to the current directory)
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const releasedDir = "proto/released"
export const snapshotName = (version) => `${version}.txtpb`
// This repository's buf (node_modules/.bin), so the check runs on a copy elsewhere too.
export const buf = fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url))

/** The snapshot the check uses, relative to root; there is one, the last release's. */
export const findSnapshot = (root) => {
  const dir = join(root, releasedDir)
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".txtpb")) : []
  if (found.length === 1) return { snapshot: `${releasedDir}/${found[0]}` }
  return {
    error:
      found.length === 0
        ? `no release snapshot in ${releasedDir}/: run \`npm run schema:release\``
        : `${releasedDir}/ holds ${found.join(", ")}: keep only the last release's (\`npm run schema:release\` replaces it)`
  }
}

// What to do, by the kind of rule a violation broke.
const hints = [
  [/TYPE|CARDINALITY|ONEOF|PACKED|ENCODING|UTF8/, "a field's number and type are how records already written are read: add a new field (a new number) instead of changing one"],
  [/DELETE/, 'to remove a field or enum value, reserve its number and name: `reserved 4; reserved "old_name";`'],
  [/SAME_(JSON_)?NAME/, "names are in the records of protobuf JSON (Codec.protobufJson): keep them; add a new field or enum value instead of renaming"]
]

/**
 * Runs `buf breaking` in root against the snapshot. Answers `{ ok: true, line }` or
 * `{ ok: false, report }`, the report naming each broken rule and how to fix it.
 */
export const checkBreaking = (root) => {
  const { snapshot, error } = findSnapshot(root)
  if (error !== undefined) return { ok: false, report: error }
  const run = spawnSync(buf, ["breaking", "--against", snapshot, "--error-format", "json"], { cwd: root, encoding: "utf8" })
  if (run.status === 0) return { ok: true, snapshot, line: `no breaking change against ${snapshot}` }
  const violations = []
  for (const text of run.stdout.split("\n").filter((l) => l.trim() !== "")) {
    try {
      violations.push(JSON.parse(text))
    } catch {
      violations.push({ message: text })
    }
  }
  if (run.status !== 100 || violations.length === 0) {
    return { ok: false, report: `buf breaking --against ${snapshot} failed (exit ${run.status ?? run.signal}):\n${run.stdout}${run.stderr}` }
  }
  const rules = violations.map((v) => v.type ?? "")
  const lines = [
    `proto/ breaks records written with the last release's schemas (${snapshot}):`,
    ...violations.map((v) => `  ${v.path ?? ""}:${v.start_line ?? 0}:${v.start_column ?? 0} ${v.type ?? "buf"}: ${v.message}`),
    "To fix:",
    ...hints.filter(([rule]) => rules.some((r) => rule.test(r))).map(([, hint]) => `  - ${hint}`),
    "  - if the break is intended, give the new shape a new message type, stream or package version (v2),",
    "    or move the baseline deliberately: `npm run schema:release -- --accept-breaking`, and say why in the commit"
  ]
  return { ok: false, report: lines.join("\n") }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = checkBreaking(resolve(process.argv[2] ?? process.cwd()))
  if (result.ok) console.log(result.line)
  else {
    console.error(result.report)
    process.exit(1)
  }
}
