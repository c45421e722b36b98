import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('validate-sql');

describe('validate and the SQL it sends', () => {
  it("a quoted '{{ds}}' (the Airflow habit) is refused with what to write; --show-sql prints the query as sent and its bound values", ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.f AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c, DATE '2026-06-01' AS day FROM generate_series(1, 10) i`);
    const quoted = writeSpec(ws.tmp.dir, 'quoted.yaml', typedSpec({ name: 'quoted', source: { postgres: { query: "SELECT id, a, b, c FROM public.f WHERE day = '{{ds}}'" } }, key_type: 'bigint', sink: { table: 'scores.q' } }));
    const r = await runCli(['validate', quoted], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`quoted.yaml: source.postgres.query: '{{ds}}' is quoted; template variables are bound as typed parameters, never pasted into the text: write {{ds}} without quotes (e.g. WHERE day = {{ds}})`);
    const good = writeSpec(ws.tmp.dir, 'good.yaml', typedSpec({ name: 'good', source: { postgres: { query: 'SELECT id, a, b, c FROM public.f WHERE day = {{ds}}' } }, key_type: 'bigint', sink: { table: 'scores.g' } }));
    const s = await runCli(['validate', good, '--show-sql', '--date', '2026-06-01'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(`  SQL as sent:\n    SELECT id, a, b, c FROM public.f WHERE day = current_setting('batchinfer.ds')::date`);
    expect(s.stdout).toContain('  bound: {{ds}} = 2026-06-01');
  }));
});
