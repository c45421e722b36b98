import os from 'node:os';
import { UnrecoverableError, type Job } from 'bullmq';
import pg from 'pg';
import { defaults } from '../defaults.js';
import { classifyError, errorMessage } from '../errors.js';
import { finishRun } from '../runs/finish-run.js';
import { loadRun, markChunkFailed } from '../runs/ledger.js';
import { QUEUE_NAME, chunkWorker, openChunkQueue, redisConnection, type ChunkJobData, type QueueBackend } from './chunk-queue.js';
import { WorkerMetrics } from './worker-metrics.js';
import { ScoringPool } from './scoring-pool.js';

export interface QueueWorkerOptions {
  queue: QueueBackend;
  databaseUrl: string;
  /** scoring threads = chunks scored at once */
  concurrency: number;
  /** this machine's project root (the ledger's relative paths resolve against it); default: each run's recorded root when it exists here, else the working directory */
  root?: string;
  lockMs?: number;
  /** the queue's name (default QUEUE_NAME) */
  queueName?: string;
  /** one structured event per call (worker start/stop, chunk start/done/failed) */
  log: (event: Record<string, unknown>) => void;
  /** serve Prometheus metrics on this port */
  metricsPort?: number;
  /** fills `${NAME}` in runs' stored source URLs */
  env?: Record<string, string | undefined>;
}

export interface QueueWorker {
  name: string;
  /** Stop taking chunks; let the chunks in hand commit within graceMs, else hand them back (roll back). */
  close(graceMs: number): Promise<void>;
}

/**
 * A worker process's queue side: a BullMQ Worker on this (main) thread takes chunk jobs of any run
 * and hands each to a scoring thread. This thread never runs session.run, so lock renewal never
 * misses a beat however long a chunk scores. Whichever worker ends a run's last chunk finishes the
 * run (finishRun updates only an active run: two finishers at once, one wins).
 */
export async function startQueueWorker(opts: QueueWorkerOptions): Promise<QueueWorker> {
  const name = `${os.hostname()} pid ${process.pid}`;
  const db = new pg.Pool({ connectionString: opts.databaseUrl, max: 3, connectionTimeoutMillis: defaults.dbConnectTimeoutMs, keepAlive: true, application_name: `batchinfer worker ${name}`.slice(0, 63) });
  db.on('error', () => undefined); // an idle connection lost: the next query opens another
  const pool = new ScoringPool({ threads: opts.concurrency, databaseUrl: opts.databaseUrl, root: opts.root, workerName: `worker ${name}`, env: opts.env });
  const lockMs = opts.lockMs ?? defaults.queueLockMs;

  const queueName = opts.queueName ?? QUEUE_NAME;
  const metricsQueue = opts.metricsPort !== undefined ? openChunkQueue(opts.queue, queueName) : undefined;
  const metrics = new WorkerMetrics(metricsQueue?.queue, opts.metricsPort !== undefined ? db : undefined);
  const metricsServer = opts.metricsPort !== undefined ? await metrics.serve(opts.metricsPort) : undefined;

  const maybeFinish = async (runId: number) => {
    const { rows } = await db.query<{ status: string; planned: boolean; cancel_requested: boolean; total: string; ended: string }>(
      `SELECT r.status, r.planned, r.cancel_requested, count(c.chunk) AS total, count(c.chunk) FILTER (WHERE c.status IN ('done', 'failed')) AS ended
         FROM batchinfer.runs r LEFT JOIN batchinfer.chunks c USING (run_id) WHERE r.run_id = $1 GROUP BY r.run_id`,
      [runId],
    );
    const r = rows[0];
    if (!r || (r.status !== 'running' && r.status !== 'queued')) return;
    const allEnded = r.planned && Number(r.ended) === Number(r.total);
    if (!allEnded && !r.cancel_requested) return;
    const client = await db.connect();
    try {
      const outcome = await finishRun(client, await loadRun(client, runId), { resumed: false, ...(r.cancel_requested ? { status: 'cancelled' as const, error: 'cancelled by batchinfer cancel' } : {}) });
      opts.log({
        event: 'run finished', run: runId, status: outcome.status, rows_read: outcome.rows_read, rows_scored: outcome.rows_scored, rows_rejected: outcome.rows_rejected, error: outcome.error,
        max_psi: outcome.max_psi, drift_status: outcome.drift_status, warnings: outcome.warnings, worker: name,
      });
    } finally {
      client.release();
    }
  };

  const processor = async (job: Job<ChunkJobData>) => {
    const { runId, chunk } = job.data;
    const attempt = job.attemptsMade + 1;
    const lastAttempt = attempt >= (job.opts.attempts ?? 1);
    const { rows } = await db.query<{ status: string; cancel_requested: boolean }>(
      `UPDATE batchinfer.runs SET status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, heartbeat_at = now() WHERE run_id = $1 AND job = $2 RETURNING status, cancel_requested`,
      [runId, job.data.job],
    );
    if (!rows[0]) throw new UnrecoverableError(`worker ${name}: run ${runId} of job ${job.data.job} is not in this worker's ledger (${db.options.host ?? ''}): the queue is shared by two ledgers; give each its own queue name (BATCHINFER_QUEUE_NAME)`);
    const run = rows[0];
    if (!run || (run.status !== 'running' && run.status !== 'queued') || run.cancel_requested) {
      opts.log({ event: 'chunk skipped', run: runId, chunk, why: !run ? 'run not in the ledger' : run.cancel_requested ? 'run cancelled' : `run ${run.status}`, worker: name });
      if (run?.cancel_requested) await maybeFinish(runId);
      return { skipped: true };
    }
    const t0 = Date.now();
    opts.log({ event: 'chunk start', run: runId, chunk, attempt, worker: name });
    metrics.inFlight.inc();
    const jobName = job.data.job;
    try {
      const outcome = await pool.score(runId, chunk, lastAttempt);
      metrics.chunkSeconds.observe({ job: jobName, outcome: 'done' }, (Date.now() - t0) / 1000);
      if (!outcome.skipped) {
        metrics.rowsScored.inc({ job: jobName }, outcome.rowsScored);
        metrics.rowsRejected.inc({ job: jobName }, outcome.rowsRejected);
      }
      opts.log({ event: 'chunk done', run: runId, chunk, attempt, rows: outcome.rowsRead, scored: outcome.rowsScored, rejected: outcome.rowsRejected, skipped: outcome.skipped, ms: Date.now() - t0, worker: name });
      await maybeFinish(runId);
      return outcome;
    } catch (err) {
      const cls = classifyError(err);
      const message = errorMessage(err);
      const final = cls !== 'transient' || lastAttempt;
      metrics.chunkSeconds.observe({ job: jobName, outcome: 'failed' }, (Date.now() - t0) / 1000);
      metrics.chunksFailed.inc({ job: jobName, final: String(final) });
      opts.log({ event: 'chunk failed', run: runId, chunk, attempt, final, error: message, ms: Date.now() - t0, worker: name });
      if (final) {
        await markChunkFailed(db as unknown as pg.ClientBase, runId, chunk, `${message} (worker ${name}, attempt ${attempt})`).catch(() => undefined);
        await maybeFinish(runId).catch(() => undefined);
      }
      if (cls !== 'transient') throw new UnrecoverableError(`worker ${name}: ${message}`);
      throw err;
    } finally {
      metrics.inFlight.dec();
    }
  };

  const worker = chunkWorker(opts.queue, queueName, processor, {
    concurrency: opts.concurrency,
    lockDuration: lockMs,
    stalledInterval: Math.max(1000, Math.round(lockMs / 2)),
    maxStalledCount: 5,
    autorun: true,
  });
  worker.on('error', (err) => opts.log({ event: 'worker error', error: errorMessage(err), worker: name }));
  worker.on('stalled', (jobId) => opts.log({ event: 'chunk stalled', job: jobId, worker: name }));
  await worker.waitUntilReady();
  opts.log({ event: 'worker start', worker: name, concurrency: opts.concurrency, queue: queueName, lock_ms: lockMs, metrics_port: opts.metricsPort ?? null });
  if (opts.queue.kind === 'redis') await warnOnEviction(opts.queue.url, (policy) => opts.log({ event: 'redis warning', worker: name, error: `maxmemory-policy is ${policy}, not noeviction: Redis may evict queued chunk jobs under memory pressure (batchinfer retry <run> recovers them); set maxmemory-policy noeviction` }));

  let closing: Promise<void> | undefined;
  return {
    name,
    close(graceMs: number) {
      closing ??= (async () => {
        const graceful = (async () => {
          await worker.close(); // stops taking jobs, waits for the ones in hand
          await pool.close();
        })();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
        clearTimeout(timer);
        if (timedOut) {
          // Chunks still scoring roll back; their jobs' locks lapse and other workers take them.
          await pool.terminate();
          await worker.close(true).catch(() => undefined);
        }
        await db.end().catch(() => undefined);
        metricsServer?.close();
        await metricsQueue?.close();
        opts.log({ event: 'worker stop', worker: name, forced: timedOut });
      })();
      return closing;
    },
  };
}

/** Queued jobs must not be evicted: warn (once, at start) when Redis may evict keys. */
async function warnOnEviction(url: string, warn: (policy: string) => void): Promise<void> {
  const r = redisConnection(url);
  try {
    const res = (await r.config('GET', 'maxmemory-policy')) as string[];
    if (res[1] && res[1] !== 'noeviction') warn(res[1]);
  } catch {
    // CONFIG may be disabled (managed Redis): nothing to check
  } finally {
    r.disconnect();
  }
}
