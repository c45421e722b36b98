import { UsageError } from '../errors.js';
import type { QueueBackend } from '../queue/chunk-queue.js';
import type { CommandIO } from './io.js';
import { settingsOf } from './settings.js';

/**
 * Where queued chunks go (flag > environment > default): `--queue redis|postgres|inline` or
 * BATCHINFER_QUEUE; without either, Redis when REDIS_URL (or --redis-url) is set, else none (score
 * inline). The Postgres queue lives in the results database.
 */
export function resolveQueue(flags: { queue?: string; redisUrl?: string }, io: CommandIO, databaseUrl: string): QueueBackend | undefined {
  const s = settingsOf(io);
  const redisUrl = flags.redisUrl ?? s.REDIS_URL;
  const kind = flags.queue ?? s.BATCHINFER_QUEUE ?? (redisUrl ? 'redis' : 'inline');
  if (kind === 'inline' || kind === 'none') return undefined;
  if (kind === 'postgres') return { kind: 'postgres', url: databaseUrl };
  if (kind === 'redis') {
    if (!redisUrl) throw new UsageError('No Redis configured: pass --redis-url or set REDIS_URL (or use --queue postgres, or omit both to score inline)');
    try {
      new URL(redisUrl);
    } catch {
      throw new UsageError(`REDIS_URL ${redisUrl}: not a URL; write redis://host:6379 (or rediss://user:password@host:port)`);
    }
    return { kind: 'redis', url: redisUrl };
  }
  throw new UsageError(`queue ${kind}: unknown; use --queue redis, postgres or inline (or BATCHINFER_QUEUE)`);
}

/** The queue's name: one per ledger when several share a Redis (BATCHINFER_QUEUE_NAME). */
export const queueName = (io: CommandIO) => settingsOf(io).BATCHINFER_QUEUE_NAME;
