import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Codec, InvalidOption, LeaseStore, Pipeline } from "../src/index.js"
import type { LeaseCoordinationOptions } from "../src/index.js"
import { MemoryKinesis } from "../src/testing/index.js"

const runWith = (leases: LeaseCoordinationOptions, extra: { shardIds?: ReadonlyArray<string> } = {}) =>
  Pipeline.fromKinesis({ streamName: "s", codec: Codec.utf8, batchInterval: "1 second", leases, ...extra }).pipe(
    Pipeline.foreachBatch(() => Effect.void),
    Effect.flip,
    Effect.provide([MemoryKinesis.layer({ streams: [{ name: "s", shardCount: 1 }] }), LeaseStore.layerMemory])
  )

describe("lease options are checked before anything runs", () => {
  it.effect.each([
    [{ failoverTime: "-1 seconds" }, "leases.failoverTime"],
    [{ failoverTime: 5 }, "leases.failoverTime"],
    [{ shardSyncInterval: "soon" as never }, "leases.shardSyncInterval"],
    [{ maxLeasesForWorker: 0 }, "leases.maxLeasesForWorker"],
    [{ maxLeasesForWorker: 2.5 }, "leases.maxLeasesForWorker"],
    [{ maxLeasesToStealAtOneTime: -1 }, "leases.maxLeasesToStealAtOneTime"],
    [{ workerId: "  " }, "leases.workerId"]
  ] as const)("%j is refused, naming %s", ([leases, option]) =>
    Effect.gen(function* () {
      const error = yield* runWith(leases as LeaseCoordinationOptions)
      expect(error).toBeInstanceOf(InvalidOption)
      expect((error as InvalidOption).option).toBe(option)
    }))

  it.effect("shardIds cannot be combined with leases (the lease table decides)", () =>
    Effect.gen(function* () {
      const error = yield* runWith({}, { shardIds: ["shardId-000000000000"] })
      expect((error as InvalidOption).option).toBe("shardIds")
      expect((error as InvalidOption).message).toContain("lease table")
    }))
})
