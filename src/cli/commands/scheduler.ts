import { queueName, resolveQueue } from '../queue-settings.js';
import type { QueueBackend as QueueBackendKind } from '../../queue/chunk-queue.js';
import { describeServer } from '../../db/connect.js';
import { UnavailableError, UsageError, errorMessage } from '../../errors.js';
import { systemClock } from '../../scheduler/clock.js';
import { InlineBackend } from '../../scheduler/inline-backend.js';
import { loadJobs, type LoadedJobs } from '../../scheduler/load-jobs.js';
import { QueueBackend } from '../../scheduler/queue-backend.js';
import { Scheduler, type SchedulerBackend } from '../../scheduler/scheduler.js';
import { eventLogger } from '../event-log.js';
import type { CommandIO } from '../io.js';
import { resolveDatabaseUrl, resolveThreads } from '../settings.js';

export interface SchedulerFlags {
  jobs?: string;
  threads?: string;
  databaseUrl?: string;
  redisUrl?: string;
  queue?: string;
  inline?: boolean;
}

/**
 * batchinfer scheduler: every spec in --jobs with a schedule, on its cron ticks, until SIGTERM (exit
 * 0); SIGHUP re-reads the specs. One JSON line per event on stdout (readable on a terminal).
 */
export async function schedulerCommand(flags: SchedulerFlags, io: CommandIO): Promise<number> {
  const dir = flags.jobs ?? 'jobs';
  const log = eventLogger(io.stdout);
  const first = loadJobs(dir, io.cwd);
  if (first.jobs.length === 0) {
    const why = first.problems.length ? `${first.problems.map((p) => p.message).join('\n')}\n` : '';
    throw new UsageError(`${why}--jobs ${dir}: no job spec there has a valid schedule; add schedule: { cron: "0 2 * * *" } to a spec (batchinfer schedule --jobs ${dir} shows what is scheduled)`);
  }
  const threads = resolveThreads(flags.threads, io);
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const queue = flags.inline ? undefined : resolveQueue(flags, io, db.url);
  const name = queueName(io);
  if (queue) await pingQueue(queue, name);
  const backend: SchedulerBackend = queue ? new QueueBackend({ databaseUrl: db.url, queue, queueName: name }) : new InlineBackend({ databaseUrl: db.url, threads, log });
  const scheduler = new Scheduler({ clock: systemClock, backend, log });
  log({ event: 'scheduler start', jobs: first.jobs.length, mode: queue ? `queue (${queue.kind})` : 'inline', ...(queue ? { queue: name ?? 'batchinfer-chunks' } : { threads }), database: describeServer(db.url), specs: dir, pid: process.pid });
  report(first, log);
  try {
    await scheduler.start(first.jobs);
    let reloading: Promise<void> = Promise.resolve();
    io.onReload?.(() => {
      reloading = reloading.then(async () => {
        if (io.signal?.aborted) return;
        log({ event: 'reload requested', specs: dir });
        try {
          const again = loadJobs(dir, io.cwd);
          for (const u of again.unscheduled) log({ event: 'not scheduled', file: u.file, job: u.job, why: 'its spec has no schedule: (run it with batchinfer run)' });
          await scheduler.reload(again.jobs, again.problems);
        } catch (err) {
          log({ event: 'reload error', error: errorMessage(err), action: 'every job keeps its schedule' });
        }
      });
    });
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) return resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    log({ event: 'scheduler stopping', why: 'signal: no new ticks; runs in this process end as Ctrl-C ends batchinfer run (resumed at the next start)' });
    await reloading;
  } finally {
    await scheduler.stop();
  }
  log({ event: 'scheduler stop' });
  return 0;
}

function report(loaded: LoadedJobs, log: (e: Record<string, unknown>) => void): void {
  for (const p of loaded.problems) log({ event: 'spec error', file: p.file, error: p.message, action: 'skipped; the other jobs run' });
  for (const u of loaded.unscheduled) log({ event: 'not scheduled', file: u.file, job: u.job, why: 'its spec has no schedule: (run it with batchinfer run)' });
}

async function pingQueue(backend: QueueBackendKind, name: string | undefined): Promise<void> {
  const { openChunkQueue } = await import('../../queue/chunk-queue.js');
  const q = openChunkQueue(backend, name);
  try {
    await q.ping().catch((err: unknown) => {
      throw new UnavailableError(`${errorMessage(err)}; start it, or unset REDIS_URL (or pass --inline) to score in this process`);
    });
  } finally {
    await q.close();
  }
}
