import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { ensureResultTable, resultColumns } from '../../src/sink/result-table.js';
import { migrate } from '../../src/runs/migrations.js';
import { displayIdent } from '../../src/sql/identifiers.js';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// Names as PostgreSQL sees them: case, keywords, and its 63-byte limit.
const ws = testWorkspace('sink-names');
beforeAll(async () => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n2,4,5,6\n');
});

async function run(file: string, spec: Record<string, unknown>, date = '2026-11-22') {
  writeSpec(ws.tmp.dir, file, spec);
  return runCli(['run', file, '--threads', '0', '--date', date], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 60_000 });
}

describe('names in result tables', () => {
  it('prints a results query that works for a mixed-case sink (T.Upper)', ws.track(async () => {
    const r = await run('upper.yaml', typedSpec({ name: 'upper', sink: { table: 'T.Upper' } }));
    expect(r.code, r.stderr).toBe(0);
    const m = /results: (SELECT \* FROM "T"\."Upper" WHERE run_id = (\d+));  \(newest per date: ("T"\."Upper_latest")\)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(await query(ws.db.url, m![1])).toHaveLength(2);
    expect(await query(ws.db.url, `SELECT * FROM ${m![3]}`)).toHaveLength(2);
  }));

  it('a 63-byte column name and a 56-byte table name work on every run; one byte more is refused up front', ws.track(async () => {
    const col = 'c'.repeat(63);
    const table = 't'.repeat(56);
    const spec = typedSpec({ name: 'long', outputs: { [col]: { output: 'sum' } }, sink: { table: `scores.${table}` } });
    for (const date of ['2026-11-22', '2026-11-23']) {
      const r = await run('long.yaml', spec, date);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await query(ws.db.url, `SELECT count(DISTINCT logical_date)::int AS n FROM scores.${table}_latest`)).toEqual([{ n: 2 }]);

    const longer = await run('longer.yaml', typedSpec({ name: 'longer', outputs: { [col + 'x']: { output: 'sum' } }, sink: { table: `scores.${table}x` } }));
    expect(longer.code).toBe(2);
    expect(longer.stderr.trim().split('\n')).toEqual([
      `batchinfer: longer.yaml: outputs.${col}x: "${'c'.repeat(20)}…" is 64 bytes; PostgreSQL keeps only the first 63 bytes of a name: shorten it`,
      `longer.yaml: sink.table: table name is 57 bytes; its view ${'t'.repeat(12)}…_latest must fit PostgreSQL's 63-byte names: shorten it to at most 56 bytes`,
    ]);
    expect(await query(ws.db.url, `SELECT 1 FROM pg_class WHERE relname LIKE 'ccccc%' AND relkind = 'r'`)).toEqual([]);
  }));

  it('adds a column named like an object property ("constructor") to an existing table', ws.track(async () => {
    const base = typedSpec({ name: 'props', sink: { table: 'scores.props', on_schema_change: 'append_new_columns' } });
    expect((await run('props.yaml', base)).code).toBe(0);
    const r = await run('props.yaml', { ...base, outputs: { s: { output: 'sum' }, constructor: { output: 'dbl' } } });
    expect(r.code, r.stderr).toBe(0);
    expect(await query(ws.db.url, `SELECT count("constructor")::int AS n FROM scores.props_latest`)).toEqual([{ n: 2 }]);
  }));

  it('shows names bare exactly when PostgreSQL would (quote_ident)', ws.track(async () => {
    const words = (await query<{ word: string }>(ws.db.url, `SELECT word FROM pg_get_keywords()`)).map((r) => r.word);
    const names = [...words, 'scores', 'wine', 'Upper', 'T', 'a_b1', '_x', '1a', 'a-b', 'a"b', 'é'];
    const quoted = await query<{ name: string; q: string }>(ws.db.url, `SELECT n AS name, quote_ident(n) AS q FROM unnest($1::text[]) n`, [names]);
    const differ = quoted.filter((r) => displayIdent(r.name) !== r.q);
    expect(differ).toEqual([]);
  }));

  it('the check is one catalog read when all is in place, and takes no lock on the table or the view', ws.track(async () => {
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'fast.yaml', typedSpec({ name: 'fast', sink: { table: 'scores.fast' } })), ws.tmp.dir);
    const columns = resultColumns(spec, [{ column: 's', output: 'sum', type: 'float32', sqlType: 'real' }]);
    const client = new pg.Client({ connectionString: ws.db.url });
    const holder = new pg.Client({ connectionString: ws.db.url });
    await client.connect();
    await holder.connect();
    try {
      await migrate(client);
      await ensureResultTable(client, spec, columns);
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE scores.fast, scores.fast_latest IN ACCESS EXCLUSIVE MODE');
      const sent: string[] = [];
      const counting = new Proxy(client, {
        get: (target, prop) => (prop === 'query' ? (sql: string, ...rest: unknown[]) => (sent.push(sql), (target.query as (...a: unknown[]) => unknown).call(target, sql, ...rest)) : Reflect.get(target, prop)),
      });
      await client.query('SET statement_timeout = 3000');
      await ensureResultTable(counting, spec, columns);
      expect(sent).toHaveLength(1);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await client.end();
      await holder.end();
    }
  }));
});

describe('schema changes are explicit', () => {
  it('a renamed output fails by default, naming the new column and the option; append_new_columns adds it', async () => {
    const first = await run('evolve.yaml', typedSpec({ name: 'evolve', outputs: { s: { output: 'sum' } }, sink: { table: 'scores.evolve' } }));
    expect(first.code, first.stderr).toBe(0);
    const renamed = await run('evolve.yaml', typedSpec({ name: 'evolve', outputs: { total: { output: 'sum' } }, sink: { table: 'scores.evolve' } }));
    expect(renamed.code).toBe(2);
    expect(renamed.stderr).toMatch(/evolve\.yaml: sink\.table: scores\.evolve has no column "total", which this job now writes .*Set sink\.on_schema_change: append_new_columns/);
    const cols = await query<{ column_name: string }>(ws.db.url, `SELECT column_name FROM information_schema.columns WHERE table_schema = 'scores' AND table_name = 'evolve'`);
    expect(cols.map((c) => c.column_name)).not.toContain('total');
    const appended = await run('evolve.yaml', typedSpec({ name: 'evolve', outputs: { total: { output: 'sum' } }, sink: { table: 'scores.evolve', on_schema_change: 'append_new_columns' } }));
    expect(appended.code, appended.stderr).toBe(0);
  });
});

describe('feature columns named as people name them', () => {
  it('a CSV feature column that is not an SQL identifier ("sepal length (cm)") is fine: features never become SQL names', async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'iris.csv'), 'id,sepal length (cm),Sepal-Width,"petal, length"\n1,1,2,3\n2,4,5,6\n');
    const r = await run('iris.yaml', typedSpec({ name: 'iris', source: { csv: { path: 'iris.csv' } }, inputs: { x: ['sepal length (cm)', 'Sepal-Width', 'petal, length'] }, sink: { table: 'scores.iris' } }));
    expect(r.code, r.stderr).toBe(0);
    const rows = await query<{ id: string; s: number }>(ws.db.url, `SELECT id, s FROM scores.iris ORDER BY id`);
    expect(rows).toEqual([{ id: '1', s: 6 }, { id: '2', s: 15 }]);
  });
});
