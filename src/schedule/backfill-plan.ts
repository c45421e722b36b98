import type { RunStatus, RunTrigger } from '../runs/ledger.js';
import { addDays } from './zoned-time.js';

/** Which dates a backfill runs again (Airflow's reprocess behaviour). */
export type Reprocess = 'none' | 'failed' | 'completed';
export const reprocessPolicies: Reprocess[] = ['none', 'failed', 'completed'];

/** The run of a date that decides what a backfill does with it (its newest, or an active one). */
export interface LatestRun {
  runId: number;
  status: RunStatus;
  trigger: RunTrigger;
  /** cancelled by a signal (Ctrl-C, SIGTERM), not by `batchinfer cancel`: resumable work */
  interrupted: boolean;
}

export type BackfillAction =
  /** no run yet: create one */
  | 'create'
  /** the policy re-runs it: a new run */
  | 'rerun'
  /** a backfill run of it was interrupted: resume it (its done chunks stay done) */
  | 'resume'
  /** its run is still queued or running: never started again; followed until it ends */
  | 'wait'
  /** left alone */
  | 'skip';

export interface DatePlan {
  date: string;
  action: BackfillAction;
  /** the run the action is about (the one followed, resumed, or the one that made the date skipped) */
  runId?: number;
  /** its status, when there is a run */
  status?: RunStatus;
  why: string;
}

/** The dates from..to inclusive (YYYY-MM-DD), oldest first or newest first. */
export function backfillDates(from: string, to: string, backwards = false): string[] {
  const dates: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) dates.push(d);
  return backwards ? dates.reverse() : dates;
}

/**
 * What a backfill does with each date, from the date's latest run. `none` creates runs only for dates
 * with no run; `failed` also re-runs dates whose latest run failed or was cancelled; `completed`
 * re-runs every date. A date whose run is still queued or running is never started again, and an
 * interrupted backfill run is resumed whatever the policy (a repeat picks up where it stopped).
 */
export function planBackfill(dates: string[], latest: ReadonlyMap<string, LatestRun>, reprocess: Reprocess): DatePlan[] {
  return dates.map((date): DatePlan => {
    const run = latest.get(date);
    if (!run) return { date, action: 'create', why: 'no run yet' };
    const about = { runId: run.runId, status: run.status };
    if (run.status === 'queued' || run.status === 'running') return { date, action: 'wait', ...about, why: `run ${run.runId} is ${run.status}: never started again; followed until it ends` };
    if (run.status === 'cancelled' && run.interrupted && run.trigger === 'backfill') return { date, action: 'resume', ...about, why: `run ${run.runId} was interrupted: resumed` };
    if (run.status === 'succeeded')
      return reprocess === 'completed' ? { date, action: 'rerun', ...about, why: `run ${run.runId} succeeded; --reprocess completed runs it again` } : { date, action: 'skip', ...about, why: `run ${run.runId} succeeded` };
    if (reprocess === 'none') return { date, action: 'skip', ...about, why: `latest run ${run.runId} ${run.status}; --reprocess failed runs it again` };
    return { date, action: 'rerun', ...about, why: `latest run ${run.runId} ${run.status}; --reprocess ${reprocess} runs it again` };
  });
}
