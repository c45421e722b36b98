import { Redis } from 'ioredis';
import { startCommand, type EventProc } from './scheduler.js';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether Redis is there. Under CI=true a missing Redis fails the suite loudly; elsewhere the queue
 * tests run on BullMQ's Postgres backend instead, said in one loud line.
 */
export async function redisAvailable(): Promise<boolean> {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, connectTimeout: 2000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`queue tests need Redis at ${redisUrl} (CI=true): ${(err as Error).message}`);
    console.warn(`\n*** no Redis at ${redisUrl}: the queue tests run on the PostgreSQL queue backend instead (Redis-only faults skipped) ***\n`);
    return false;
  } finally {
    r.disconnect();
  }
}

/** A `batchinfer worker` process and the JSON events it logged (stderr: its output, both streams). */
export interface WorkerProc extends EventProc {
  stderr: () => string;
}

/** A worker that takes the queue only from `env` (never a REDIS_URL the test process inherited). */
export function startWorker(args: string[], env: Record<string, string>, cwd: string): WorkerProc {
  const p = startCommand(['worker', ...args], { REDIS_URL: undefined, BATCHINFER_QUEUE: undefined, BATCHINFER_QUEUE_NAME: undefined, ...env }, cwd);
  return { ...p, stderr: p.output };
}

/** Remove one queue's keys (what losing Redis' data does to it), leaving other queues alone. */
export async function dropQueueKeys(queueName: string): Promise<number> {
  const r = new Redis(redisUrl);
  try {
    const keys = await r.keys(`bull:${queueName}:*`);
    if (keys.length) await r.del(...keys);
    return keys.length;
  } finally {
    r.disconnect();
  }
}
