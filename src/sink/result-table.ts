import type pg from 'pg';
import { defaults } from '../defaults.js';
import { UsageError, sqlState } from '../errors.js';
import { latestViewSuffix, provenanceColumns, type JobSpec } from '../spec/job-spec.js';
import type { OutputColumn } from '../model/signature.js';
import { displayIdent, displayName, qualifiedName, quoteIdent } from '../sql/identifiers.js';

export { quoteIdent, qualifiedName as qualified };

export interface ResultColumn {
  name: string;
  sqlType: string;
}

/**
 * Columns of the result table in COPY order: key, passthrough, outputs, then provenance. A passthrough
 * column's type is the source's (Source.passthroughTypes); text when not given.
 */
export function resultColumns(spec: JobSpec, outputs: OutputColumn[], passthroughTypes?: readonly string[]): ResultColumn[] {
  return [
    { name: spec.key, sqlType: spec.keyType },
    ...spec.passthrough.map((name, p) => ({ name, sqlType: passthroughTypes?.[p] ?? 'text' })),
    ...outputs.map((o) => ({ name: o.column, sqlType: o.sqlType })),
    { name: 'run_id', sqlType: 'bigint' },
    { name: 'logical_date', sqlType: 'date' },
    { name: 'model_version', sqlType: 'text' },
    { name: 'scored_at', sqlType: 'timestamp with time zone' },
  ];
}

/**
 * The default of scored_at in tables batchinfer creates: a chunk's rows leave it out of the COPY. Tables made
 * before it have no default and keep receiving it with every row (sinkColumns tells which: any default).
 */
const SCORED_AT_DEFAULT = 'now()';

/** Marks the `_latest` view as batchinfer's current definition; a new definition gets a new version. */
const VIEW_COMMENT = 'batchinfer latest-run view v1';

/** What the catalog and batchinfer.sinks say about a sink, in one read. */
interface SinkState {
  /** batchinfer.sinks: the job that owns the table (null: not batchinfer's) */
  job: string | null;
  key_column: string | null;
  created: string | null;
  /** relkind of the table and of its `_latest` name (null: none) */
  table_kind: string | null;
  view_kind: string | null;
  view_comment: string | null;
  schema_exists: boolean;
  /** column name -> SQL type (format_type) */
  columns: Map<string, string>;
}

const readState = (client: pg.ClientBase, names: { table: string; view: string; sink: string; schema: string }): Promise<SinkState> =>
  client
    .query<Omit<SinkState, 'columns'> & { columns: Record<string, string> | null }>(
      `SELECT s.job, s.key_column, to_char(s.created_at, 'YYYY-MM-DD') AS created,
              (SELECT relkind FROM pg_class WHERE oid = to_regclass($1)) AS table_kind,
              (SELECT relkind FROM pg_class WHERE oid = to_regclass($2)) AS view_kind,
              obj_description(to_regclass($2), 'pg_class') AS view_comment,
              EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $4) AS schema_exists,
              (SELECT json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod)) FROM pg_attribute a
                WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped) AS columns
         FROM (SELECT 1) one LEFT JOIN batchinfer.sinks s ON s.result_table = $3`,
      [names.table, names.view, names.sink, names.schema],
    )
    .then(({ rows: [r] }) => ({ ...r, columns: new Map(Object.entries(r.columns ?? {})) })); // a Map: a column may be named "constructor"

/**
 * Make sure the job's result table (unique on run_id + key) and its `<table>_latest` view are in
 * place. A result table belongs to the one job that had batchinfer create it (batchinfer.sinks,
 * written in the CREATE TABLE's transaction): a table of another job, or one batchinfer did not
 * create, is refused before anything changes. An own table gains the columns a newer spec adds; a
 * column whose type changed is a spec error. When all is in place (every run but the first) this
 * is one read: no lock, and the view is not replaced (that would wait for analysts' queries on it).
 * DDL waits at most defaults.ddlLockTimeoutMs for analysts' open transactions, then fails naming them.
 */
export async function ensureResultTable(client: pg.ClientBase, spec: JobSpec, columns: ResultColumn[]): Promise<void> {
  const { schema, table } = spec.sink;
  const names = { table: qualifiedName(schema, table), view: qualifiedName(schema, table + latestViewSuffix), sink: `${schema}.${table}`, schema };
  const now = await readState(client, names);
  const inPlace = now.job === spec.name && now.key_column === spec.key && now.table_kind !== null && columns.every((c) => now.columns.get(c.name) === c.sqlType);
  if (inPlace && now.view_comment === VIEW_COMMENT) return;

  let step = ''; // what the DDL does, for a lock-timeout message
  await client.query('BEGIN');
  try {
    // One batchinfer process at a time changes a sink (it waits at most its own lock budget for others' locks).
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`batchinfer.sink:${names.sink}`]);
    const deadline = Date.now() + defaults.ddlLockTimeoutMs;
    const s = await readState(client, names);
    const foreign = foreignProblem(spec, s);
    if (foreign) throw new UsageError(foreign);
    const ddl: string[] = [];
    let replaceView = s.view_comment !== VIEW_COMMENT;
    if (s.table_kind === null) {
      step = `create ${displayName(schema, table)}`;
      if (!s.schema_exists) ddl.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      const notNull = new Set<string>([spec.key, ...provenanceColumns]);
      // A text key compares bytewise (COLLATE "C"): equality is the same under any deterministic
      // collation, the order is UTF-8's (C.UTF-8's too), and the (run_id, key) primary key costs the
      // server less (memcmp instead of strcoll): 10-20% of its CPU per row (docs/performance.md).
      const collate = (c: { name: string; sqlType: string }) => (c.name === spec.key && c.sqlType === 'text' ? ' COLLATE "C"' : '');
      // scored_at is the chunk's transaction start (now()), filled by the server: not sent with every row
      // (its binary input checks each value's range through a calendar conversion, ~3.6% of the server's CPU).
      const byDefault = (c: { name: string }) => (c.name === 'scored_at' ? ` DEFAULT ${SCORED_AT_DEFAULT}` : '');
      ddl.push(
        `CREATE TABLE ${names.table} (\n  ${columns.map((c) => `${quoteIdent(c.name)} ${c.sqlType}${collate(c)}${notNull.has(c.name) ? ' NOT NULL' : ''}${byDefault(c)}`).join(',\n  ')},\n  PRIMARY KEY (run_id, ${quoteIdent(spec.key)})\n)`,
        `COMMENT ON TABLE ${names.table} IS ${literal(`Predictions of batchinfer job ${spec.name}; one row per (run_id, ${spec.key}). ${table}${latestViewSuffix} shows the newest succeeded run per logical_date.`)}`,
        // Owned from the moment it exists; a row left by a table since dropped ("drop it first") is taken over.
        `INSERT INTO batchinfer.sinks (result_table, job, key_column) VALUES (${literal(names.sink)}, ${literal(spec.name)}, ${literal(spec.key)})
         ON CONFLICT (result_table) DO UPDATE SET job = excluded.job, key_column = excluded.key_column, created_at = now()`,
      );
      replaceView = true;
    } else {
      const { problems, missing } = columnProblems(spec, s, columns);
      if (problems.length) throw new UsageError(problems.join('\n'));
      if (missing.length) {
        step = `add column${missing.length > 1 ? 's' : ''} ${missing.map((c) => c.name).join(', ')} to ${displayName(schema, table)}`;
        // One statement: the table's exclusive lock is taken once.
        ddl.push(`ALTER TABLE ${names.table} ${missing.map((c) => `ADD COLUMN ${quoteIdent(c.name)} ${c.sqlType}`).join(', ')}`);
        replaceView = true; // the view's t.* was expanded when it was made: new columns need a new definition
      }
    }
    if (replaceView) {
      step ||= `replace the view ${displayName(schema, table + latestViewSuffix)}`;
      ddl.push(
        `CREATE OR REPLACE VIEW ${names.view} AS
SELECT t.* FROM ${names.table} t
WHERE t.run_id IN (
  SELECT DISTINCT ON (r.logical_date) r.run_id FROM batchinfer.runs r
  WHERE r.result_table = ${literal(names.sink)} AND r.status = 'succeeded'
  ORDER BY r.logical_date, r.finished_at DESC, r.run_id DESC)`,
        `COMMENT ON VIEW ${names.view} IS ${literal(VIEW_COMMENT)}`,
      );
    }
    await inShortLockAttempts(client, deadline, ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (sqlState(err) === '55P03') throw await lockTimeoutError(client, spec, names, step, err);
    throw err;
  }
}

/** Each attempt waits at most this long for its locks: every new reader of the table queues behind a waiting ALTER meanwhile. */
const lockAttemptMs = 200;
/** Pause between attempts, in which the readers that queued behind the last one go ahead. */
const lockRetryPauseMs = 300;

/**
 * Run the DDL statements as one unit that waits for its locks in short attempts until `deadline`.
 * A failed attempt rolls back to its savepoint, which also releases the locks it got: holding the
 * table while waiting for the view would block its readers, or deadlock with one that read the view
 * first (a view's readers lock the view, then the table).
 */
async function inShortLockAttempts(client: pg.ClientBase, deadline: number, statements: string[]): Promise<void> {
  if (statements.length === 0) return;
  for (;;) {
    await client.query('SAVEPOINT batchinfer_ddl');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.min(lockAttemptMs, deadline - Date.now()))}`);
    try {
      for (const sql of statements) await client.query(sql);
      await client.query('RELEASE SAVEPOINT batchinfer_ddl');
      return;
    } catch (err) {
      // the whole budget is waited (the message says so), the last pause and attempt cut to what is left
      if (sqlState(err) !== '55P03' || Date.now() >= deadline) throw err;
      await client.query('ROLLBACK TO SAVEPOINT batchinfer_ddl');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(lockRetryPauseMs, deadline - Date.now()))));
    }
  }
}

/** A sink this job may not write: another job's table, a table batchinfer did not create, a `_latest` name taken. */
function foreignProblem(spec: JobSpec, s: SinkState): string | undefined {
  const { schema, table } = spec.sink;
  const at = `${spec.specLabel}: sink.table: ${displayName(schema, table)}`;
  const view = displayName(schema, table + latestViewSuffix);
  if (s.table_kind !== null) {
    if (s.job === null) return `${at} already exists and was not created by batchinfer (it is not in batchinfer.sinks); batchinfer writes only to tables it creates: pick another table`;
    if (s.job !== spec.name) return `${at} belongs to job "${s.job}" (created ${s.created}); pick another table, or drop it first (or, if this is that job under a new file name, set name: ${s.job})`;
    if (s.key_column !== spec.key) return `${at} was created for key "${s.key_column}" (${s.created}) but this spec's key is "${spec.key}"; write to a new table, or drop it first`;
    if (s.view_kind !== null && s.view_kind !== 'v') return `${at}: its view name ${view} is taken by something that is not a view; rename or drop ${view}`;
  } else if (s.view_kind !== null) {
    return `${at}: its view name ${view} is already taken by a relation batchinfer did not create; pick another table, or rename or drop ${view}`;
  }
  return undefined;
}

/** An existing table's columns against what the job writes: a type that differs is a problem; a column it lacks is one under on_schema_change: fail. */
function columnProblems(spec: JobSpec, s: SinkState, columns: ResultColumn[]): { problems: string[]; missing: ResultColumn[] } {
  const { schema, table } = spec.sink;
  const problems: string[] = [];
  const missing: ResultColumn[] = [];
  for (const c of columns) {
    const t = s.columns.get(c.name);
    if (t === undefined) missing.push(c);
    else if (t !== c.sqlType) {
      // A passthrough that was text before types were kept: it may stay text.
      const keepText =
        t === 'text' && spec.passthrough.includes(c.name)
          ? spec.source.kind === 'postgres'
            ? `, or keep it text: cast it in the query (${displayIdent(c.name)}::text AS ${displayIdent(c.name)})`
            : ', or keep it text: list it without a type'
          : '';
      problems.push(`${spec.specLabel}: sink.table: column "${c.name}" of ${displayName(schema, table)} is ${t} but this job writes ${c.sqlType}; write to a new table or migrate the column${keepText}`);
    }
  }
  if (missing.length && (spec.sink.onSchemaChange ?? 'fail') === 'fail')
    problems.push(
      `${spec.specLabel}: sink.table: ${displayName(schema, table)} has no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c.name}"`).join(', ')}, which this job now writes (a renamed output or a new passthrough?); its earlier rows would show NULL there. Set sink.on_schema_change: append_new_columns to add ${missing.length > 1 ? 'them' : 'it'}, or write to a new table`,
    );
  return { problems, missing };
}

/**
 * What a worker checks of the existing table before it writes: the columns whose type differs from what a
 * chunk is about to write, one line each (a run planned before its source's passthrough types were kept,
 * resumed after: binary COPY would store another type's bytes in them, or fail obscurely), and whether the
 * server fills scored_at (SCORED_AT_DEFAULT).
 */
export async function sinkColumns(client: pg.ClientBase, spec: JobSpec, columns: ResultColumn[]): Promise<{ mismatched: string[]; scoredAtByServer: boolean }> {
  const { schema, table } = spec.sink;
  // atthasdef, not the default's text: pg_get_expr would lock the table (a worker must not wait here for
  // analysts' DDL; its COPY waits, with a lock timeout message of its own)
  const { rows } = await client.query<{ name: string; type: string; has_default: boolean }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, atthasdef AS has_default
       FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [qualifiedName(schema, table)],
  );
  const have = new Map(rows.map((r) => [r.name, r.type]));
  return {
    mismatched: columns
      .filter((c) => have.has(c.name) && have.get(c.name) !== c.sqlType)
      .map((c) => `column "${c.name}" of ${displayName(schema, table)} is ${have.get(c.name)} but this run writes ${c.sqlType}`),
    scoredAtByServer: rows.some((r) => r.name === 'scored_at' && r.has_default),
  };
}

/**
 * What ensureResultTable would refuse, without changing anything (validate): every problem with an
 * existing result table, and the columns a run would add. A table that does not exist yet is no problem.
 */
export async function checkResultTable(client: pg.ClientBase, spec: JobSpec, columns: ResultColumn[]): Promise<{ exists: boolean; problems: string[]; adds: string[] }> {
  const { schema, table } = spec.sink;
  const names = { table: qualifiedName(schema, table), view: qualifiedName(schema, table + latestViewSuffix), sink: `${schema}.${table}`, schema };
  const { rows } = await client.query<{ table: boolean; ledger: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS table, to_regclass('batchinfer.sinks') IS NOT NULL AS ledger`, [names.table]);
  if (!rows[0].table) return { exists: false, problems: [], adds: [] };
  if (!rows[0].ledger)
    return { exists: true, problems: [`${spec.specLabel}: sink.table: ${displayName(schema, table)} already exists and was not created by batchinfer (this database has no batchinfer ledger); pick another table`], adds: [] };
  const s = await readState(client, names);
  const foreign = foreignProblem(spec, s);
  if (foreign) return { exists: true, problems: [foreign], adds: [] };
  const { problems, missing } = columnProblems(spec, s, columns);
  return { exists: true, problems, adds: problems.length ? [] : missing.map((c) => c.name) };
}

/** Who holds the locks the DDL waited for, from the catalog (after the wait: pg_blocking_pids of a session no longer waiting is empty). */
async function lockTimeoutError(client: pg.ClientBase, spec: JobSpec, names: { table: string; view: string }, step: string, cause: unknown): Promise<Error> {
  const { rows } = await client
    .query<{ pid: number; usename: string | null; application_name: string | null; state: string | null; query_start: Date | null; query: string | null }>(
      `SELECT a.pid, a.usename, a.application_name, a.state, a.query_start, left(a.query, 60) AS query
         FROM pg_stat_activity a
        WHERE a.pid IN (SELECT l.pid FROM pg_locks l
                         WHERE l.locktype = 'relation' AND l.relation IN (to_regclass($1), to_regclass($2))
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid())
        ORDER BY a.query_start NULLS LAST, a.pid`,
      [names.table, names.view],
    )
    .catch(() => ({ rows: [] }));
  const who = rows.length
    ? `held by ${rows
        .map((r) => `pid ${r.pid} (user ${r.usename ?? '?'}, application "${r.application_name ?? ''}", ${r.state ?? 'unknown state'}, query started ${r.query_start?.toISOString() ?? '?'}: "${(r.query ?? '').replace(/\s+/g, ' ')}")`)
        .join(', ')}`
    : 'held by a session that has since ended';
  const pids = rows.map((r) => r.pid).join(', ');
  const e = new Error(
    `${spec.specLabel}: sink.table: could not ${step || `change ${displayName(spec.sink.schema, spec.sink.table)}`} within ${defaults.ddlLockTimeoutMs} ms: the lock is ${who}; ` +
      `ask them to end their transaction${pids ? ` (or SELECT pg_terminate_backend(pid) for ${pids})` : ''}, then run again`,
    { cause },
  );
  (e as { code?: string }).code = '55P03'; // still a lock timeout: classed transient (a later retry may succeed)
  return e;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
