import { execFile } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterEach, describe, expect, it } from "vitest"

// The schema-evolution guard of `npm run gen:check` (scripts/schema-guard.mjs), run for real
// (this repository's buf, offline) on a copy of proto/, buf.yaml and the release snapshot.
const root = join(import.meta.dirname, "..")
const guard = join(root, "scripts", "schema-guard.mjs")
const release = join(root, "scripts", "schema-release.mjs")
const clickstream = "proto/shardline/examples/clickstream/v1/clickstream.proto"
const snapshot = "proto/released/0.1.0.txtpb"

const copies: Array<string> = []
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const copy = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "shardline-schema-guard-"))
  copies.push(dir)
  for (const entry of ["proto", "buf.yaml", "buf.gen.yaml", "package.json"]) {
    cpSync(join(root, entry), join(dir, entry), { recursive: true })
  }
  return dir
}

/** Replaces `from` (which must be there) with `to` in a file of the copy. */
const edit = (dir: string, file: string, from: string, to: string): void => {
  const text = readFileSync(join(dir, file), "utf8")
  expect(text).toContain(from)
  writeFileSync(join(dir, file), text.replace(from, to))
}

const lineOf = (dir: string, file: string, text: string): number =>
  readFileSync(join(dir, file), "utf8").split("\n").findIndex((line) => line.includes(text)) + 1

interface Ran {
  readonly code: number
  readonly output: string
}

const node = async (script: string, ...args: Array<string>): Promise<Ran> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args])
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    return { code: failed.code ?? -1, output: (failed.stdout ?? "") + (failed.stderr ?? "") }
  }
}

const check = (dir: string) => node(guard, dir)

const passes = async (dir: string) => {
  const ran = await check(dir)
  expect(ran.output).toBe(`no breaking change against ${snapshot}\n`)
  expect(ran.code).toBe(0)
}

describe("schema-evolution guard (buf breaking against the last release's schemas)", () => {
  it("passes on proto/ as it is, in one line", async () => {
    await passes(copy())
  })

  it("passes when a field is added", async () => {
    const dir = copy()
    edit(dir, clickstream, "  uint32 load_time_ms = 8;\n", "  uint32 load_time_ms = 8;\n  string country = 9;\n")
    await passes(dir)
  })

  it("fails when a field changes type, naming the field and the rule", async () => {
    const dir = copy()
    edit(dir, clickstream, "  string referrer = 4;", "  int64 referrer = 4;")
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain(`proto/ breaks records written with the last release's schemas (${snapshot})`)
    expect(ran.output).toContain(
      `${clickstream}:${lineOf(dir, clickstream, "int64 referrer = 4;")}:3 FIELD_WIRE_JSON_COMPATIBLE_TYPE: Field "4" with name "referrer" on message "PageView" changed type from "string" to "int64".`
    )
    expect(ran.output).toContain("add a new field (a new number) instead of changing one")
    expect(ran.output).toContain("npm run schema:release -- --accept-breaking")
  })

  it("fails when a field number is reused for another field", async () => {
    const dir = copy()
    edit(dir, clickstream, "  string referrer = 4;", "  int64 referrer_id = 4;")
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain('FIELD_WIRE_JSON_COMPATIBLE_TYPE: Field "4" with name "referrer_id" on message "PageView" changed type')
    expect(ran.output).toContain('FIELD_SAME_NAME: Field "4" on message "PageView" changed name from "referrer" to "referrer_id"')
  })

  it("fails when a field is deleted without reserving its number and name, passes once both are reserved", async () => {
    const dir = copy()
    edit(dir, clickstream, "  string referrer = 4;\n", "")
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain(
      'FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: Previously present field "4" with name "referrer" on message "PageView" was deleted without reserving the number "4".'
    )
    expect(ran.output).toContain('FIELD_NO_DELETE_UNLESS_NAME_RESERVED: Previously present field "4" with name "referrer"')
    expect(ran.output).toContain('reserve its number and name: `reserved 4; reserved "old_name";`')

    edit(dir, clickstream, "  string url = 3;\n  DeviceType", '  string url = 3;\n  reserved 4;\n  reserved "referrer";\n  DeviceType')
    await passes(dir)
  })

  // WIRE_JSON (buf.yaml): protobuf JSON records carry field names, and JSON readers accept the
  // proto name as well as json_name, so a rename breaks them even when the binary form is the same.
  it("fails when a field is renamed, even keeping its json_name", async () => {
    const dir = copy()
    edit(dir, clickstream, "  string referrer = 4;", '  string referrer_url = 4 [json_name = "referrer"];')
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain('FIELD_SAME_NAME: Field "4" on message "PageView" changed name from "referrer" to "referrer_url".')
    expect(ran.output).toContain("add a new field or enum value instead of renaming")
  })

  it("fails when an enum value is renamed (JSON writes enum values by name)", async () => {
    const dir = copy()
    edit(dir, clickstream, "DEVICE_TYPE_TABLET = 3;", "DEVICE_TYPE_PAD = 3;")
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain('ENUM_VALUE_SAME_NAME: Enum value "3" on enum "DeviceType" changed name from "DEVICE_TYPE_TABLET" to "DEVICE_TYPE_PAD".')
  })

  // Not FILE: what only source code sees is not a break of the records.
  it("passes when a message moves to another file of its package, or a field gains explicit presence", async () => {
    const dir = copy()
    const lineItem = "// One line of a purchase.\nmessage LineItem {\n  string sku = 1;\n  uint32 quantity = 2;\n  // Price of one unit in minor currency units (cents).\n  int64 unit_price_minor = 3;\n}\n"
    edit(dir, clickstream, lineItem, "")
    edit(dir, clickstream, 'import "google/protobuf/timestamp.proto";', 'import "google/protobuf/timestamp.proto";\nimport "shardline/examples/clickstream/v1/line_item.proto";')
    writeFileSync(
      join(dir, "proto/shardline/examples/clickstream/v1/line_item.proto"),
      `syntax = "proto3";\n\npackage shardline.examples.clickstream.v1;\n\n${lineItem}`
    )
    edit(dir, clickstream, "  string element_id = 4;", "  optional string element_id = 4;")
    await passes(dir)
  })

  it("leaves the test fixtures (proto/shardline/testkit) free to change", async () => {
    const dir = copy()
    const file = "proto/shardline/testkit/v1/legacy.proto"
    const text = readFileSync(join(dir, file), "utf8")
    const field = /^\s+(?:optional|required) (\w+) (\w+) = (\d+)/m.exec(text)
    expect(field).not.toBeNull()
    const [line, type, name] = field!
    edit(dir, file, line, line.replace(`${type} ${name}`, `${type === "bytes" ? "string" : "bytes"} ${name}_changed`))
    await passes(dir)
  })

  it("says what to run when there is no snapshot", async () => {
    const dir = copy()
    rmSync(join(dir, "proto/released"), { recursive: true })
    const ran = await check(dir)
    expect(ran.code).toBe(1)
    expect(ran.output).toContain("no release snapshot in proto/released/: run `npm run schema:release`")
  })
})

describe("npm run schema:release", () => {
  const bump = (dir: string, version: string) => edit(dir, "package.json", '"version": "0.1.0"', `"version": "${version}"`)

  it("replaces the last release's snapshot with one named for the new version", async () => {
    const dir = copy()
    bump(dir, "0.2.0")
    edit(dir, clickstream, "  uint32 load_time_ms = 8;\n", "  uint32 load_time_ms = 8;\n  string country = 9;\n")
    const ran = await node(release, dir)
    expect(ran).toEqual({ code: 0, output: "wrote proto/released/0.2.0.txtpb (replaces 0.1.0.txtpb)\n" })
    expect(readdirSync(join(dir, "proto/released"))).toEqual(["0.2.0.txtpb"])
    expect(readFileSync(join(dir, "proto/released/0.2.0.txtpb"), "utf8")).toMatch(/^# The schemas of shardline 0\.2\.0 \(proto\/\)/)
    expect(readFileSync(join(dir, "proto/released/0.2.0.txtpb"), "utf8")).toContain('name: "country"')
    const again = await check(dir)
    expect(again).toEqual({ code: 0, output: "no breaking change against proto/released/0.2.0.txtpb\n" })
  })

  it("refuses a breaking change unless it is accepted", async () => {
    const dir = copy()
    bump(dir, "0.2.0")
    edit(dir, clickstream, "  string referrer = 4;", "  int64 referrer = 4;")
    const refused = await node(release, dir)
    expect(refused.code).toBe(1)
    expect(refused.output).toContain("FIELD_WIRE_JSON_COMPATIBLE_TYPE")
    expect(refused.output).toContain("No snapshot written.")
    expect(existsSync(join(dir, "proto/released/0.2.0.txtpb"))).toBe(false)

    const accepted = await node(release, "--accept-breaking", dir)
    expect(accepted.code).toBe(0)
    expect(readdirSync(join(dir, "proto/released"))).toEqual(["0.2.0.txtpb"])
    expect((await check(dir)).code).toBe(0)
  })
})
