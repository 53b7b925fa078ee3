import { ExpiredIterator, KinesisRequestError, KinesisThrottled } from "../../src/kinesis/index.js"

/** A throttled GetRecords on stream "s", shard 0. */
export const throttled = new KinesisThrottled({
  operation: "GetRecords",
  streamName: "s",
  shardId: "shardId-000000000000",
  errorName: "ProvisionedThroughputExceededException",
  cause: "test"
})

/** A failed GetRecords: an InternalFailure (retryable), or the same marked not retryable. */
export const requestError = (retryable: boolean) =>
  new KinesisRequestError({ operation: "GetRecords", errorName: "InternalFailure", retryable, cause: "test" })

/** An expired iterator on stream "s", shard 0. */
export const expired = new ExpiredIterator({ streamName: "s", shardId: "shardId-000000000000", cause: "test" })
