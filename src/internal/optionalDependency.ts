import { Data, Effect } from "effect"

/**
 * A feature needs a package that is not installed. Optional packages (emulators, SQLite drivers)
 * stay out of `dependencies`, so users who never call the feature never download them.
 */
export class MissingDependency extends Data.TaggedError("MissingDependency")<{
  /** The npm package to install, e.g. `kinesalite`. */
  readonly packageName: string
  /** What needed it, e.g. `LocalKinesis`. */
  readonly feature: string
  /** Whether the package belongs in devDependencies (an emulator) rather than dependencies (a store). */
  readonly dev?: boolean
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.feature} needs the optional package "${this.packageName}", which is not installed. ` +
      `Install it with: npm install ${this.dev === false ? "" : "--save-dev "}${this.packageName}`
  }
}

const notFoundCodes = new Set(["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND"])

const isNotFound = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null &&
  notFoundCodes.has(String((cause as { code?: unknown }).code))

/**
 * The package Node could not find, from its message ("Cannot find package 'x' imported from ..."),
 * so that a package missing under the one asked for (a peer of it) is the one named.
 */
const missingPackage = (cause: unknown): string | undefined => {
  const message = cause instanceof Error ? cause.message : ""
  const name = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1]
  if (name === undefined || name.startsWith(".") || name.startsWith("/")) return undefined
  const parts = name.split("/")
  return name.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]
}

/**
 * The usable value of a module namespace: a CommonJS package's `module.exports` sits on `default`
 * (twice over when the package was compiled from ES modules with `__esModule`).
 */
const interop = (namespace: unknown): unknown => {
  if (typeof namespace !== "object" || namespace === null || !("default" in namespace)) return namespace
  const first = (namespace as { default: unknown }).default
  if (first === undefined) return namespace
  if (
    (typeof first === "object" || typeof first === "function") && first !== null &&
    (first as { __esModule?: unknown }).__esModule === true &&
    (first as { default?: unknown }).default !== undefined
  ) {
    return (first as { default: unknown }).default
  }
  return first
}

/**
 * Loads a package only when a feature first needs it, with a dynamic `import()`.
 * Resolves to the package's default export when it has one (a CommonJS package's `module.exports`),
 * otherwise to its module namespace. A package that is not installed fails with
 * {@link MissingDependency}; one that is installed but throws while loading is a defect.
 *
 * @example
 * ```ts
 * const kinesalite = yield* importOptional<typeof import("kinesalite")>("kinesalite", "LocalKinesis")
 * ```
 */
export const importOptional = <M>(
  packageName: string,
  feature: string,
  options: {
    readonly dev?: boolean
    /** What to import when it is not the package itself, e.g. a subpath `@effect/opentelemetry/Metrics`. */
    readonly module?: string
  } = {}
): Effect.Effect<M, MissingDependency> =>
  Effect.tryPromise({
    try: () => import(options.module ?? packageName) as Promise<unknown>,
    catch: (cause) => cause
  }).pipe(
    Effect.map((namespace) => interop(namespace) as M),
    Effect.catchAll((cause) =>
      isNotFound(cause)
        ? Effect.fail(new MissingDependency({
          packageName: missingPackage(cause) ?? packageName,
          feature,
          cause,
          ...(options.dev === undefined ? {} : { dev: options.dev })
        }))
        : Effect.die(cause)
    )
  )
