import type pg from 'pg';
import { UsageError } from '../errors.js';
import { DRIFT_GUARD } from './finish-profile.js';

/** What `batchinfer accept` did, as data. */
export interface AcceptOutcome {
  run_id: number;
  job: string;
  logical_date: string;
  /** the run's status before and after */
  status_before: string;
  status: string;
  accepted_at: Date | null;
  accepted_by: string | null;
  result_table: string;
  /** the run `<table>_latest` showed for the date before, and shows now (null: none) */
  latest_before: number | null;
  latest_after: number | null;
  /** false: it was accepted before; nothing changed */
  changed: boolean;
  message: string;
}

/** The run `<table>_latest` shows for a date: the view's own rule (newest succeeded by finish time). */
async function latestRunOf(client: pg.ClientBase, resultTable: string, logicalDate: string): Promise<number | null> {
  const { rows } = await client.query<{ run_id: string }>(
    `SELECT run_id FROM batchinfer.runs WHERE result_table = $1 AND logical_date = $2::date AND status = 'succeeded' ORDER BY finished_at DESC, run_id DESC LIMIT 1`,
    [resultTable, logicalDate],
  );
  return rows[0] ? Number(rows[0].run_id) : null;
}

/**
 * Publish a run the drift guard failed, after a human looked: it becomes succeeded (so `_latest` shows
 * it, unless a newer succeeded run of the same date is there), with who accepted it and when; the
 * guard's error moves to its warnings. Only a run failed by the guard alone can be accepted.
 */
export async function acceptRun(client: pg.ClientBase, runId: number, by: string): Promise<AcceptOutcome> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ job: string; logical_date: string; status: string; error: string | null; drift_status: string | null; accepted_at: Date | null; accepted_by: string | null; result_table: string; pruned_at: Date | null }>(
      `SELECT job, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, status, error, drift_status, accepted_at, accepted_by, result_table, pruned_at FROM batchinfer.runs WHERE run_id = $1 FOR UPDATE`,
      [runId],
    );
    const r = rows[0];
    if (!r) throw new UsageError(`run ${runId} is not in the ledger (batchinfer.runs)`);
    const view = `${r.result_table}_latest`;
    const latestBefore = await latestRunOf(client, r.result_table, r.logical_date);
    const base = { run_id: runId, job: r.job, logical_date: r.logical_date, status_before: r.status, result_table: r.result_table, latest_before: latestBefore };
    if (r.accepted_at && r.status === 'succeeded') {
      await client.query('COMMIT');
      return { ...base, status: r.status, accepted_at: r.accepted_at, accepted_by: r.accepted_by, latest_after: latestBefore, changed: false, message: `run ${runId} was already accepted by ${r.accepted_by ?? 'unknown'} at ${r.accepted_at.toISOString()}; nothing changed` };
    }
    if (r.status !== 'failed' || r.drift_status !== 'fail' || !r.error?.startsWith(DRIFT_GUARD))
      throw new UsageError(`run ${runId} is ${r.status}${r.error ? ` (${r.error.slice(0, 120)})` : ''}: only a run the drift guard failed can be accepted (its error starts with "${DRIFT_GUARD}")`);
    if (r.pruned_at) throw new UsageError(`run ${runId}'s rows were deleted by batchinfer prune at ${r.pruned_at.toISOString()}; there is nothing left to publish: run the date again`);
    const upd = await client.query<{ accepted_at: Date }>(
      `UPDATE batchinfer.runs SET status = 'succeeded', accepted_at = now(), accepted_by = $2, warnings = coalesce(warnings, '{}') || ARRAY['accepted by ' || $2 || ' despite ' || split_part(error, '; its rows are kept', 1)], error = NULL
        WHERE run_id = $1 RETURNING accepted_at`,
      [runId, by],
    );
    const latestAfter = await latestRunOf(client, r.result_table, r.logical_date);
    await client.query('COMMIT');
    const shown =
      latestAfter === runId
        ? `${view} shows it for ${r.logical_date}${latestBefore !== null ? ` (instead of run ${latestBefore})` : ''}`
        : `${view} still shows run ${latestAfter} for ${r.logical_date} (a run that finished later)`;
    return { ...base, status: 'succeeded', accepted_at: upd.rows[0].accepted_at, accepted_by: by, latest_after: latestAfter, changed: true, message: `run ${runId} accepted by ${by}: failed (drift guard) -> succeeded; ${shown}` };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
