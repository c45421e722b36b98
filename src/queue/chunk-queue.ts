import { createRequire } from 'node:module';
import { Queue, Worker, type BackendFactory, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { RunTrigger } from '../runs/ledger.js';
import { describeServer } from '../db/connect.js';
import { UnavailableError } from '../errors.js';

/** One queue holds every job's chunks: any worker scores any job. One queue per ledger (BATCHINFER_QUEUE_NAME names another). */
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

/**
 * Where the queue lives: Redis (the default with REDIS_URL), or PostgreSQL through BullMQ's own
 * Postgres backend (tables in schema "bullmq" of the results database) for teams without Redis.
 */
export type QueueBackend = { kind: 'redis'; url: string } | { kind: 'postgres'; url: string };

type PgBackendFactory = BackendFactory<never, unknown>;
let pgBackend: PgBackendFactory | undefined;
/** BullMQ's Postgres backend, loaded only when used (its ESM build is not importable by subpath). */
function postgresBackend(): PgBackendFactory {
  pgBackend ??= (createRequire(import.meta.url)('bullmq/dist/cjs/postgres/index.js') as { createPostgresBackend: PgBackendFactory }).createPostgresBackend;
  return pgBackend;
}

/** The queue's connection and what closing it takes. */
export interface QueueHandle {
  queue: Queue<ChunkJobData>;
  /** Fails with one line when the backend can't be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function openChunkQueue(backend: QueueBackend, name = QUEUE_NAME): QueueHandle {
  if (backend.kind === 'redis') {
    const redis = redisConnection(backend.url);
    const queue = new Queue<ChunkJobData>(name, { connection: redis });
    queue.on('error', () => undefined); // ping() reports an unreachable Redis in one line
    return {
      queue,
      ping: async () => {
        await redis.ping().catch((err: Error) => {
          throw new UnavailableError(`cannot reach Redis at ${redisHost(backend.url)}: ${err.message.replace(/Reached the max retries per request limit.*/, 'connection refused or timed out')}`);
        });
      },
      close: async () => {
        await queue.close().catch(() => undefined);
        redis.disconnect();
      },
    };
  }
  const queue = new (Queue as unknown as new (n: string, o: unknown, f: PgBackendFactory) => Queue<ChunkJobData>)(name, { connection: { connectionString: backend.url, migrate: true, max: 2 } }, postgresBackend());
  queue.on('error', () => undefined);
  return {
    queue,
    ping: async () => {
      await queue.waitUntilReady().catch((err: Error) => {
        throw new UnavailableError(`cannot open the PostgreSQL queue at ${describeServer(backend.url)}: ${err.message}`);
      });
    },
    close: async () => {
      await queue.close().catch(() => undefined);
    },
  };
}

/** A BullMQ Worker on the backend (Redis: a blocking connection that reconnects forever with backoff). */
export function chunkWorker(backend: QueueBackend, name: string, processor: Processor<ChunkJobData>, opts: Omit<WorkerOptions, 'connection'>): Worker<ChunkJobData> {
  if (backend.kind === 'redis') return new Worker<ChunkJobData>(name, processor, { ...opts, connection: redisConnection(backend.url, { blocking: true }) });
  return new (Worker as unknown as new (n: string, p: unknown, o: unknown, f: PgBackendFactory) => Worker<ChunkJobData>)(name, processor, { ...opts, connection: { connectionString: backend.url, migrate: true, max: 4 } }, postgresBackend());
}

/** host:port of a Redis URL, for messages (never the password). */
export function redisHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
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
