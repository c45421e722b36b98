import type pg from 'pg';
import { defaults } from '../defaults.js';
import type { RunRecord, RunStatus } from './ledger.js';
import { DRIFT_GUARD, driftGuardError, finishProfile, noDrift, type DriftOutcome, type DriftStatus } from '../monitoring/finish-profile.js';
import { monitoringOf } from '../spec/job-spec.js';
import { errorMessage } from '../errors.js';

/** A run's result, as data: printed by --json exactly as held here, and the same numbers sit in batchinfer.runs. */
export interface RunOutcome {
  run_id: number;
  job: string;
  logical_date: string;
  trigger: string;
  status: RunStatus;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  chunks_total: number;
  chunks_done: number;
  resumed: boolean;
  model_version: string;
  result_table: string;
  duration_s: number;
  error: string | null;
  /** peak resident memory of the process that ran this attempt (all its scoring threads), MB; null when not measured here */
  peak_rss_mb: number | null;
  /** result rows deleted by the job's retention after this run (only when the spec has retention) */
  pruned_rows?: number;
  /** the largest PSI of the run's columns against its reference (null: no reference or no profile) */
  max_psi: number | null;
  /** ok, warn (above monitoring.drift_warn; the run still succeeded) or fail (above drift_fail: the publish guard failed it) */
  drift_status: DriftStatus | null;
  /** what a succeeded run should still be looked at for (drift above drift_warn) */
  warnings: string[];
}

/** Allowed rejects for a run: a fraction (< 1) of rows read, or a count (>= 1). */
export function rejectBudget(maxRejected: number, rowsRead: number): number {
  return maxRejected < 1 ? Math.floor(maxRejected * rowsRead) : Math.floor(maxRejected);
}

/** How the error of a run that read fewer rows than the spec's min_rows begins: the run's input was not ready (exit 3). */
export const inputNotReadyPrefix = 'input not ready: ';

/** Whether a finished run failed because its source had fewer rows than min_rows (wait and try again: exit 3). */
export function failedNotReady(o: { status: RunStatus; error: string | null }): boolean {
  return o.status === 'failed' && o.error !== null && o.error.startsWith(inputNotReadyPrefix);
}

/**
 * Derive the run's status and counts from its chunks (idempotent: calling it twice gives the same
 * answer) and record them. A run with unfinished chunks failed with the first chunk error; a run
 * over its reject budget failed with the first reasons; one that read fewer rows than min_rows failed as
 * input not ready.
 */
export async function finishRun(client: pg.ClientBase, run: RunRecord, opts: { resumed: boolean; status?: RunStatus; error?: string; /** wall time of this attempt; default: since the run first started */ durationS?: number }): Promise<RunOutcome> {
  const { rows } = await client.query<{ total: string; done: string; read: string; scored: string; rejected: string; planned: boolean }>(
    `SELECT (SELECT planned FROM batchinfer.runs WHERE run_id = $1) AS planned, count(*) AS total, count(*) FILTER (WHERE status = 'done') AS done,
            coalesce(sum(rows_read) FILTER (WHERE status = 'done'), 0) AS read,
            coalesce(sum(rows_scored) FILTER (WHERE status = 'done'), 0) AS scored,
            coalesce(sum(rows_rejected) FILTER (WHERE status = 'done'), 0) AS rejected
       FROM batchinfer.chunks WHERE run_id = $1`,
    [run.runId],
  );
  const c = rows[0];
  const [total, done, read, scored, rejected] = [c.total, c.done, c.read, c.scored, c.rejected].map(Number);
  let status: RunStatus = opts.status ?? 'succeeded';
  let error = opts.error ?? null;
  if (status === 'succeeded' && (done < total || !c.planned)) {
    status = 'failed';
    const parts: string[] = [];
    if (done < total) {
      const failed = await client.query<{ chunk: number; error: string }>(
        `SELECT chunk, error FROM batchinfer.chunks WHERE run_id = $1 AND status = 'failed' ORDER BY finished_at LIMIT 1`,
        [run.runId],
      );
      const first = failed.rows[0];
      parts.push(`${total - done} of ${total} chunks not done${first ? `; chunk ${first.chunk}: ${first.error}` : ''}`);
    }
    if (!c.planned) parts.push(`planning did not finish (${total} chunks planned so far); run again to resume`);
    error = parts.join('; ');
  }
  const minRows = run.spec.minRows;
  if (status === 'succeeded' && minRows !== undefined && read < minRows) {
    status = 'failed';
    error = `${inputNotReadyPrefix}${read} rows read, fewer than min_rows ${minRows}; try again once the source has its rows (a new run reads it afresh), or lower min_rows in the spec`;
  }
  if (status === 'succeeded') {
    const budget = rejectBudget(run.spec.maxRejected, read);
    if (rejected > budget) {
      status = 'failed';
      const first = await client.query<{ line: string | null; key: string | null; reason: string }>(
        `SELECT line, key, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY chunk, line LIMIT $2`,
        [run.runId, defaults.firstRejectReasons],
      );
      const reasons = first.rows.map((r) => `${r.line !== null ? `line ${r.line}` : `key ${r.key}`}: ${r.reason}`).join('; ');
      error = `${rejected} of ${read} rows rejected, over max_rejected ${run.spec.maxRejected} (${budget} allowed); first: ${reasons}. All in batchinfer.rejects WHERE run_id = ${run.runId}`;
    }
  }
  // The run's profile, its drift, and the publish guard: a run whose monitored columns drifted above
  // drift_fail is failed, so its rows never reach _latest until someone accepts it.
  let drift: DriftOutcome = noDrift;
  try {
    drift = await finishProfile(client, run.runId, run.spec);
  } catch (err) {
    drift = { ...noDrift, warnings: [`profile: not merged (${errorMessage(err)}); the run's result rows are not affected`] };
  }
  if (status === 'succeeded' && drift.failing.length) {
    status = 'failed';
    error = driftGuardError(run.runId, drift.failing, monitoringOf(run.spec).driftFail!);
  }
  // Finished exactly once: only while it is still active (two finishers at once: one wins, the other
  // reports what the winner recorded).
  let upd = await client.query<{ duration_s: number; status: RunStatus; error: string | null; max_psi: number | null; drift_status: DriftStatus | null; warnings: string[] | null }>(
    `UPDATE batchinfer.runs SET status = $2, rows_read = $3, rows_scored = $4, rows_rejected = $5, error = $6, finished_at = now(), source_snapshot = NULL,
            max_psi = $7, drift_status = $8, warnings = $9
      WHERE run_id = $1 AND status IN ('queued', 'running') RETURNING extract(epoch FROM finished_at - started_at)::float8 AS duration_s, status, error, max_psi, drift_status, warnings`,
    [run.runId, status, read, scored, rejected, error, drift.max_psi, drift.drift_status, drift.warnings.length ? drift.warnings : null],
  );
  if (upd.rowCount === 0) {
    upd = await client.query(`SELECT extract(epoch FROM finished_at - started_at)::float8 AS duration_s, status, error, max_psi, drift_status, warnings FROM batchinfer.runs WHERE run_id = $1`, [run.runId]);
    if (upd.rows[0]) [status, error] = [upd.rows[0].status, upd.rows[0].error];
  }
  const final = upd.rows[0];
  return {
    run_id: run.runId,
    job: run.job,
    logical_date: run.logicalDate,
    trigger: run.trigger,
    status,
    rows_read: read,
    rows_scored: scored,
    rows_rejected: rejected,
    chunks_total: total,
    chunks_done: done,
    resumed: opts.resumed,
    model_version: run.modelVersion,
    result_table: run.resultTable,
    duration_s: Math.round((opts.durationS ?? upd.rows[0]?.duration_s ?? 0) * 1000) / 1000,
    error,
    peak_rss_mb: null,
    max_psi: final?.max_psi ?? null,
    drift_status: final?.drift_status ?? null,
    warnings: final?.warnings ?? [],
  };
}
