import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// A result table belongs to the one job batchinfer created it for; anything else is refused before a change.
const ws = testWorkspace('sink-ownership');
beforeAll(async () => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,k,a,b,c\n1,x1,1,2,3\n2,x2,4,5,6\n');
});

const date = '2026-11-20';
async function run(file: string, spec: Record<string, unknown>) {
  writeSpec(ws.tmp.dir, file, spec);
  return runCli(['run', file, '--threads', '0', '--date', date], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 60_000 });
}

const columnsOf = async (schema: string, table: string) =>
  (await query<{ c: string }>(ws.db.url, `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [schema, table])).map((r) => r.c);
const exists = async (name: string) => (await query<{ r: string | null }>(ws.db.url, `SELECT to_regclass($1)::text AS r`, [name]))[0].r !== null;
const runCount = async () => (await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs`).catch(() => [{ n: 0 }]))[0].n;

/** A refusal: exit 2, one line naming the spec file and sink.table, no stack, nothing on stdout. */
function refused(r: Awaited<ReturnType<typeof run>>, file: string): string {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(2);
  expect(r.stderr).not.toMatch(stackFrame);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^batchinfer: ${file.replace('.', '\\.')}: sink\\.table: `));
  expect(r.stdout).toBe('');
  return lines[0];
}

describe('result tables belong to one job', () => {
  it("refuses a user's own table: no columns added, no view made, no run recorded", ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.customers (id int PRIMARY KEY, name text); INSERT INTO public.customers VALUES (1, 'ann')`);
    const line = refused(await run('cust.yaml', typedSpec({ name: 'cust', sink: { table: 'public.customers' } })), 'cust.yaml');
    expect(line).toMatch(/public\.customers already exists and was not created by batchinfer .*pick another table/);
    expect(await columnsOf('public', 'customers')).toEqual(['id', 'name']);
    expect(await exists('public.customers_latest')).toBe(false);
    expect(await runCount()).toBe(0);
  }));

  it("refuses the ledger's own tables (spec check, before connecting)", ws.track(async () => {
    // the ledger exists (the previous case migrated it); its runs table must not change
    const before = await columnsOf('batchinfer', 'runs');
    const line = refused(await run('ledger.yaml', typedSpec({ name: 'ledger', sink: { table: 'batchinfer.runs' } })), 'ledger.yaml');
    expect(line).toMatch(/schema "batchinfer" holds batchinfer's own ledger; write results to another schema/);
    expect(await columnsOf('batchinfer', 'runs')).toEqual(before);
    expect(await exists('batchinfer.runs_latest')).toBe(false);
  }));

  it('records the owner when it creates a table, in the same transaction', ws.track(async () => {
    const r = await run('a.yaml', typedSpec({ name: 'a', sink: { table: 'scores.shared' } }));
    expect(r.code, r.stderr).toBe(0);
    const sinks = await query(ws.db.url, `SELECT result_table, job, key_column, created_at::date = current_date AS today FROM batchinfer.sinks`);
    expect(sinks).toEqual([{ result_table: 'scores.shared', job: 'a', key_column: 'id', today: true }]);
  }));

  it('a table is never left without its owner: when recording the owner fails, the table is not created', ws.track(async () => {
    await query(ws.db.url, `CREATE FUNCTION pg_temp_fail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'sinks refused by test'; END$$;
      CREATE TRIGGER refuse BEFORE INSERT ON batchinfer.sinks FOR EACH ROW EXECUTE FUNCTION pg_temp_fail()`);
    try {
      const r = await run('atomic.yaml', typedSpec({ name: 'atomic', sink: { table: 'scores.atomic' } }));
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/sinks refused by test/);
    } finally {
      await query(ws.db.url, `DROP TRIGGER refuse ON batchinfer.sinks; DROP FUNCTION pg_temp_fail()`);
    }
    expect(await exists('scores.atomic')).toBe(false);
    expect(await exists('scores.atomic_latest')).toBe(false);
  }));

  it("refuses another job's table, with a different key or different outputs; the owner's rows stay in _latest", ws.track(async () => {
    const before = await columnsOf('scores', 'shared');
    const latest = async () => query<{ id: string; run_id: string }>(ws.db.url, `SELECT id, run_id FROM scores.shared_latest ORDER BY id`);
    const shown = await latest();
    expect(shown).toHaveLength(2);
    const created = (await query<{ d: string }>(ws.db.url, `SELECT to_char(created_at, 'YYYY-MM-DD') AS d FROM batchinfer.sinks`))[0].d;

    const otherKey = refused(await run('b.yaml', typedSpec({ name: 'b', key: 'k', sink: { table: 'scores.shared' } })), 'b.yaml');
    expect(otherKey).toBe(`batchinfer: b.yaml: sink.table: scores.shared belongs to job "a" (created ${created}); pick another table, or drop it first (or, if this is that job under a new file name, set name: a)`);
    const otherOutputs = refused(await run('b.yaml', typedSpec({ name: 'b', outputs: { d: { output: 'dbl' } }, sink: { table: 'scores.shared' } })), 'b.yaml');
    expect(otherOutputs).toMatch(/belongs to job "a"/);
    expect(await columnsOf('scores', 'shared')).toEqual(before);
    expect(await latest()).toEqual(shown);
    expect(await runCount()).toBe(1);
  }));

  it('refuses its own job when the key changed (the primary key is the old one)', ws.track(async () => {
    const before = await columnsOf('scores', 'shared');
    const line = refused(await run('a.yaml', typedSpec({ name: 'a', key: 'k', sink: { table: 'scores.shared' } })), 'a.yaml');
    expect(line).toMatch(/scores\.shared was created for key "id" \(\d{4}-\d\d-\d\d\) but this spec's key is "k"; write to a new table, or drop it first/);
    expect(await columnsOf('scores', 'shared')).toEqual(before);
  }));

  it('a table dropped by its owner can be taken by another job ("drop it first")', ws.track(async () => {
    await query(ws.db.url, `DROP TABLE scores.shared CASCADE`);
    const r = await run('b.yaml', typedSpec({ name: 'b', key: 'k', sink: { table: 'scores.shared' } }));
    expect(r.code, r.stderr).toBe(0);
    expect(await query(ws.db.url, `SELECT job, key_column FROM batchinfer.sinks WHERE result_table = 'scores.shared'`)).toEqual([{ job: 'b', key_column: 'k' }]);
    expect((await query(ws.db.url, `SELECT k FROM scores.shared_latest ORDER BY k`)).map((x) => x.k)).toEqual(['x1', 'x2']);
  }));

  it('refuses a new table whose _latest name is taken, before creating anything', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE scores.fresh_latest (x int)`);
    const line = refused(await run('f.yaml', typedSpec({ name: 'f', sink: { table: 'scores.fresh' } })), 'f.yaml');
    expect(line).toMatch(/its view name scores\.fresh_latest is already taken by a relation batchinfer did not create/);
    expect(await exists('scores.fresh')).toBe(false);
    expect(await query(ws.db.url, `SELECT 1 FROM batchinfer.sinks WHERE result_table = 'scores.fresh'`)).toEqual([]);
  }));
});
