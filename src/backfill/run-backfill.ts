import type { QueueBackend } from '../queue/chunk-queue.js';
import type pg from 'pg';
import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { UsageError, errorMessage } from '../errors.js';
import { runJob } from '../execute/run-job.js';
import { RunBusyError } from '../runs/claim-run.js';
import type { RunOutcome } from '../runs/finish-run.js';
import { latestRunsByDate, runState } from '../runs/latest-by-date.js';
import type { RunStatus } from '../runs/ledger.js';
import { migrate } from '../runs/migrations.js';
import { ledgerExists } from '../runs/run-status.js';
import { backfillDates, planBackfill, type BackfillAction, type DatePlan, type Reprocess } from '../schedule/backfill-plan.js';
import type { JobSpec } from '../spec/job-spec.js';

export interface BackfillOptions {
  spec: JobSpec;
  from: string;
  to: string;
  reprocess: Reprocess;
  /** runs active at once */
  maxActive: number;
  /** newest date first */
  backwards: boolean;
  databaseUrl: string;
  /** with a queue: runs are queued for workers (their chunks after scheduled and manual runs' chunks) */
  /** with a queue, dates are queued for workers; without, scored in this process */
  queue?: QueueBackend;
  queueName?: string;
  /** without a queue: scoring threads in all, shared by the runs active at once */
  threads: number;
  /** stop starting dates; in-process runs end cancelled (chunks in flight commit), queued ones go on in the workers */
  signal?: AbortSignal;
  /** the plan, once read from the ledger */
  onPlan?: (plan: DatePlan[]) => void;
  onDateStart?: (d: { date: string; action: BackfillAction; runId?: number }) => void;
  onDateEnd?: (d: DateResult) => void;
  onRows?: (rows: number) => void;
  /** how often a queued or followed run is polled (default 250 ms) */
  pollMs?: number;
}

/** What became of one date. */
export interface DateResult {
  date: string;
  action: BackfillAction;
  why: string;
  run_id: number | null;
  /** the date's run's status at the end; null when it has no run (not started: the backfill was stopped) */
  status: RunStatus | null;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  error: string | null;
  /** stopped before it ended: cancelled here, or left to the workers */
  left?: 'cancelled' | 'left to the workers' | 'not started';
}

export interface BackfillOutcome {
  job: string;
  from: string;
  to: string;
  reprocess: Reprocess;
  max_active: number;
  /** dates in the range */
  dates_total: number;
  /** dates whose run ended succeeded (run now, or already) */
  succeeded: number;
  /** dates that did not end succeeded */
  not_succeeded: number;
  /** runs this backfill created, resumed or followed */
  runs: number;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  duration_s: number;
  /** Ctrl-C / SIGTERM stopped it before every date was done: the same command picks up where it stopped */
  interrupted: boolean;
  dates: DateResult[];
}

/** The plan for each date of the range, from the ledger (nothing is changed: what --dry-run prints). */
export async function planBackfillRange(client: pg.ClientBase, spec: JobSpec, opts: Pick<BackfillOptions, 'from' | 'to' | 'reprocess' | 'backwards'>): Promise<DatePlan[]> {
  const latest = (await ledgerExists(client)) ? await latestRunsByDate(client, spec.name, opts.from, opts.to) : new Map();
  return planBackfill(backfillDates(opts.from, opts.to, opts.backwards), latest, opts.reprocess);
}

/**
 * One run per logical date of the range (trigger backfill), at most maxActive at once, in date order
 * (or newest first). Dates the plan leaves alone count as they are; a date whose run is active is
 * followed to its end, never started again.
 */
export async function runBackfill(opts: BackfillOptions): Promise<BackfillOutcome> {
  const started = Date.now();
  const client = await connectPg(opts.databaseUrl, { purpose: 'backfill', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  let plan: DatePlan[];
  try {
    await migrate(client);
    plan = await planBackfillRange(client, opts.spec, opts);
  } finally {
    await client.end().catch(() => undefined);
  }
  opts.onPlan?.(plan);
  const results = new Map<string, DateResult>();
  const base = (p: DatePlan): DateResult => ({ date: p.date, action: p.action, why: p.why, run_id: p.runId ?? null, status: p.status ?? null, rows_read: 0, rows_scored: 0, rows_rejected: 0, error: null });
  for (const p of plan) results.set(p.date, base(p));
  const todo = plan.filter((p) => p.action !== 'skip');
  let next = 0;
  const usageErrors: UsageError[] = [];
  const lane = async () => {
    for (;;) {
      if (opts.signal?.aborted || next >= todo.length) return;
      const p = todo[next++];
      opts.onDateStart?.({ date: p.date, action: p.action, runId: p.runId });
      let r: DateResult;
      try {
        r = await doDate(p, opts, base(p));
      } catch (err) {
        // A date that could not get a run (its input file is missing, say): the other dates go on.
        if (err instanceof UsageError) usageErrors.push(err);
        r = { ...base(p), status: 'failed', error: errorMessage(err) };
      }
      results.set(p.date, r);
      opts.onDateEnd?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.maxActive, Math.max(1, todo.length)) }, lane));
  // Not one date got a run, and the spec or model is at fault: the user's to fix (exit 2), not a failed backfill.
  if (usageErrors.length > 0 && todo.every((p) => results.get(p.date)!.run_id === null)) throw usageErrors[0];
  for (const p of todo.slice(next)) results.set(p.date, { ...base(p), left: 'not started' });
  const dates = plan.map((p) => results.get(p.date)!);
  const succeeded = dates.filter((d) => d.status === 'succeeded').length;
  const ran = dates.filter((d) => d.action !== 'skip' && d.run_id !== null);
  return {
    job: opts.spec.name,
    from: opts.from,
    to: opts.to,
    reprocess: opts.reprocess,
    max_active: opts.maxActive,
    dates_total: dates.length,
    succeeded,
    not_succeeded: dates.length - succeeded,
    runs: ran.length,
    rows_read: sum(ran, 'rows_read'),
    rows_scored: sum(ran, 'rows_scored'),
    rows_rejected: sum(ran, 'rows_rejected'),
    duration_s: Math.round((Date.now() - started) / 10) / 100,
    interrupted: Boolean(opts.signal?.aborted) && dates.some((d) => d.left !== undefined),
    dates,
  };
}

const sum = (xs: DateResult[], k: 'rows_read' | 'rows_scored' | 'rows_rejected') => xs.reduce((n, x) => n + x[k], 0);

/** Run (or follow) one date to its end. */
async function doDate(p: DatePlan, opts: BackfillOptions, result: DateResult): Promise<DateResult> {
  try {
    let outcome: RunOutcome | undefined;
    if (p.action === 'wait') outcome = await follow(p.runId!, opts);
    else outcome = await start(p.date, p.action === 'rerun', opts);
    if (!outcome) return { ...result, status: 'running', left: 'left to the workers' };
    return {
      ...result,
      run_id: outcome.run_id,
      status: outcome.status,
      rows_read: outcome.rows_read,
      rows_scored: outcome.rows_scored,
      rows_rejected: outcome.rows_rejected,
      error: outcome.error,
      ...(outcome.status === 'cancelled' && opts.signal?.aborted ? { left: 'cancelled' as const } : {}),
    };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return { ...result, status: 'failed', error: errorMessage(err) };
  }
}

/** Start (or resume) the date's run and see it to its end; undefined when stopped while the workers still have it. */
async function start(date: string, fresh: boolean, opts: BackfillOptions): Promise<RunOutcome | undefined> {
  try {
    if (!opts.queue) {
      const threads = opts.threads === 0 ? 0 : Math.max(1, Math.floor(opts.threads / opts.maxActive));
      return await runJob({ spec: opts.spec, logicalDate: date, trigger: 'backfill', databaseUrl: opts.databaseUrl, threads, fresh, signal: opts.signal, onRows: opts.onRows });
    }
    const { enqueueRun } = await import('../queue/enqueue-run.js');
    const q = await enqueueRun({ spec: opts.spec, logicalDate: date, trigger: 'backfill', databaseUrl: opts.databaseUrl, queue: opts.queue, queueName: opts.queueName, fresh });
    return await follow(q.run_id, opts, q.resumed);
  } catch (err) {
    // Someone started the date meanwhile (a scheduled or manual run): follow theirs instead.
    if (!(err instanceof RunBusyError)) throw err;
    const m = /^run (\d+) /.exec(err.message);
    if (!m) throw err;
    return follow(Number(m[1]), opts);
  }
}

/**
 * Follow a run (queued for workers, or another process's) until it ends. A run whose in-process
 * owner is gone is taken up here. Undefined when stopped first (the run goes on without us).
 */
async function follow(runId: number, opts: BackfillOptions, resumed = false): Promise<RunOutcome | undefined> {
  const { followRun } = await import('../queue/follow-run.js');
  const client = await connectPg(opts.databaseUrl, { purpose: 'backfill follow', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  let date: string;
  try {
    for (;;) {
      const s = await runState(client, runId);
      if (s.status !== 'queued' && s.status !== 'running') break;
      if (s.ownerGone) {
        const { rows } = await client.query<{ d: string }>(`SELECT to_char(logical_date, 'YYYY-MM-DD') AS d FROM batchinfer.runs WHERE run_id = $1`, [runId]);
        date = rows[0].d;
        await client.end().catch(() => undefined);
        return start(date, false, opts);
      }
      if (opts.signal?.aborted) return undefined;
      // A queued run's rows as its chunks finish, for the progress display.
      if (opts.queue) {
        const ac = new AbortController();
        const onStop = () => ac.abort();
        opts.signal?.addEventListener('abort', onStop, { once: true });
        try {
          return await followRun(opts.databaseUrl, runId, { resumed, onRows: opts.onRows, signal: ac.signal, pollMs: opts.pollMs ?? 250 });
        } catch (err) {
          if (opts.signal?.aborted) return undefined;
          throw err;
        } finally {
          opts.signal?.removeEventListener('abort', onStop);
        }
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
    return await followRun(opts.databaseUrl, runId, { resumed });
  } finally {
    await client.end().catch(() => undefined);
  }
}
