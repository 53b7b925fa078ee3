import { Options } from "@effect/cli"
import { Layer, Option } from "effect"
import { Kinesis, type KinesisOptions } from "../kinesis/index.js"
import { emulatorCredentials } from "../local/LocalKinesis.js"

/** `--endpoint` and `--region`, shared by every command that talks to Kinesis. */
export const connectionOptions = {
  endpoint: Options.text("endpoint").pipe(
    Options.withDescription("Kinesis endpoint override, e.g. http://127.0.0.1:4567 for kinesalite or LocalStack"),
    Options.optional
  ),
  region: Options.text("region").pipe(
    Options.withDescription("AWS region (default $AWS_REGION; with --endpoint and no region: us-east-1)"),
    Options.optional
  )
}

export interface Connection {
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
}

const isLoopback = (endpoint: string): boolean => {
  try {
    const host = new URL(endpoint).hostname
    return host === "localhost" || host === "[::1]" || host === "::1" || host.startsWith("127.")
  } catch {
    return false
  }
}

/**
 * The client settings for `--endpoint` / `--region`. Left out, the AWS SDK resolves them as usual
 * (AWS_REGION, profiles, instance roles). An emulator on a loopback endpoint with no
 * AWS_ACCESS_KEY_ID set gets placeholder credentials, as the examples do.
 */
export const kinesisOptions = (connection: Connection, env: NodeJS.ProcessEnv = process.env): KinesisOptions => {
  const endpoint = Option.getOrUndefined(connection.endpoint)
  const region = Option.getOrUndefined(connection.region) ?? env.AWS_REGION ?? (endpoint === undefined ? undefined : "us-east-1")
  const local = endpoint !== undefined && isLoopback(endpoint) && env.AWS_ACCESS_KEY_ID === undefined && env.AWS_PROFILE === undefined
  return {
    ...(region === undefined ? {} : { region }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(local ? { credentials: emulatorCredentials } : {})
  }
}

/** A Kinesis client for the connection options. */
export const kinesisLayer = (connection: Connection): Layer.Layer<Kinesis> => Kinesis.layer(kinesisOptions(connection))

/** Text safe on one line: what a message may hold (newlines from an SDK message) folded. */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()
