// The part of dynalite (which ships no types) that the tests use. Not named dynalite.d.ts: next to
// dynalite.ts, TypeScript would take that for the declaration of dynalite.ts and leave it out.
declare module "dynalite" {
  interface DynaliteOptions {
    /** Milliseconds a table stays CREATING / DELETING / UPDATING; dynalite defaults to 500. */
    readonly createTableMs?: number
    readonly deleteTableMs?: number
    readonly updateTableMs?: number
    /** A LevelDB directory; in memory when left out. */
    readonly path?: string
  }

  /** An `http.Server` whose `close` also closes dynalite's database. */
  type DynaliteServer = import("node:http").Server

  function dynalite(options?: DynaliteOptions): DynaliteServer

  export = dynalite
}
