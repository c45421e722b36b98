import type pg from 'pg';
import type { JobSpec } from '../spec/job-spec.js';
import type { ChunkRange } from '../sources/source.js';
import type { DataInterval } from '../spec/template.js';

export type RunTrigger = 'manual' | 'schedule' | 'backfill';
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A run as the ledger holds it: enough for any worker to process its chunks. */
export interface RunRecord {
  runId: number;
  job: string;
  logicalDate: string;
  trigger: RunTrigger;
  status: RunStatus;
  modelPath: string;
  modelVersion: string;
  modelSha256: string;
  resultTable: string;
  source: string;
  sourceFingerprint: string;
  spec: JobSpec;
  chunksTotal: number;
  /** false while chunks are still being added (see createRun) */
  planned: boolean;
  /** who drives the run ("inline <host> pid <pid>", "queue"); null for runs of older versions */
  owner: string | null;
  /** seconds since the owner's last heartbeat; null when it never beat */
  heartbeatAgeS: number | null;
  cancelRequested: boolean;
  /** pg_export_snapshot() the planner of a Postgres source holds, while it holds it */
  sourceSnapshot: string | null;
  /** the folder spec paths are relative to, where the run was created */
  projectRoot: string | null;
  /** the cron tick of a scheduled run (ISO 8601, UTC); null for manual and backfill runs */
  scheduledFor: string | null;
  /** the span its data covers ({{data_interval_start}}, {{data_interval_end}}); null for runs of older versions */
  dataInterval: DataInterval | null;
}

interface RunRow {
  run_id: string;
  job: string;
  logical_date: string;
  trigger: RunTrigger;
  status: RunStatus;
  model_path: string;
  model_version: string;
  model_sha256: string;
  result_table: string;
  source: string;
  source_fingerprint: string;
  spec: JobSpec;
  chunks_total: number;
  planned: boolean;
  owner: string | null;
  heartbeat_age_s: number | null;
  cancel_requested: boolean;
  source_snapshot: string | null;
  project_root: string | null;
  scheduled_for: string | null;
  data_interval_start: string | null;
  data_interval_end: string | null;
}

/** A timestamptz as the ISO 8601 text the code uses for instants (UTC, to the second; see intervalInstant). */
export const utcIso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;

const runColumns = `run_id, job, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, trigger, status, model_path, model_version, model_sha256, result_table, source, source_fingerprint, spec, chunks_total, planned, owner,
  extract(epoch FROM now() - heartbeat_at)::float8 AS heartbeat_age_s, cancel_requested, source_snapshot, project_root,
  ${utcIso('scheduled_for')} AS scheduled_for, ${utcIso('data_interval_start')} AS data_interval_start, ${utcIso('data_interval_end')} AS data_interval_end`;

function toRecord(r: RunRow): RunRecord {
  return {
    runId: Number(r.run_id),
    job: r.job,
    logicalDate: r.logical_date,
    trigger: r.trigger,
    status: r.status,
    modelPath: r.model_path,
    modelVersion: r.model_version,
    modelSha256: r.model_sha256,
    resultTable: r.result_table,
    source: r.source,
    sourceFingerprint: r.source_fingerprint,
    spec: r.spec,
    chunksTotal: r.chunks_total,
    planned: r.planned,
    owner: r.owner,
    heartbeatAgeS: r.heartbeat_age_s,
    cancelRequested: r.cancel_requested,
    sourceSnapshot: r.source_snapshot,
    projectRoot: r.project_root,
    scheduledFor: r.scheduled_for,
    dataInterval: r.data_interval_start && r.data_interval_end ? { start: r.data_interval_start, end: r.data_interval_end } : null,
  };
}

export async function loadRun(client: pg.ClientBase, runId: number): Promise<RunRecord> {
  const { rows } = await client.query<RunRow>(`SELECT ${runColumns} FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  if (!rows[0]) throw new Error(`run ${runId} is not in batchinfer.runs`);
  return toRecord(rows[0]);
}

/** A run about to be created; spec and modelPath are stored portable (see spec/portable.ts) by the caller. */
export type NewRun = Omit<RunRecord, 'runId' | 'status' | 'chunksTotal' | 'planned' | 'owner' | 'heartbeatAgeS' | 'cancelRequested' | 'sourceSnapshot'>;

/**
 * The run of a job for a date that decides what a new one does: its newest active run when it has
 * one (a finished scheduled run may be newer than a manual run still going), else its newest run.
 */
export async function findLastRun(client: pg.ClientBase, job: string, logicalDate: string): Promise<RunRecord | undefined> {
  const { rows } = await client.query<RunRow>(
    `SELECT ${runColumns} FROM batchinfer.runs WHERE job = $1 AND logical_date = $2 ORDER BY status IN ('queued', 'running') DESC, run_id DESC LIMIT 1`,
    [job, logicalDate],
  );
  return rows[0] && toRecord(rows[0]);
}

/** The run of a scheduled tick, if one was created. */
export async function findTickRun(client: pg.ClientBase, job: string, scheduledFor: string): Promise<RunRecord | undefined> {
  const { rows } = await client.query<RunRow>(`SELECT ${runColumns} FROM batchinfer.runs WHERE job = $1 AND scheduled_for = $2`, [job, scheduledFor]);
  return rows[0] && toRecord(rows[0]);
}

/** Whether any chunk of the run was planned yet (a scheduled run created ahead of its turn has none). */
export async function hasChunks(client: pg.ClientBase, runId: number): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM batchinfer.chunks WHERE run_id = $1 LIMIT 1`, [runId]);
  return rows.length > 0;
}

/** Whether an unfinished run was over the same input and model, with the same spec: then resuming it is right. */
export function sameRunInput(last: RunRecord, run: NewRun): boolean {
  return last.modelSha256 === run.modelSha256 && last.sourceFingerprint === run.sourceFingerprint && last.resultTable === run.resultTable && sameSpec(last.spec, run.spec);
}

/**
 * Insert a run whose chunks are still being planned: addChunks adds them as the planner finds them
 * (workers may score the first ones meanwhile), planDone closes the plan. A run is never succeeded
 * before it is planned; resuming one that never was plans it again (plans are deterministic).
 */
export async function createRun(client: pg.ClientBase, run: NewRun, owner: string, status: 'running' | 'queued' = 'running', opts: { /** false: a run waiting for its turn, started when its owner takes it up */ started?: boolean } = {}): Promise<RunRecord> {
  const { rows } = await client.query<RunRow>(
    `INSERT INTO batchinfer.runs (job, logical_date, trigger, status, model_path, model_version, model_sha256, result_table, source, source_fingerprint, spec, chunks_total, planned, started_at, owner, heartbeat_at, project_root,
                                  scheduled_for, data_interval_start, data_interval_end)
     VALUES ($1, $2, $3, $12, $4, $5, $6, $7, $8, $9, $10, 0, false, CASE WHEN $17 THEN now() END, $11, now(), $13, $14, $15, $16) RETURNING ${runColumns}`,
    [
      run.job, run.logicalDate, run.trigger, run.modelPath, run.modelVersion, run.modelSha256, run.resultTable, run.source, run.sourceFingerprint, JSON.stringify(run.spec), owner, status, run.projectRoot,
      run.scheduledFor, run.dataInterval?.start ?? null, run.dataInterval?.end ?? null, opts.started ?? true,
    ],
  );
  return toRecord(rows[0]);
}

export async function setSourceSnapshot(client: pg.ClientBase, runId: number, snapshot: string | null): Promise<void> {
  await client.query(`UPDATE batchinfer.runs SET source_snapshot = $2 WHERE run_id = $1`, [runId, snapshot]);
}

/** Add planned chunks; a chunk already there (a re-plan on resume) is kept as it is. */
export async function addChunks(client: pg.ClientBase, runId: number, chunks: ChunkRange[]): Promise<void> {
  for (let i = 0; i < chunks.length; i += 5000) {
    const part = chunks.slice(i, i + 5000);
    await client.query(
      `INSERT INTO batchinfer.chunks (run_id, chunk, range, planned_rows)
       SELECT $1, * FROM unnest($2::int[], $3::jsonb[], $4::bigint[]) ON CONFLICT (run_id, chunk) DO NOTHING`,
      [runId, part.map((c) => c.chunk), part.map((c) => JSON.stringify(c.range)), part.map((c) => c.plannedRows ?? null)],
    );
  }
}

/** Whether the chunks already stored for a run are the first chunks of `plan`, range for range (a re-plan of unchanged input). */
export async function planExtends(client: pg.ClientBase, runId: number, plan: ChunkRange[]): Promise<boolean> {
  const { rows } = await client.query<{ chunk: number; range: Record<string, unknown> }>(`SELECT chunk, range FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk`, [runId]);
  return rows.every((r, i) => plan[i] !== undefined && plan[i].chunk === r.chunk && canonicalJson(plan[i].range) === canonicalJson(r.range));
}

export async function planDone(client: pg.ClientBase, runId: number, chunksTotal: number): Promise<void> {
  await client.query(`UPDATE batchinfer.runs SET planned = true, chunks_total = $2 WHERE run_id = $1`, [runId, chunksTotal]);
}

export async function pendingChunks(client: pg.ClientBase, runId: number): Promise<number[]> {
  const { rows } = await client.query<{ chunk: number }>(`SELECT chunk FROM batchinfer.chunks WHERE run_id = $1 AND status <> 'done' ORDER BY chunk`, [runId]);
  return rows.map((r) => r.chunk);
}

export async function loadChunk(client: pg.ClientBase, runId: number, chunk: number): Promise<ChunkRange> {
  const { rows } = await client.query<{ range: Record<string, unknown>; planned_rows: string | null }>(`SELECT range, planned_rows FROM batchinfer.chunks WHERE run_id = $1 AND chunk = $2`, [runId, chunk]);
  if (!rows[0]) throw new Error(`chunk ${chunk} of run ${runId} is not in batchinfer.chunks`);
  return { chunk, range: rows[0].range, plannedRows: rows[0].planned_rows === null ? undefined : Number(rows[0].planned_rows) };
}

export async function markChunkFailed(client: pg.ClientBase, runId: number, chunk: number, error: string): Promise<void> {
  await client.query(`UPDATE batchinfer.chunks SET status = 'failed', error = $3, finished_at = now() WHERE run_id = $1 AND chunk = $2 AND status <> 'done'`, [runId, chunk, error]);
}

/** JSON with object keys sorted and undefined dropped: equal for values jsonb stored and gave back. */
function canonicalJson(v: unknown, skipKey?: string): string {
  const canon = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(canon) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).filter(([k, y]) => y !== undefined && k !== skipKey).sort(([p], [q]) => (p < q ? -1 : 1)).map(([k, y]) => [k, canon(y)])) : x;
  return JSON.stringify(canon(v));
}

/** Specs compared as canonical JSON (jsonb reorders keys), ignoring how the spec path was spelled. */
function sameSpec(a: JobSpec, b: JobSpec): boolean {
  return canonicalJson(a, 'specLabel') === canonicalJson(b, 'specLabel');
}
