import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own emulators; two cores are what CI has.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The AWS SDK warns on every Node 20 process; shardline supports Node 20 on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }
  }
})
