import { Data, Duration } from "effect"

/** A graceful stop did not finish in time; the pipeline was interrupted, the unfinished batch not checkpointed. */
export class GracefulStopTimeout extends Data.TaggedError("GracefulStopTimeout")<{
  readonly timeout: Duration.Duration
}> {
  override get message() {
    return `The pipeline did not drain within ${Duration.format(this.timeout)} of the stop request; it was interrupted`
  }
}
