import { readFileSync } from "node:fs"
import { defineConfig } from "tsup"

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }

export default defineConfig([
  {
    entry: { index: "src/index.ts", testing: "src/testing/index.ts", promise: "src/promise/index.ts" },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    // Everything but the bins, which the other builds write at the same time.
    clean: ["!protoc-gen-shardline.js", "!protoc-gen-shardline.js.map", "!shardline.js", "!shardline.js.map"],
    target: "node20",
    platform: "node",
    splitting: true,
    treeshake: true
  },
  // The protoc plugin (package.json "bin"): one ESM file run by protoc or buf, loading
  // @bufbuild/protoplugin and @bufbuild/protobuf from the user's install.
  {
    entry: { "protoc-gen-shardline": "src/codegen/bin.ts" },
    format: ["esm"],
    banner: { js: "#!/usr/bin/env node" },
    sourcemap: true,
    target: "node20",
    platform: "node",
    treeshake: true
  },
  // The `shardline` CLI (package.json "bin"): one ESM file with the library and the clickstream demo
  // (generated code included) bundled in; effect, @effect/*, the AWS SDK and the optional peers
  // stay imports from the user's install.
  {
    entry: { shardline: "src/cli/bin.ts" },
    format: ["esm"],
    banner: { js: "#!/usr/bin/env node" },
    define: { __SHARDLINE_VERSION__: JSON.stringify(version) },
    sourcemap: true,
    target: "node20",
    platform: "node",
    treeshake: true
  }
])
