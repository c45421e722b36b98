import type pg from 'pg';
import { UsageError } from '../errors.js';
import type { JobSpec } from '../spec/job-spec.js';
import type { OutputColumn } from '../model/signature.js';

export interface ResultColumn {
  name: string;
  sqlType: string;
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
export const qualified = (schema: string, table: string) => `${ident(schema)}.${ident(table)}`;
export const quoteIdent = ident;

/** Columns of the result table in COPY order: key, passthrough, outputs, then provenance. */
export function resultColumns(spec: JobSpec, outputs: OutputColumn[]): ResultColumn[] {
  return [
    { name: spec.key, sqlType: spec.keyType },
    ...spec.passthrough.map((name) => ({ name, sqlType: 'text' })),
    ...outputs.map((o) => ({ name: o.column, sqlType: o.sqlType })),
    { name: 'run_id', sqlType: 'bigint' },
    { name: 'logical_date', sqlType: 'date' },
    { name: 'model_version', sqlType: 'text' },
    { name: 'scored_at', sqlType: 'timestamp with time zone' },
  ];
}

/** Marks the `_latest` view as batchinfer's current definition; a new definition gets a new version. */
const VIEW_COMMENT = 'batchinfer latest-run view v1';

/**
 * Create the schema, table (unique on run_id + key) and the `<table>_latest` view when missing. An
 * existing table gains columns a newer spec adds; a column whose type changed is a spec error.
 * When all is in place (every run but the first) this is one read: no lock, and the view is not
 * replaced (that would wait for analysts' queries on it).
 */
export async function ensureResultTable(client: pg.ClientBase, spec: JobSpec, columns: ResultColumn[]): Promise<void> {
  const { schema, table } = spec.sink;
  const name = qualified(schema, table);
  const sinkName = `${schema}.${table}`;
  const view = qualified(schema, `${table}_latest`);
  const now = await client.query<{ name: string; type: string; view_comment: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, obj_description(to_regclass($2), 'pg_class') AS view_comment
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [name, view],
  );
  const have = new Map(now.rows.map((r) => [r.name, r.type]));
  if (now.rows[0]?.view_comment === VIEW_COMMENT && columns.every((c) => have.get(c.name) === c.sqlType)) return;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`batchinfer.sink:${sinkName}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    const { rows } = await client.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [schema, table],
    );
    if (rows.length === 0) {
      await client.query(
        `CREATE TABLE ${name} (\n  ${columns.map((c) => `${ident(c.name)} ${c.sqlType}${c.name === spec.key || ['run_id', 'logical_date', 'model_version', 'scored_at'].includes(c.name) ? ' NOT NULL' : ''}`).join(',\n  ')},\n  PRIMARY KEY (run_id, ${ident(spec.key)})\n)`,
      );
      await client.query(`COMMENT ON TABLE ${name} IS ${literal(`Predictions of batchinfer job ${spec.name}; one row per (run_id, ${spec.key}). ${table}_latest shows the newest succeeded run per logical_date.`)}`);
    } else {
      const have = new Map(rows.map((r) => [r.column_name, r.data_type]));
      const problems: string[] = [];
      for (const c of columns) {
        const t = have.get(c.name);
        if (t === undefined) await client.query(`ALTER TABLE ${name} ADD COLUMN ${ident(c.name)} ${c.sqlType}`);
        else if (t !== c.sqlType)
          problems.push(`${spec.specLabel}: sink.table: column "${c.name}" of ${sinkName} is ${t} but this job writes ${c.sqlType}; write to a new table or migrate the column`);
      }
      if (problems.length) throw new UsageError(problems.join('\n'));
    }
    await client.query(
      `CREATE OR REPLACE VIEW ${view} AS
SELECT t.* FROM ${name} t
WHERE t.run_id IN (
  SELECT DISTINCT ON (r.logical_date) r.run_id FROM batchinfer.runs r
  WHERE r.result_table = ${literal(sinkName)} AND r.status = 'succeeded'
  ORDER BY r.logical_date, r.finished_at DESC, r.run_id DESC)`,
    );
    await client.query(`COMMENT ON VIEW ${view} IS ${literal(VIEW_COMMENT)}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
