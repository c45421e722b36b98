import type pg from 'pg';
import type { RunStatus } from '../runs/ledger.js';
import { listRuns, runDetail, type RunDetail, type RunSummary } from '../runs/run-status.js';

/**
 * What the dashboard reads, as data (the API returns these objects as JSON). Every query is
 * parameterised; the only identifiers are fixed ones of the ledger (schema batchinfer).
 */

/** A run's monitoring columns (ledger migration 6). */
export interface RunDrift {
  max_psi: number | null;
  drift_status: 'ok' | 'warn' | 'fail' | null;
  warnings: string[];
  accepted_at: Date | null;
}

export type DashboardRun = RunSummary & RunDrift;

async function driftOf(client: pg.ClientBase, runIds: number[]): Promise<Map<number, RunDrift>> {
  if (runIds.length === 0) return new Map();
  const { rows } = await client.query<Omit<RunDrift, 'warnings'> & { warnings: string[] | null; run_id: string }>(
    `SELECT run_id, max_psi, drift_status, warnings, accepted_at FROM batchinfer.runs WHERE run_id = ANY($1::bigint[])`,
    [runIds],
  );
  return new Map(rows.map((r) => [Number(r.run_id), { max_psi: r.max_psi, drift_status: r.drift_status, warnings: r.warnings ?? [], accepted_at: r.accepted_at }]));
}

const noDrift: RunDrift = { max_psi: null, drift_status: null, warnings: [], accepted_at: null };

/** The runs list: newest first, filtered by job and status; plus every job name (for the filter). */
export async function runsPage(client: pg.ClientBase, filter: { job?: string; status?: RunStatus; limit: number }): Promise<{ runs: DashboardRun[]; jobs: string[] }> {
  const runs = await listRuns(client, filter);
  const drift = await driftOf(client, runs.map((r) => r.run_id));
  const jobs = await client.query<{ job: string }>(`SELECT DISTINCT job FROM batchinfer.runs ORDER BY job`);
  return { runs: runs.map((r) => ({ ...r, ...(drift.get(r.run_id) ?? noDrift) })), jobs: jobs.rows.map((j) => j.job) };
}

export type DashboardRunDetail = RunDetail &
  RunDrift & {
    /** result columns in spec order */
    outputs: string[];
    /** the spec's drift thresholds, when it has them */
    drift_warn: number | null;
    drift_fail: number | null;
  };

/** One run with its progress and drift; undefined when the ledger lacks it. */
export async function runPage(client: pg.ClientBase, runId: number): Promise<DashboardRunDetail | undefined> {
  const run = await runDetail(client, runId);
  if (!run) return undefined;
  const { rows } = await client.query<{ outputs: string[] | null; warn: string | null; fail: string | null }>(
    `SELECT (SELECT array_agg(o->>'column' ORDER BY n) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(spec->'outputs') = 'array' THEN spec->'outputs' ELSE '[]' END) WITH ORDINALITY AS t(o, n)) AS outputs,
            coalesce(spec#>>'{monitoring,driftWarn}', spec#>>'{monitoring,drift_warn}') AS warn,
            coalesce(spec#>>'{monitoring,driftFail}', spec#>>'{monitoring,drift_fail}') AS fail
       FROM batchinfer.runs WHERE run_id = $1`,
    [runId],
  );
  const num = (v: string | null) => (v !== null && Number.isFinite(Number(v)) ? Number(v) : null);
  return { ...run, ...((await driftOf(client, [runId])).get(runId) ?? noDrift), outputs: rows[0]?.outputs ?? [], drift_warn: num(rows[0]?.warn ?? null), drift_fail: num(rows[0]?.fail ?? null) };
}

export async function runExists(client: pg.ClientBase, runId: number): Promise<boolean> {
  return (await client.query('SELECT 1 FROM batchinfer.runs WHERE run_id = $1', [runId])).rowCount === 1;
}

export interface ChunkCell {
  chunk: number;
  status: 'pending' | 'done' | 'failed';
  /** pending, but a worker has started it */
  started: boolean;
  rows_read: number;
  rows_rejected: number;
  attempts: number;
  error: string | null;
}

/** Every chunk of a run, in order: the progress grid. */
export async function runChunks(client: pg.ClientBase, runId: number): Promise<ChunkCell[]> {
  const { rows } = await client.query<{ chunk: number; status: ChunkCell['status']; started: boolean; rows_read: string; rows_rejected: string; attempts: number; error: string | null }>(
    `SELECT chunk, status, started_at IS NOT NULL AS started, rows_read, rows_rejected, attempts, error FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk`,
    [runId],
  );
  return rows.map((r) => ({ ...r, rows_read: Number(r.rows_read), rows_rejected: Number(r.rows_rejected) }));
}

export interface RejectRow {
  chunk: number;
  line: number | null;
  key: string | null;
  reason: string;
  raw: string | null;
}

/** A page of a run's rejects, in file order, and how many there are in all. */
export async function runRejects(client: pg.ClientBase, runId: number, offset: number, limit: number): Promise<{ total: number; offset: number; limit: number; rejects: RejectRow[] }> {
  const total = await client.query<{ n: string }>(`SELECT count(*) AS n FROM batchinfer.rejects WHERE run_id = $1`, [runId]);
  const { rows } = await client.query<RejectRow & { line: string | null }>(
    `SELECT chunk, line, key, reason, raw FROM batchinfer.rejects WHERE run_id = $1 ORDER BY chunk, line NULLS LAST, key OFFSET $2 LIMIT $3`,
    [runId, offset, limit],
  );
  return { total: Number(total.rows[0].n), offset, limit, rejects: rows.map((r) => ({ ...r, line: r.line === null ? null : Number(r.line) })) };
}

export interface ProfileColumn {
  role: 'input' | 'output';
  column_name: string;
  count: number;
  non_finite: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  stddev: number | null;
  zeros: number;
  bin_edges: number[];
  bin_counts: number[];
  reference: string | null;
  reference_run_id: number | null;
  reference_counts: number[] | null;
  reference_mean: number | null;
  reference_min: number | null;
  reference_max: number | null;
  psi: number | null;
}

/** A run's profile, worst drift first (columns without a PSI last, inputs before outputs). */
export async function runProfile(client: pg.ClientBase, runId: number): Promise<ProfileColumn[]> {
  const { rows } = await client.query(
    `SELECT role, column_name, count, non_finite, min, max, mean, stddev, zeros, bin_edges, bin_counts::float8[] AS bin_counts,
            reference, reference_run_id, reference_counts::float8[] AS reference_counts, reference_mean, reference_min, reference_max, psi
       FROM batchinfer.run_profiles WHERE run_id = $1
      ORDER BY psi DESC NULLS LAST, role, column_name`,
    [runId],
  );
  return rows.map((r) => ({
    ...r,
    count: Number(r.count),
    non_finite: Number(r.non_finite),
    zeros: Number(r.zeros),
    reference_run_id: r.reference_run_id === null ? null : Number(r.reference_run_id),
  })) as ProfileColumn[];
}

export interface JobDate {
  logical_date: string;
  /** the run the result table's `_latest` view shows for this date (null: no succeeded run) */
  latest_run_id: number | null;
  /** the newest run of the date, whatever its status */
  newest_run_id: number;
  newest_status: RunStatus;
  runs: number;
  rows_read: number | null;
  rows_rejected: number | null;
  reject_rate: number | null;
  /** mean of the chosen output column over the latest run (from its profile) */
  mean_prediction: number | null;
  max_psi: number | null;
}

export interface JobPage {
  job: string;
  result_table: string | null;
  /** the output columns that have a profile (the choices for mean_prediction) */
  outputs: string[];
  /** the output column mean_prediction is of */
  output: string | null;
  dates: JobDate[];
}

/**
 * A job over its logical dates (oldest first). Which run a date's `_latest` shows follows the view's
 * own definition (src/sink/result-table.ts): per result table and date, the succeeded run with the
 * latest finished_at, then the highest run id.
 */
export async function jobPage(client: pg.ClientBase, job: string, output: string | undefined, maxDates: number): Promise<JobPage | undefined> {
  const head = await client.query<{ result_table: string; outputs: string[] | null }>(
    `SELECT result_table,
            (SELECT array_agg(o->>'column' ORDER BY n) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(spec->'outputs') = 'array' THEN spec->'outputs' ELSE '[]' END) WITH ORDINALITY AS t(o, n)) AS outputs
       FROM batchinfer.runs WHERE job = $1 ORDER BY run_id DESC LIMIT 1`,
    [job],
  );
  if (!head.rows[0]) return undefined;
  const resultTable = head.rows[0].result_table;
  const profiled = await client.query<{ column_name: string }>(
    `SELECT DISTINCT p.column_name FROM batchinfer.run_profiles p JOIN batchinfer.runs r USING (run_id) WHERE r.job = $1 AND p.role = 'output'`,
    [job],
  );
  const have = new Set(profiled.rows.map((r) => r.column_name));
  const specOrder = (head.rows[0].outputs ?? []).filter((c) => have.has(c));
  const outputs = [...specOrder, ...[...have].filter((c) => !specOrder.includes(c)).sort()];
  const chosen = output !== undefined && have.has(output) ? output : (outputs[0] ?? null);
  const { rows } = await client.query<{
    logical_date: string;
    latest_run_id: string | null;
    newest_run_id: string;
    newest_status: RunStatus;
    runs: string;
    rows_read: string | null;
    rows_rejected: string | null;
    mean_prediction: number | null;
    max_psi: number | null;
  }>(
    `WITH dates AS (
       SELECT logical_date, count(*) AS runs, max(run_id) AS newest_run_id
         FROM batchinfer.runs WHERE job = $1 GROUP BY logical_date ORDER BY logical_date DESC LIMIT $4),
     latest AS (
       SELECT DISTINCT ON (r.logical_date) r.logical_date, r.run_id, r.rows_read, r.rows_rejected, r.max_psi
         FROM batchinfer.runs r
        WHERE r.result_table = $2 AND r.status = 'succeeded' AND r.logical_date IN (SELECT logical_date FROM dates)
        ORDER BY r.logical_date, r.finished_at DESC, r.run_id DESC)
     SELECT to_char(d.logical_date, 'YYYY-MM-DD') AS logical_date, l.run_id AS latest_run_id, d.newest_run_id, n.status AS newest_status, d.runs,
            l.rows_read, l.rows_rejected, l.max_psi,
            (SELECT p.mean FROM batchinfer.run_profiles p WHERE p.run_id = l.run_id AND p.role = 'output' AND p.column_name = $3) AS mean_prediction
       FROM dates d
       JOIN batchinfer.runs n ON n.run_id = d.newest_run_id
       LEFT JOIN latest l ON l.logical_date = d.logical_date
      ORDER BY d.logical_date`,
    [job, resultTable, chosen, maxDates],
  );
  const dates = rows.map((r) => {
    const read = r.rows_read === null ? null : Number(r.rows_read);
    const rejected = r.rows_rejected === null ? null : Number(r.rows_rejected);
    return {
      logical_date: r.logical_date,
      latest_run_id: r.latest_run_id === null ? null : Number(r.latest_run_id),
      newest_run_id: Number(r.newest_run_id),
      newest_status: r.newest_status,
      runs: Number(r.runs),
      rows_read: read,
      rows_rejected: rejected,
      reject_rate: read ? (rejected ?? 0) / read : read === 0 ? 0 : null,
      mean_prediction: r.mean_prediction,
      max_psi: r.max_psi,
    };
  });
  return { job, result_table: resultTable, outputs, output: chosen, dates };
}
