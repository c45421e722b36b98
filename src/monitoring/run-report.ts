import type pg from 'pg';
import type { DriftStatus } from './finish-profile.js';
import type { ProfileRole } from './column-profile.js';

/** One profiled column of a run next to its reference (as `batchinfer report --json` prints it). */
export interface ReportColumn {
  role: ProfileRole;
  column: string;
  count: number;
  non_finite: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  stddev: number | null;
  zeros: number;
  bin_edges: number[];
  bin_counts: number[];
  reference_min: number | null;
  reference_mean: number | null;
  reference_max: number | null;
  reference_counts: number[] | null;
  /** null: no reference for this column */
  psi: number | null;
}

/** A run's profile and drift: worst column first. */
export interface RunReport {
  run_id: number;
  job: string;
  logical_date: string;
  status: string;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  max_psi: number | null;
  drift_status: DriftStatus | null;
  warnings: string[];
  error: string | null;
  accepted_at: Date | null;
  accepted_by: string | null;
  /** what the run was compared with: previous, run, or a baseline file; null: nothing (the job's first profiled run) */
  reference: string | null;
  reference_run_id: number | null;
  /** drift thresholds of the run's spec */
  drift_warn: number;
  drift_fail: number | null;
  columns: ReportColumn[];
  /** rejects grouped by reason, values in the reason masked (…), most frequent first */
  rejects_by_reason: { reason: string; rows: number }[];
}

/** A run's report; undefined when the ledger has no such run. */
export async function runReport(client: pg.ClientBase, runId: number): Promise<RunReport | undefined> {
  const run = await client.query<{ job: string; logical_date: string; status: string; rows_read: string; rows_scored: string; rows_rejected: string; max_psi: number | null; drift_status: DriftStatus | null; warnings: string[] | null; error: string | null; accepted_at: Date | null; accepted_by: string | null; drift_warn: string | null; drift_fail: string | null }>(
    `SELECT job, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, status, rows_read, rows_scored, rows_rejected, max_psi, drift_status, warnings, error, accepted_at, accepted_by,
            spec->'monitoring'->>'driftWarn' AS drift_warn, spec->'monitoring'->>'driftFail' AS drift_fail
       FROM batchinfer.runs WHERE run_id = $1`,
    [runId],
  );
  const r = run.rows[0];
  if (!r) return undefined;
  const cols = await client.query<{ role: ProfileRole; column_name: string; count: string; non_finite: string; min: number | null; max: number | null; mean: number | null; stddev: number | null; zeros: string; bin_edges: number[]; bin_counts: string[]; reference: string | null; reference_run_id: string | null; reference_counts: string[] | null; reference_mean: number | null; reference_min: number | null; reference_max: number | null; psi: number | null }>(
    `SELECT * FROM batchinfer.run_profiles WHERE run_id = $1 ORDER BY psi DESC NULLS LAST, role, column_name`,
    [runId],
  );
  const rejects = await client.query<{ reason: string; rows: string }>(
    `SELECT reason, count(*) AS rows FROM (
       SELECT regexp_replace(regexp_replace(regexp_replace(reason, '(value|key) "([^"]|"")*"', '\\1 "…"', 'g'), 'non-finite value \\S+ in', 'non-finite value … in', 'g'), 'key is \\d+ bytes', 'key is … bytes', 'g') AS reason
         FROM batchinfer.rejects WHERE run_id = $1) t
      GROUP BY reason ORDER BY count(*) DESC, reason LIMIT 20`,
    [runId],
  );
  const withRef = cols.rows.find((c) => c.reference !== null);
  return {
    run_id: runId,
    job: r.job,
    logical_date: r.logical_date,
    status: r.status,
    rows_read: Number(r.rows_read),
    rows_scored: Number(r.rows_scored),
    rows_rejected: Number(r.rows_rejected),
    max_psi: r.max_psi,
    drift_status: r.drift_status,
    warnings: r.warnings ?? [],
    error: r.error,
    accepted_at: r.accepted_at,
    accepted_by: r.accepted_by,
    reference: withRef?.reference ?? null,
    reference_run_id: withRef?.reference_run_id ? Number(withRef.reference_run_id) : null,
    drift_warn: r.drift_warn === null ? 0.1 : Number(r.drift_warn),
    drift_fail: r.drift_fail === null ? null : Number(r.drift_fail),
    columns: cols.rows.map((c) => ({
      role: c.role,
      column: c.column_name,
      count: Number(c.count),
      non_finite: Number(c.non_finite),
      min: c.min,
      max: c.max,
      mean: c.mean,
      stddev: c.stddev,
      zeros: Number(c.zeros),
      bin_edges: c.bin_edges.map(Number),
      bin_counts: c.bin_counts.map(Number),
      reference_min: c.reference_min,
      reference_mean: c.reference_mean,
      reference_max: c.reference_max,
      reference_counts: c.reference_counts?.map(Number) ?? null,
      psi: c.psi,
    })),
    rejects_by_reason: rejects.rows.map((x) => ({ reason: x.reason, rows: Number(x.rows) })),
  };
}

const BLOCKS = ' ▁▂▃▄▅▆▇█';

/** A histogram as one block character per bin, scaled to its tallest bin. */
export function sparkline(counts: number[]): string {
  const top = Math.max(...counts, 0);
  if (top === 0) return ' '.repeat(counts.length);
  return counts.map((c) => BLOCKS[c === 0 ? 0 : Math.max(1, Math.round((c / top) * 8))]).join('');
}
