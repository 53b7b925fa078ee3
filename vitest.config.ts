import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  // Examples import the package by name, as users do; here the name means the sources (as in tsconfig's paths).
  resolve: {
    alias: [
      { find: /^shardline$/, replacement: source("./src/index.ts") },
      { find: /^shardline\/testing$/, replacement: source("./src/testing/index.ts") },
      { find: /^shardline\/promise$/, replacement: source("./src/promise/index.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own emulators; two cores are what CI has.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The AWS SDK warns on every Node 20 process; shardline supports Node 20 on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }
  }
})
