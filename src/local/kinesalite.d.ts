// The part of kinesalite (which ships no types) that LocalKinesis uses.
declare module "kinesalite" {
  interface KinesaliteOptions {
    /** Milliseconds a stream stays CREATING / DELETING / UPDATING; kinesalite defaults to 500. */
    readonly createStreamMs?: number
    readonly deleteStreamMs?: number
    readonly updateStreamMs?: number
    /** Shards allowed across all streams; kinesalite defaults to 10. */
    readonly shardLimit?: number
    /** A LevelDB directory; in memory when left out. */
    readonly path?: string
    readonly ssl?: boolean
  }

  /** An `http.Server` whose `close` also closes kinesalite's database. */
  type KinesaliteServer = import("node:http").Server

  function kinesalite(options?: KinesaliteOptions): KinesaliteServer

  export = kinesalite
}
