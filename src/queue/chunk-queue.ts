import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { RunTrigger } from '../runs/ledger.js';

/** One queue holds every job's chunks: any worker scores any job. One queue per ledger (BATCHINFER_QUEUE names another). */
export const QUEUE_NAME = 'batchinfer-chunks';

export interface ChunkJobData {
  runId: number;
  chunk: number;
  /** the run's job: a worker whose ledger holds another run under this id (a queue shared by two ledgers) refuses it */
  job: string;
}

/** A chunk's queue job id: derived from (run, chunk), so enqueuing a run twice adds no work. */
export const chunkJobId = (runId: number, chunk: number) => `run-${runId}-chunk-${chunk}`;

/** Manual and scheduled runs' chunks are taken before backfills' (BullMQ: a lower number is taken first). */
export const priorityOf = (trigger: RunTrigger) => (trigger === 'backfill' ? 10 : 1);

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * A Redis connection that fails fast: commands give up after a few reconnect attempts (about 10 s),
 * so `run` and `status` never hang on ioredis' default infinite retry. Workers pass
 * `blocking: true` (BullMQ workers need maxRetriesPerRequest: null) and reconnect forever with backoff.
 */
export function redisConnection(url: string, opts: { blocking?: boolean } = {}): Redis {
  const options: RedisOptions = opts.blocking
    ? { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * 2 ** Math.min(n, 5), 5000), connectTimeout: 10_000 }
    : { maxRetriesPerRequest: 1, connectTimeout: 5_000, enableOfflineQueue: true, retryStrategy: (n) => (n > 3 ? null : 500 * n) };
  const redis = new Redis(url, options);
  redis.on('error', () => undefined); // reported by the command that fails (or the worker's own logging)
  return redis;
}

export function chunkQueue(connection: Redis, name = QUEUE_NAME): Queue<ChunkJobData> {
  return new Queue<ChunkJobData>(name, { connection });
}

/**
 * Add a run's chunks to the queue. A chunk whose earlier job failed for good is removed first (a
 * `retry` of the run must run it again); one still waiting, delayed or active is left as it is.
 */
export async function enqueueChunks(queue: Queue<ChunkJobData>, runId: number, job: string, chunks: number[], trigger: RunTrigger, retry: RetryPolicy): Promise<void> {
  const opts = (chunk: number): JobsOptions => ({
    jobId: chunkJobId(runId, chunk),
    priority: priorityOf(trigger),
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  });
  for (let i = 0; i < chunks.length; i += 500) {
    const part = chunks.slice(i, i + 500);
    for (const c of part) {
      const old = await queue.getJob(chunkJobId(runId, c));
      if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove();
    }
    await queue.addBulk(part.map((chunk) => ({ name: 'chunk', data: { runId, chunk, job }, opts: opts(chunk) })));
  }
}
