import { FinalError } from '../errors.js';
import type pg from 'pg';

/** Versioned, append-only: never edit a shipped migration, add the next one. */
const migrations: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'ledger: runs, chunks, rejects',
    sql: `
CREATE TABLE batchinfer.runs (
  run_id             bigserial PRIMARY KEY,
  job                text NOT NULL,
  logical_date       date NOT NULL,
  trigger            text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'backfill')),
  status             text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  rows_read          bigint NOT NULL DEFAULT 0,
  rows_scored        bigint NOT NULL DEFAULT 0,
  rows_rejected      bigint NOT NULL DEFAULT 0,
  model_path         text NOT NULL,
  model_version      text NOT NULL,
  model_sha256       text NOT NULL,
  result_table       text NOT NULL,
  source             text NOT NULL,
  source_fingerprint text NOT NULL,
  spec               jsonb NOT NULL,
  chunks_total       integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  started_at         timestamptz,
  finished_at        timestamptz,
  error              text
);
CREATE INDEX runs_job_date ON batchinfer.runs (job, logical_date, run_id DESC);
CREATE INDEX runs_table_date ON batchinfer.runs (result_table, logical_date, finished_at DESC) WHERE status = 'succeeded';

CREATE TABLE batchinfer.chunks (
  run_id        bigint NOT NULL REFERENCES batchinfer.runs ON DELETE CASCADE,
  chunk         integer NOT NULL,
  range         jsonb NOT NULL,
  planned_rows  bigint,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  rows_read     bigint NOT NULL DEFAULT 0,
  rows_scored   bigint NOT NULL DEFAULT 0,
  rows_rejected bigint NOT NULL DEFAULT 0,
  attempts      integer NOT NULL DEFAULT 0,
  worker        text,
  started_at    timestamptz,
  finished_at   timestamptz,
  error         text,
  PRIMARY KEY (run_id, chunk)
);

CREATE TABLE batchinfer.rejects (
  run_id  bigint NOT NULL,
  chunk   integer NOT NULL,
  line    bigint,
  key     text,
  reason  text NOT NULL,
  raw     text,
  FOREIGN KEY (run_id, chunk) REFERENCES batchinfer.chunks ON DELETE CASCADE
);
CREATE INDEX rejects_run ON batchinfer.rejects (run_id, chunk, line);
`,
  },
  {
    version: 2,
    name: 'runs.planned: chunks are scored while the run is still being planned',
    sql: `
ALTER TABLE batchinfer.runs ADD COLUMN planned boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN batchinfer.runs.planned IS 'false while the planner is still adding chunks (scoring starts before it ends); a run is only succeeded once planned';
`,
  },
  {
    version: 3,
    name: 'runs as a state machine: one active run per job and date, owner and heartbeat, cancel flag, source snapshot; sinks owned by one job',
    sql: `
-- Older binaries left runs 'running' forever when killed; keep only the newest active run per job and date.
UPDATE batchinfer.runs r SET status = 'failed', finished_at = coalesce(r.finished_at, now()),
       error = coalesce(r.error, 'abandoned: superseded by a newer run of the same job and date')
 WHERE r.status IN ('queued', 'running')
   AND EXISTS (SELECT 1 FROM batchinfer.runs n WHERE n.job = r.job AND n.logical_date = r.logical_date AND n.status IN ('queued', 'running') AND n.run_id > r.run_id);
CREATE UNIQUE INDEX runs_one_active ON batchinfer.runs (job, logical_date) WHERE status IN ('queued', 'running');
ALTER TABLE batchinfer.runs
  ADD COLUMN owner            text,
  ADD COLUMN heartbeat_at     timestamptz,
  ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
  ADD COLUMN source_snapshot  text,
  ADD COLUMN project_root     text;
COMMENT ON COLUMN batchinfer.runs.owner IS 'who drives the run now: "inline host pid" for an in-process run, "queue" for a queued one';
COMMENT ON COLUMN batchinfer.runs.heartbeat_at IS 'last sign of life of the owner; a running run whose heartbeat is older than its lease is stale (owner gone) and is resumed by the next run';
COMMENT ON COLUMN batchinfer.runs.cancel_requested IS 'set by batchinfer cancel: no new chunk starts, the run ends cancelled';
COMMENT ON COLUMN batchinfer.runs.project_root IS 'the folder the spec paths in runs.spec and model_path are relative to, on the machine that created the run; a worker elsewhere resolves them against its own root';
COMMENT ON COLUMN batchinfer.runs.source_snapshot IS 'pg_export_snapshot() of a Postgres source while its planner holds it: chunks read the rows the planner counted';
CREATE TABLE batchinfer.sinks (
  result_table text PRIMARY KEY,
  job          text NOT NULL,
  key_column   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE batchinfer.sinks IS 'result tables batchinfer created, and the one job that writes each';
INSERT INTO batchinfer.sinks (result_table, job, key_column)
SELECT DISTINCT ON (r.result_table) r.result_table, r.job, r.spec->>'key' FROM batchinfer.runs r ORDER BY r.result_table, r.run_id
ON CONFLICT DO NOTHING;
`,
  },
  {
    version: 4,
    name: 'scheduled runs: the tick (unique per job), the data interval; one active run per job and date among unscheduled runs; schedule counters',
    sql: `
ALTER TABLE batchinfer.runs
  ADD COLUMN scheduled_for       timestamptz,
  ADD COLUMN data_interval_start timestamptz,
  ADD COLUMN data_interval_end   timestamptz,
  ADD CONSTRAINT runs_scheduled_for_schedule CHECK (scheduled_for IS NULL OR trigger = 'schedule');
COMMENT ON COLUMN batchinfer.runs.scheduled_for IS 'the cron tick a scheduled run is for (null for manual and backfill runs); unique per job, so replicas of the scheduler create each tick''s run once';
COMMENT ON COLUMN batchinfer.runs.data_interval_start IS 'start of the span the run''s data covers ({{data_interval_start}}): the previous tick for a scheduled run';
COMMENT ON COLUMN batchinfer.runs.data_interval_end IS 'end of the span the run''s data covers ({{data_interval_end}}): its own tick for a scheduled run';
CREATE UNIQUE INDEX runs_one_per_tick ON batchinfer.runs (job, scheduled_for) WHERE scheduled_for IS NOT NULL;
-- A schedule that ticks several times per logical date (or overlap: queue) has several runs of a date
-- active at once, one per tick; manual and backfill runs keep one active run per job and date.
DROP INDEX batchinfer.runs_one_active;
CREATE UNIQUE INDEX runs_one_active ON batchinfer.runs (job, logical_date) WHERE status IN ('queued', 'running') AND scheduled_for IS NULL;
CREATE INDEX runs_job_active ON batchinfer.runs (job, run_id) WHERE status IN ('queued', 'running');
CREATE TABLE batchinfer.schedules (
  job              text PRIMARY KEY,
  overlap_skips    bigint NOT NULL DEFAULT 0,
  last_skipped_for timestamptz,
  last_skip_reason text,
  last_error_for   timestamptz,
  last_error       text,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE batchinfer.schedules IS 'per scheduled job: ticks skipped because the previous run was still active (overlap: skip), and the last tick that could not create its run';
`,
  },
  {
    version: 5,
    name: 'runs.pruned_at: when batchinfer prune deleted the run\'s rows',
    sql: `
ALTER TABLE batchinfer.runs ADD COLUMN pruned_at timestamptz;
COMMENT ON COLUMN batchinfer.runs.pruned_at IS 'when batchinfer prune deleted this run''s result rows (the run row stays as history; a pruned failed or cancelled run is planned again if resumed)';
`,
  },
  {
    version: 6,
    name: 'monitoring: per-chunk and per-run profiles of inputs and outputs, drift against a reference, accept',
    sql: `
-- Written in each chunk's own transaction (a retried chunk is counted once); merged per run at run end.
CREATE TABLE batchinfer.chunk_profiles (
  run_id      bigint NOT NULL,
  chunk       integer NOT NULL,
  role        text NOT NULL CHECK (role IN ('input', 'output')),
  column_name text NOT NULL,
  count       bigint NOT NULL,
  non_finite  bigint NOT NULL DEFAULT 0,
  min         float8,
  max         float8,
  mean        float8,
  m2          float8,
  zeros       bigint NOT NULL DEFAULT 0,
  bin_edges   float8[],
  bin_counts  bigint[],
  PRIMARY KEY (run_id, chunk, role, column_name),
  FOREIGN KEY (run_id, chunk) REFERENCES batchinfer.chunks ON DELETE CASCADE
);
COMMENT ON TABLE batchinfer.chunk_profiles IS 'per chunk and column: the profile of the values scored in that chunk (Welford mean/m2, histogram); merged into run_profiles when the run ends';

CREATE TABLE batchinfer.run_profiles (
  run_id            bigint NOT NULL REFERENCES batchinfer.runs ON DELETE CASCADE,
  role              text NOT NULL CHECK (role IN ('input', 'output')),
  column_name       text NOT NULL,
  count             bigint NOT NULL,
  non_finite        bigint NOT NULL DEFAULT 0,
  min               float8,
  max               float8,
  mean              float8,
  stddev            float8,
  zeros             bigint NOT NULL DEFAULT 0,
  bin_edges         float8[] NOT NULL,
  bin_counts        bigint[] NOT NULL,
  reference         text,
  reference_run_id  bigint,
  reference_counts  bigint[],
  reference_mean    float8,
  reference_min     float8,
  reference_max     float8,
  psi               float8,
  PRIMARY KEY (run_id, role, column_name)
);
COMMENT ON TABLE batchinfer.run_profiles IS 'one row per run and profiled column: count, min, max, mean, stddev, zeros, a histogram (bin_edges has one more entry than bin_counts; values outside the edges count in the first or last bin), and the reference it was compared with and the population stability index (psi)';

ALTER TABLE batchinfer.runs
  ADD COLUMN max_psi        float8,
  ADD COLUMN drift_status   text CHECK (drift_status IN ('ok', 'warn', 'fail')),
  ADD COLUMN warnings       text[],
  ADD COLUMN accepted_at    timestamptz,
  ADD COLUMN accepted_by    text;
COMMENT ON COLUMN batchinfer.runs.max_psi IS 'the largest population stability index over the run''s profiled columns against its reference (null: no reference)';
COMMENT ON COLUMN batchinfer.runs.drift_status IS 'ok, warn (above monitoring.drift_warn: the run still succeeds) or fail (above drift_fail: the publish guard failed the run until batchinfer accept)';
COMMENT ON COLUMN batchinfer.runs.accepted_at IS 'when batchinfer accept published a run the publish guard had failed';
`,
  },
  {
    version: 7,
    name: "runs: a job's succeeded runs, newest first (a run's drift reference, found without a look at every run)",
    sql: `
-- The profile plan's reference (monitoring.reference: previous) is the job's newest succeeded run with a
-- profile: read in this order it is found at the first run or so, where before every succeeded run of the
-- job was looked at, at every run's start (157 runs: 10.9 -> 0.8 ms; a year of hourly runs: 33 -> 3 ms).
CREATE INDEX runs_job_succeeded ON batchinfer.runs (job, finished_at DESC NULLS LAST, run_id DESC) WHERE status = 'succeeded';
`,
  },
];

const latest = Math.max(...migrations.map((m) => m.version));

/** Apply missing migrations under an advisory lock, so concurrent processes migrate once. */
export async function migrate(client: pg.ClientBase): Promise<void> {
  // Up to date (every run but the first): one read, no lock.
  const now = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM batchinfer.schema_migrations').catch(() => undefined);
  const v = now?.rows[0].v;
  if (v === latest) return;
  if (v != null && v > latest) throw newerSchema(v);
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('batchinfer.migrate'))`);
    await client.query('CREATE SCHEMA IF NOT EXISTS batchinfer');
    await client.query(`CREATE TABLE IF NOT EXISTS batchinfer.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM batchinfer.schema_migrations');
    const current = rows[0].v ?? 0;
    if (current > latest) throw newerSchema(current);
    for (const m of migrations.filter((x) => x.version > current)) {
      await client.query(m.sql);
      await client.query('INSERT INTO batchinfer.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A worker older than the ledger would write what the newer schema does not expect (a rolling deploy mixing versions). */
function newerSchema(version: number): FinalError {
  return new FinalError(`the ledger (schema batchinfer) is at version ${version}, newer than this batchinfer knows (version ${latest}); upgrade batchinfer here (every worker sharing a ledger must run the same or a newer version)`);
}
