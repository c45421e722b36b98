import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { bin } from './cli.js';

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

/** A `batchinfer worker` process and the JSON events it logged. */
export interface WorkerProc {
  child: ChildProcess;
  events: Record<string, unknown>[];
  /** resolves with the first event matching */
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

export function startWorker(args: string[], env: Record<string, string>, cwd: string): WorkerProc {
  const inherited = { ...process.env };
  for (const k of ['REDIS_URL', 'BATCHINFER_QUEUE', 'BATCHINFER_QUEUE_NAME']) delete inherited[k];
  const child = spawn(process.execPath, [bin, 'worker', ...args], { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      events.push(e);
      for (const w of [...waiters]) if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    events,
    exited,
    stderr: () => err,
    waitFor(pred, timeoutMs = 60_000) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching worker event within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(-5))}; stderr: ${err.slice(-500)}`)), timeoutMs);
        waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      });
    },
  };
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
