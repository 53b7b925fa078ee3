/**
 * One contender of the multi-process SQLite lease test, run as its own Node process with
 * `node --import tsx test/support/sqliteRacer.ts <db path> <scope JSON> <shard id> <worker>`.
 *
 * The parent drives rounds over stdin, one JSON command a line, and this process answers on
 * stdout, one JSON line per command:
 * - `{"cmd":"read","round":r}`: read the lease; answers `{"event":"read",...}` with the view.
 * - `{"cmd":"take","round":r,"at":<epoch ms>}`: wait until `at` (the same instant for every
 *   process, so the takes collide), take with the view read in this round; answers
 *   `{"event":"take","round":r,"outcome":"won"|"lost"|"error",...}`.
 * - `{"cmd":"exit"}`: closes the store and exits.
 * The parent waits for every process's read before sending any take, so all views are fresh.
 */
import { createInterface } from "node:readline"
import { Cause, Effect, Exit, ManagedRuntime, Option } from "effect"
import { type Lease, LeaseLost, type LeaseScope, LeaseStore } from "../../src/lease/index.js"

type Command =
  | { readonly cmd: "read"; readonly round: number }
  | { readonly cmd: "take"; readonly round: number; readonly at: number }
  | { readonly cmd: "exit" }

const [path, scopeJson, shardId, worker] = process.argv.slice(2)
if (path === undefined || scopeJson === undefined || shardId === undefined || worker === undefined) {
  process.stderr.write("usage: sqliteRacer.ts <db path> <scope JSON> <shard id> <worker>\n")
  process.exit(2)
}
const scope = JSON.parse(scopeJson) as LeaseScope
const runtime = ManagedRuntime.make(LeaseStore.layerSqlite({ path }))
const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`)

/** Sleeps most of the way, then spins: timers are only accurate to a millisecond or so. */
const until = async (at: number) => {
  const wait = at - Date.now() - 2
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  while (Date.now() < at) { /* spin */ }
}

let view: Lease | undefined

const read = async (round: number) => {
  view = await runtime.runPromise(Effect.flatMap(LeaseStore, (leases) => leases.get(scope, shardId)))
  say({ event: "read", round, worker, owner: view?.owner ?? null, counter: view?.counter ?? null })
}

const take = async (round: number, at: number) => {
  if (view === undefined) return say({ event: "take", round, worker, outcome: "error", error: "no lease read" })
  const expected = { owner: view.owner, counter: view.counter }
  await until(at)
  const started = Date.now()
  const exit = await runtime.runPromiseExit(Effect.flatMap(LeaseStore, (leases) => leases.take(scope, shardId, expected, worker)))
  const ms = Date.now() - started
  if (Exit.isSuccess(exit)) return say({ event: "take", round, worker, outcome: "won", counter: exit.value.counter, ms })
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (failure instanceof LeaseLost) return say({ event: "take", round, worker, outcome: "lost", ms })
  say({ event: "take", round, worker, outcome: "error", error: Cause.pretty(exit.cause), ms })
}

const main = async () => {
  await runtime.runPromise(LeaseStore) // opens the file before the first command
  say({ event: "open", worker })
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as Command
    if (command.cmd === "exit") break
    if (command.cmd === "read") await read(command.round)
    else await take(command.round, command.at)
  }
  await runtime.dispose()
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
