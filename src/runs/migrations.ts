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
];

const latest = Math.max(...migrations.map((m) => m.version));

/** Apply missing migrations under an advisory lock, so concurrent processes migrate once. */
export async function migrate(client: pg.ClientBase): Promise<void> {
  // Up to date (every run but the first): one read, no lock.
  const now = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM batchinfer.schema_migrations').catch(() => undefined);
  if (now?.rows[0].v === latest) return;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('batchinfer.migrate'))`);
    await client.query('CREATE SCHEMA IF NOT EXISTS batchinfer');
    await client.query(`CREATE TABLE IF NOT EXISTS batchinfer.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM batchinfer.schema_migrations');
    const current = rows[0].v ?? 0;
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
