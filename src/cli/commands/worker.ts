import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { defaults } from '../../defaults.js';
import { startQueueWorker } from '../../queue/queue-worker.js';
import type { CommandIO } from '../io.js';
import { eventLogger } from '../event-log.js';
import { resolveDatabaseUrl, settingsOf } from '../settings.js';
import { queueName, resolveQueue } from '../queue-settings.js';

export interface WorkerFlags {
  concurrency?: string;
  graceMs?: string;
  redisUrl?: string;
  queue?: string;
  databaseUrl?: string;
  root?: string;
  metricsPort?: string;
}

const whole = (raw: string, what: string, min: number) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what} ${raw}: expected a whole number >= ${min}`);
  return n;
};

/** batchinfer worker: score queued chunks of any job until SIGTERM/SIGINT (then exit 0 within --grace-ms). */
export async function workerCommand(flags: WorkerFlags, io: CommandIO): Promise<number> {
  const concurrency = flags.concurrency !== undefined ? whole(flags.concurrency, '--concurrency', 1) : os.availableParallelism();
  const graceMs = flags.graceMs !== undefined ? whole(flags.graceMs, '--grace-ms', 0) : defaults.workerGraceMs;
  const lockMs = settingsOf(io).BATCHINFER_QUEUE_LOCK_MS;
  // Unset: each run's recorded root when it exists on this machine, else the working directory.
  const rootSetting = flags.root ?? settingsOf(io).BATCHINFER_ROOT;
  const root = rootSetting === undefined ? undefined : path.resolve(io.cwd, rootSetting);
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const queue = resolveQueue(flags, io, db.url);
  if (!queue) throw new UsageError('No queue configured: pass --redis-url or set REDIS_URL (or use --queue postgres: the queue in the results database)');
  const metricsPort = flags.metricsPort !== undefined ? whole(flags.metricsPort, '--metrics-port', 1) : undefined;
  const log = eventLogger(io.stdout);
  const worker = await startQueueWorker({ queue, databaseUrl: db.url, concurrency, root, lockMs, log, metricsPort, env: { ...io.env }, queueName: queueName(io) });
  await new Promise<void>((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await worker.close(graceMs);
  return 0;
}
