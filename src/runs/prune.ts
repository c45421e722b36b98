import type pg from 'pg';
import { qualifiedName } from '../sql/identifiers.js';

/** Rows deleted per statement: each batch is its own short transaction (row locks only, never the table's). */
const DELETE_BATCH_ROWS = 50_000;

export interface PrunedRun {
  run_id: number;
  job: string;
  logical_date: string;
  status: string;
  /** why its rows go */
  why: string;
  rows: number;
}

export interface PruneReport {
  dry_run: boolean;
  runs: PrunedRun[];
  rows_deleted: number;
  rejects_deleted: number;
}

interface Candidate {
  run_id: string;
  job: string;
  logical_date: string;
  status: string;
  result_table: string;
  drift_status: string | null;
  shown: boolean;
  rank: number;
  keep_runs: number | null;
  keep_days: number | null;
  age_days: number;
}

/**
 * Delete what no one needs any more, per each job's retention (from its newest run's spec): the rows
 * of failed and cancelled runs (they never reach _latest; the run is planned again if resumed) except
 * runs the drift guard failed that nobody accepted yet, until they are older than keep_days, of
 * succeeded runs beyond `keep_runs_per_date` per date, and of runs older than `keep_days` that _latest
 * does not show, plus rejects older than `keep_days`. Never a run that _latest shows, never an active
 * run. Rows go in batches by run (the primary key's index), so analysts' queries and other runs never
 * wait on a table lock; VACUUM (autovacuum) reuses the space.
 */
export async function prune(client: pg.ClientBase, opts: { job?: string; dryRun?: boolean } = {}): Promise<PruneReport> {
  const { rows } = await client.query<Candidate>(
    `WITH policy AS (
       SELECT DISTINCT ON (job) job, (spec->'retention'->>'keepRunsPerDate')::int AS keep_runs, (spec->'retention'->>'keepDays')::int AS keep_days
         FROM batchinfer.runs ORDER BY job, run_id DESC),
     ranked AS (
       SELECT r.run_id, r.job, to_char(r.logical_date, 'YYYY-MM-DD') AS logical_date, r.status, r.result_table, r.drift_status, r.accepted_at,
              (current_date - r.logical_date) AS age_days,
              CASE WHEN r.status = 'succeeded' THEN row_number() OVER (PARTITION BY r.result_table, r.logical_date, r.status = 'succeeded' ORDER BY r.finished_at DESC, r.run_id DESC) END AS rank
         FROM batchinfer.runs r
        WHERE r.pruned_at IS NULL AND ($1::text IS NULL OR r.job = $1))
     SELECT k.*, k.rank = 1 AS shown, p.keep_runs, p.keep_days FROM ranked k JOIN policy p USING (job)
      WHERE (k.status IN ('failed', 'cancelled')
             -- A run the drift guard failed waits for a human (batchinfer accept) within keep_days: its rows stay.
             AND NOT (k.status = 'failed' AND k.drift_status = 'fail' AND k.accepted_at IS NULL AND (p.keep_days IS NULL OR k.age_days <= p.keep_days)))
         OR (k.status = 'succeeded' AND k.rank > 1 AND (k.rank > p.keep_runs OR k.age_days > p.keep_days))
      ORDER BY k.run_id`,
    [opts.job ?? null],
  );
  const report: PruneReport = { dry_run: Boolean(opts.dryRun), runs: [], rows_deleted: 0, rejects_deleted: 0 };
  for (const c of rows) {
    const runId = Number(c.run_id);
    const [schema, table] = c.result_table.split('.');
    const t = qualifiedName(schema, table);
    const exists = (await client.query(`SELECT to_regclass($1) AS t`, [t])).rows[0].t !== null;
    const why = c.status !== 'succeeded' ? `${c.status} run${c.drift_status === 'fail' ? ` (drift guard, not accepted within keep_days: ${c.keep_days})` : ''}` : c.keep_runs !== null && c.rank > c.keep_runs ? `superseded (keep_runs_per_date: ${c.keep_runs})` : `older than keep_days: ${c.keep_days}`;
    let n = 0;
    if (exists && opts.dryRun) n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t} WHERE run_id = $1`, [runId])).rows[0].n);
    else if (exists)
      for (;;) {
        const d = await client.query(`DELETE FROM ${t} WHERE run_id = $1 AND ctid = ANY(ARRAY(SELECT ctid FROM ${t} WHERE run_id = $1 LIMIT ${DELETE_BATCH_ROWS}))`, [runId]);
        n += d.rowCount ?? 0;
        if ((d.rowCount ?? 0) < DELETE_BATCH_ROWS) break;
      }
    if (!opts.dryRun) {
      if (c.status !== 'succeeded') {
        // Its chunks go too (with their rejects): resumed, the run is planned and scored again from scratch.
        await client.query('BEGIN');
        await client.query(`DELETE FROM batchinfer.chunks WHERE run_id = $1`, [runId]);
        await client.query(`UPDATE batchinfer.runs SET planned = false, chunks_total = 0, pruned_at = now() WHERE run_id = $1 AND status IN ('failed', 'cancelled')`, [runId]);
        await client.query('COMMIT');
      } else await client.query(`UPDATE batchinfer.runs SET pruned_at = now() WHERE run_id = $1`, [runId]);
    }
    report.runs.push({ run_id: runId, job: c.job, logical_date: c.logical_date, status: c.status, why, rows: n });
    report.rows_deleted += n;
  }
  // Rejects older than keep_days, whatever the run (the rows _latest shows stay).
  const rej = await client.query<{ n: string }>(
    `WITH policy AS (SELECT DISTINCT ON (job) job, (spec->'retention'->>'keepDays')::int AS keep_days FROM batchinfer.runs ORDER BY job, run_id DESC),
     old AS (SELECT r.run_id FROM batchinfer.runs r JOIN policy p USING (job) WHERE ($1::text IS NULL OR r.job = $1) AND p.keep_days IS NOT NULL AND current_date - r.logical_date > p.keep_days AND r.status NOT IN ('queued', 'running'))
     ${opts.dryRun ? 'SELECT count(*) AS n FROM batchinfer.rejects WHERE run_id IN (SELECT run_id FROM old)' : ', d AS (DELETE FROM batchinfer.rejects WHERE run_id IN (SELECT run_id FROM old) RETURNING 1) SELECT count(*) AS n FROM d'}`,
    [opts.job ?? null],
  );
  report.rejects_deleted = Number(rej.rows[0].n);
  return report;
}

/**
 * Succeeded runs that _latest no longer shows, of jobs whose newest spec has no `retention`: prune keeps
 * them (every run stays queryable by run id), which a user who re-ran dates may not expect; per job.
 */
export async function keptWithoutRetention(client: pg.ClientBase, job?: string): Promise<{ job: string; runs: number }[]> {
  const { rows } = await client.query<{ job: string; runs: number }>(
    `WITH policy AS (SELECT DISTINCT ON (job) job, spec->'retention' AS retention FROM batchinfer.runs ORDER BY job, run_id DESC),
     ranked AS (
       SELECT r.job, row_number() OVER (PARTITION BY r.result_table, r.logical_date ORDER BY r.finished_at DESC, r.run_id DESC) AS rank
         FROM batchinfer.runs r
        WHERE r.status = 'succeeded' AND r.pruned_at IS NULL AND ($1::text IS NULL OR r.job = $1))
     SELECT k.job, count(*)::int AS runs FROM ranked k JOIN policy p USING (job)
      WHERE k.rank > 1 AND (p.retention IS NULL OR p.retention = 'null'::jsonb)
      GROUP BY k.job ORDER BY k.job`,
    [job ?? null],
  );
  return rows;
}
