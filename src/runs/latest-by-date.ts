import type pg from 'pg';
import type { LatestRun } from '../schedule/backfill-plan.js';
import { runOwnerAlive } from './claim-run.js';
import type { RunStatus, RunTrigger } from './ledger.js';

/**
 * For each logical date of a job in [from, to] that has runs: the run that decides what a backfill
 * does with it: an active run when there is one (never started twice), else the newest.
 */
export async function latestRunsByDate(client: pg.ClientBase, job: string, from: string, to: string): Promise<Map<string, LatestRun>> {
  const { rows } = await client.query<{ d: string; run_id: string; status: RunStatus; trigger: RunTrigger; cancel_requested: boolean }>(
    `SELECT DISTINCT ON (logical_date) to_char(logical_date, 'YYYY-MM-DD') AS d, run_id, status, trigger, cancel_requested
       FROM batchinfer.runs WHERE job = $1 AND logical_date BETWEEN $2::date AND $3::date
      ORDER BY logical_date, status IN ('queued', 'running') DESC, run_id DESC`,
    [job, from, to],
  );
  return new Map(rows.map((r) => [r.d, { runId: Number(r.run_id), status: r.status, trigger: r.trigger, interrupted: r.status === 'cancelled' && !r.cancel_requested }]));
}

/** A run's status now, and whether it is active with its in-process owner gone (killed: nobody will finish it). */
export async function runState(client: pg.ClientBase, runId: number): Promise<{ status: RunStatus; ownerGone: boolean }> {
  const { rows } = await client.query<{ status: RunStatus; owner: string | null }>(`SELECT status, owner FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  const r = rows[0];
  if (!r) throw new Error(`run ${runId} is not in the ledger (batchinfer.runs)`);
  const active = r.status === 'queued' || r.status === 'running';
  return { status: r.status, ownerGone: active && r.owner !== 'queue' && !(await runOwnerAlive(client, runId)) };
}
