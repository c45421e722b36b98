import type pg from 'pg';
import { runOwnerAlive } from './claim-run.js';
import type { RunStatus, RunTrigger } from './ledger.js';

/**
 * A run as `batchinfer status` and `batchinfer runs` show it, as data (printed by --json as held here).
 * Counts of an active run are summed over its done chunks (the run row holds them only once finished).
 */
export interface RunSummary {
  run_id: number;
  job: string;
  logical_date: string;
  trigger: RunTrigger;
  /** as the ledger says; see stale */
  status: RunStatus;
  /** the ledger says queued/running but no live owner drives it (killed): running the same job and date again resumes it */
  stale: boolean;
  owner: string | null;
  cancel_requested: boolean;
  /** seconds since the owner's last heartbeat; null when it never beat */
  heartbeat_age_s: number | null;
  /** false while chunks are still being planned */
  planned: boolean;
  chunks_total: number;
  chunks_done: number;
  chunks_failed: number;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  model_version: string;
  result_table: string;
  started_at: Date | null;
  finished_at: Date | null;
  /** finished: finished_at - started_at; active: so far */
  duration_s: number | null;
  error: string | null;
  /** the largest PSI against the run's reference (null: no reference, no profile, or not finished) */
  max_psi: number | null;
  /** ok, warn (succeeded with warnings) or fail (the publish guard failed it until accepted); null: not compared */
  drift_status: 'ok' | 'warn' | 'fail' | null;
  warnings: string[];
  /** when and by whom `batchinfer accept` published a run the drift guard had failed */
  accepted_at: Date | null;
  accepted_by: string | null;
}

/** One run in detail: its progress while running and its first chunk errors. */
export interface RunDetail extends RunSummary {
  /** rows the planner counted in the chunks planned so far (null when it does not count them) */
  rows_planned: number | null;
  /** recent throughput while running (from the done chunks' times); null otherwise */
  rows_per_s: number | null;
  /** seconds left at rows_per_s for the chunks planned so far; null when not running or unknown */
  eta_s: number | null;
  /** the first failed chunks, in the order they failed */
  chunk_errors: { chunk: number; error: string }[];
}

const ACTIVE: RunStatus[] = ['queued', 'running'];
export const isActive = (status: RunStatus) => ACTIVE.includes(status);
export const runStatuses: RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** Chunk errors a status shows. */
const FIRST_CHUNK_ERRORS = 3;
/** Throughput is measured over the chunks finished in this window before the latest one (a resumed run's old chunks drop out). */
const RATE_WINDOW_S = 60;

interface SummaryRow {
  run_id: string;
  job: string;
  logical_date: string;
  trigger: RunTrigger;
  status: RunStatus;
  owner: string | null;
  cancel_requested: boolean;
  heartbeat_age_s: number | null;
  planned: boolean;
  model_version: string;
  result_table: string;
  started_at: Date | null;
  finished_at: Date | null;
  duration_s: number | null;
  error: string | null;
  max_psi: number | null;
  drift_status: 'ok' | 'warn' | 'fail' | null;
  warnings: string[] | null;
  accepted_at: Date | null;
  accepted_by: string | null;
  run_read: string;
  run_scored: string;
  run_rejected: string;
  total: string;
  done: string;
  failed: string;
  read: string;
  scored: string;
  rejected: string;
  planned_rows: string | null;
}

const summarySql = (where: string, tail = '') => `
SELECT r.run_id, r.job, to_char(r.logical_date, 'YYYY-MM-DD') AS logical_date, r.trigger, r.status, r.owner, r.cancel_requested,
       extract(epoch FROM now() - r.heartbeat_at)::float8 AS heartbeat_age_s, r.planned, r.model_version, r.result_table,
       r.started_at, r.finished_at, extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at)::float8 AS duration_s, r.error,
       r.max_psi, r.drift_status, r.warnings, r.accepted_at, r.accepted_by,
       r.rows_read AS run_read, r.rows_scored AS run_scored, r.rows_rejected AS run_rejected,
       c.total, c.done, c.failed, c.read, c.scored, c.rejected, c.planned_rows
  FROM batchinfer.runs r
  CROSS JOIN LATERAL (
    SELECT count(*) AS total, count(*) FILTER (WHERE status = 'done') AS done, count(*) FILTER (WHERE status = 'failed') AS failed,
           coalesce(sum(rows_read) FILTER (WHERE status = 'done'), 0) AS read,
           coalesce(sum(rows_scored) FILTER (WHERE status = 'done'), 0) AS scored,
           coalesce(sum(rows_rejected) FILTER (WHERE status = 'done'), 0) AS rejected,
           sum(planned_rows) AS planned_rows
      FROM batchinfer.chunks WHERE run_id = r.run_id) c
 WHERE ${where}
 ${tail}`;

/** Whether the database has a ledger at all (a database no run has used yet has none). */
export async function ledgerExists(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT to_regclass('batchinfer.runs') IS NOT NULL AS ok`);
  return rows[0].ok;
}

/** A run with its progress and first errors; undefined when the ledger has no such run. */
export async function runDetail(client: pg.ClientBase, runId: number): Promise<RunDetail | undefined> {
  const { rows } = await client.query<SummaryRow>(summarySql('r.run_id = $1'), [runId]);
  if (!rows[0]) return undefined;
  const s = (await withStale(client, rows.map(toSummary)))[0];
  const errors = await client.query<{ chunk: number; error: string }>(
    `SELECT chunk, error FROM batchinfer.chunks WHERE run_id = $1 AND status = 'failed' AND error IS NOT NULL ORDER BY finished_at, chunk LIMIT ${FIRST_CHUNK_ERRORS}`,
    [runId],
  );
  const detail: RunDetail = { ...s, rows_planned: rows[0].planned_rows === null ? null : Number(rows[0].planned_rows), rows_per_s: null, eta_s: null, chunk_errors: errors.rows };
  if (s.status === 'running' && !s.stale) Object.assign(detail, await progress(client, runId));
  return detail;
}

/** The newest run of each job, by job name. */
export async function latestRuns(client: pg.ClientBase): Promise<RunSummary[]> {
  const { rows } = await client.query<SummaryRow>(summarySql('r.run_id IN (SELECT max(run_id) FROM batchinfer.runs GROUP BY job)', 'ORDER BY r.job'));
  return withStale(client, rows.map(toSummary));
}

export interface RunFilter {
  job?: string;
  status?: RunStatus;
  /** newest first, at most this many */
  limit: number;
}

/** Run history, newest first. */
export async function listRuns(client: pg.ClientBase, filter: RunFilter): Promise<RunSummary[]> {
  const { rows } = await client.query<SummaryRow>(
    summarySql('($1::text IS NULL OR r.job = $1) AND ($2::text IS NULL OR r.status = $2)', 'ORDER BY r.run_id DESC LIMIT $3'),
    [filter.job ?? null, filter.status ?? null, filter.limit],
  );
  return withStale(client, rows.map(toSummary));
}

function toSummary(r: SummaryRow): RunSummary {
  const active = isActive(r.status);
  // A finished run's recorded counts are the truth (finishRun wrote them); an active run has only its done chunks.
  const [read, scored, rejected] = active ? [r.read, r.scored, r.rejected] : [r.run_read, r.run_scored, r.run_rejected];
  return {
    run_id: Number(r.run_id),
    job: r.job,
    logical_date: r.logical_date,
    trigger: r.trigger,
    status: r.status,
    stale: false,
    owner: r.owner,
    cancel_requested: r.cancel_requested,
    heartbeat_age_s: r.heartbeat_age_s === null ? null : Math.round(r.heartbeat_age_s * 10) / 10,
    planned: r.planned,
    chunks_total: Number(r.total),
    chunks_done: Number(r.done),
    chunks_failed: Number(r.failed),
    rows_read: Number(read),
    rows_scored: Number(scored),
    rows_rejected: Number(rejected),
    model_version: r.model_version,
    result_table: r.result_table,
    started_at: r.started_at,
    finished_at: r.finished_at,
    duration_s: r.duration_s === null ? null : Math.round(r.duration_s * 1000) / 1000,
    error: r.error,
    max_psi: r.max_psi,
    drift_status: r.drift_status,
    warnings: r.warnings ?? [],
    accepted_at: r.accepted_at,
    accepted_by: r.accepted_by,
  };
}

/** Marks active runs whose owner is gone. A queued run's owner is the queue, which has no session lock to check. */
async function withStale(client: pg.ClientBase, runs: RunSummary[]): Promise<RunSummary[]> {
  for (const r of runs) r.stale = await isStale(client, r);
  return runs;
}

export async function isStale(client: pg.ClientBase, run: { run_id: number; status: RunStatus; owner: string | null }): Promise<boolean> {
  return isActive(run.status) && run.owner !== 'queue' && !(await runOwnerAlive(client, run.run_id));
}

/**
 * Throughput from the done chunks' finish times: the rows of the chunks finished in the RATE_WINDOW_S
 * before the latest finish (a resumed run's old chunks drop out), after the first of them, over the
 * time between the first and the last finish. With one finish only: its rows since it started, up to
 * now. Then the time left for the chunks not done (their planned rows; a chunk without a count is
 * taken as an average done one).
 */
async function progress(client: pg.ClientBase, runId: number): Promise<{ rows_per_s: number | null; eta_s: number | null }> {
  const { rows } = await client.query<{ n: string; rows: string | null; first_rows: string | null; span_s: number | null; since_start_s: number | null; left_rows: string | null; left_unknown: string; avg_rows: number | null }>(
    `WITH done AS (SELECT started_at, finished_at, rows_read FROM batchinfer.chunks WHERE run_id = $1 AND status = 'done'),
          recent AS (SELECT * FROM done WHERE finished_at >= (SELECT max(finished_at) FROM done) - make_interval(secs => $2)),
          first AS (SELECT rows_read FROM recent ORDER BY finished_at LIMIT 1)
     SELECT (SELECT count(*) FROM recent) AS n, (SELECT sum(rows_read) FROM recent) AS rows, (SELECT rows_read FROM first) AS first_rows,
            (SELECT extract(epoch FROM max(finished_at) - min(finished_at))::float8 FROM recent) AS span_s,
            (SELECT extract(epoch FROM now() - min(started_at))::float8 FROM recent) AS since_start_s,
            (SELECT avg(rows_read)::float8 FROM done) AS avg_rows,
            sum(planned_rows) AS left_rows, count(*) FILTER (WHERE planned_rows IS NULL) AS left_unknown
       FROM batchinfer.chunks WHERE run_id = $1 AND status <> 'done'`,
    [runId, RATE_WINDOW_S],
  );
  const p = rows[0];
  const rate =
    Number(p.n) >= 2 && p.span_s ? (Number(p.rows) - Number(p.first_rows)) / p.span_s : Number(p.n) >= 1 && p.since_start_s ? Number(p.rows) / p.since_start_s : null;
  if (rate === null || !(rate > 0)) return { rows_per_s: null, eta_s: null };
  const left = Number(p.left_rows ?? 0) + Number(p.left_unknown) * (p.avg_rows ?? 0);
  return { rows_per_s: Math.round(rate), eta_s: Math.round(left / rate) };
}
