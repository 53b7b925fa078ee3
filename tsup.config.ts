import { defineConfig } from "tsup"

export default defineConfig([
  {
    entry: { index: "src/index.ts", testing: "src/testing/index.ts", promise: "src/promise/index.ts" },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    // Everything but the plugin, which the second build writes at the same time.
    clean: ["!protoc-gen-shardline.js", "!protoc-gen-shardline.js.map"],
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
  }
])
