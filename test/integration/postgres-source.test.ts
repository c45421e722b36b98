import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { prepareRun } from '../../src/execute/prepare-run.js';
import { freshDatabase, query } from '../support/database.js';
import { dropWithin, tempDir, typedSpec, writeSpec } from '../support/jobs.js';
import { runCli } from '../support/cli.js';
import { openSource } from '../../src/sources/open-source.js';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: ReturnType<typeof tempDir>;
let ok = 0;

/** 500 good rows for 2026-03-01 (with awkward floats and text), a few bad ones, and rows of another day. */
const good = Array.from({ length: 500 }, (_, i) => ({ id: i * 3 + 1, a: Math.sin(i) * 1e3, b: 1 / (i + 3), c: i % 7 === 0 ? -0.1 : i * 0.001, note: i % 5 === 0 ? `ü "q", tab\there\nline ${i}` : `n${i}` }));

beforeAll(async () => {
  db = await freshDatabase('pgsource');
  tmp = tempDir('pgsource');
  await query(db.url, `CREATE TABLE public.feats (id bigint, day date NOT NULL, a double precision, b real, c text, note text)`);
  await query(db.url, `INSERT INTO public.feats SELECT id, '2026-03-01', a, b, c, note FROM unnest($1::bigint[], $2::float8[], $3::real[], $4::text[], $5::text[]) AS t(id, a, b, c, note)`, [
    good.map((r) => r.id), good.map((r) => r.a), good.map((r) => r.b), good.map((r) => String(r.c)), good.map((r) => r.note),
  ]);
  await query(db.url, `INSERT INTO public.feats VALUES
    (100000, '2026-03-01', NULL, 1, '1', 'null feature'),
    (100001, '2026-03-01', 'NaN', 1, '1', 'nan feature'),
    (100002, '2026-03-01', 1, 1, 'abc', 'text feature not a number'),
    (NULL, '2026-03-01', 1, 1, '1', 'null key'),
    (4, '2026-03-01', 1, 1, '1', 'duplicate of key 4'),
    (200000, '2026-03-02', 1, 1, '1', 'another day')`);
  // The same good rows as a CSV, to compare the two sources.
  const csv = ['id,a,b,c,note', ...good.map((r) => [r.id, r.a, Math.fround(r.b), r.c, `"${r.note.replaceAll('"', '""')}"`].join(','))].join('\n') + '\n';
  fs.writeFileSync(path.join(tmp.dir, 'data.csv'), csv);
});
afterAll(async () => {
  if (ok === 7) {
    await dropWithin(db);
    tmp.remove();
  } else console.error(`left database ${db.url} and files in ${tmp.dir} for inspection`);
});

const pgSpec = (over: Record<string, unknown> = {}) =>
  typedSpec({
    name: 'pg-job',
    source: { postgres: { query: 'SELECT id, a, b, c, note FROM public.feats WHERE day = {{ds}}' } },
    key_type: 'bigint',
    outputs: { s: { output: 'sum' }, p1: { output: 'pair', index: 1 } },
    passthrough: ['note'],
    sink: { table: 'scores.pg' },
    chunk_rows: 60,
    batch_size: 16,
    max_rejected: 10,
    ...over,
  });

describe('Postgres source', () => {
  it('scores the rows of the logical date in key-range chunks, rejects bad rows, and equals the CSV source', async () => {
    const spec = loadSpec(writeSpec(tmp.dir, 'pg.yaml', pgSpec()), tmp.dir);
    const out = await runJob({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(out).toMatchObject({ status: 'succeeded', rows_read: 505, rows_scored: 500, rows_rejected: 5 });
    expect(out.chunks_total).toBeGreaterThan(5);
    const rejects = await query<{ key: string | null; reason: string }>(db.url, 'SELECT key, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY key', [out.run_id]);
    expect(rejects.map((r) => [r.key, r.reason])).toEqual([
      ['100000', 'missing value (NULL) in column "a"'],
      ['100001', 'non-finite value NaN in column "a"'],
      ['100002', 'non-numeric value "abc" in column "c"'],
      ['4', 'duplicate key "4" (already seen in this run)'],
      [null, 'empty key column "id"'],
    ]);

    const csvSpec = loadSpec(writeSpec(tmp.dir, 'csv.yaml', pgSpec({ name: 'csv-job', source: { csv: { path: 'data.csv' } }, sink: { table: 'scores.csv' } })), tmp.dir);
    const out2 = await runJob({ spec: csvSpec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(out2).toMatchObject({ status: 'succeeded', rows_scored: 500, rows_rejected: 0 });
    const diff = await query<{ n: string }>(
      db.url,
      `SELECT count(*) AS n FROM scores.pg p FULL JOIN scores.csv c USING (id)
        WHERE p.s IS DISTINCT FROM c.s OR p.p1 IS DISTINCT FROM c.p1 OR p.note IS DISTINCT FROM c.note`,
    );
    expect(diff[0].n).toBe('0');
    const notes = await query<{ note: string }>(db.url, `SELECT note FROM scores.pg WHERE id = 1`);
    expect(notes[0].note).toBe(good[0].note);
    ok++;
  });

  it('keys as the spec types them: an integer column into a text key, a text column into a bigint key', async () => {
    const asText = loadSpec(writeSpec(tmp.dir, 'pg-text-key.yaml', pgSpec({ name: 'pg-text-key', key_type: 'text', sink: { table: 'scores.pg_text_key' } })), tmp.dir);
    const a = await runJob({ spec: asText, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(a).toMatchObject({ status: 'succeeded', rows_scored: 500, rows_rejected: 5 });
    const keys = await query<{ id: string; t: string }>(db.url, `SELECT id, pg_typeof(id)::text AS t FROM scores.pg_text_key ORDER BY id::bigint LIMIT 2`);
    expect(keys).toEqual([{ id: '1', t: 'text' }, { id: '4', t: 'text' }]);

    await query(db.url, `CREATE TABLE public.text_keys AS SELECT k AS id, 1.0::float8 AS a, 2.0::real AS b, '3' AS c, 'x' AS note FROM unnest(ARRAY['7', '007', '12345678901234567', 'x1', '+8']) k`);
    const asBigint = loadSpec(writeSpec(tmp.dir, 'pg-bigint-key.yaml', pgSpec({ name: 'pg-bigint-key', source: { postgres: { query: 'SELECT * FROM public.text_keys' } }, sink: { table: 'scores.pg_bigint_key' } })), tmp.dir);
    const b = await runJob({ spec: asBigint, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(b).toMatchObject({ rows_scored: 3, rows_rejected: 2 });
    const ids = await query<{ k: string }>(db.url, `SELECT id::text AS k FROM scores.pg_bigint_key ORDER BY id`);
    expect(ids.map((r) => r.k)).toEqual(['7', '8', '12345678901234567']);
    const rejects = await query<{ reason: string }>(db.url, 'SELECT reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY reason', [b.run_id]);
    expect(rejects.map((r) => r.reason)).toEqual(['duplicate key "7" (already seen in this run)', 'key "x1" is not a 64-bit integer (key_type: bigint)']);
    ok++;
  });

  it('fails a bad query or a missing column with the database message and the spec file named (exit 2)', async () => {
    writeSpec(tmp.dir, 'bad-query.yaml', pgSpec({ source: { postgres: { query: 'SELECT id, a, b, c FROM public.nope' } } }));
    const r1 = await runCli(['run', 'bad-query.yaml'], { cwd: tmp.dir, env: { DATABASE_URL: db.url } });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/bad-query\.yaml: source\.postgres\.query: relation "public\.nope" does not exist/);
    writeSpec(tmp.dir, 'missing-col.yaml', pgSpec({ source: { postgres: { query: 'SELECT id, a, b FROM public.feats' } } }));
    const r2 = await runCli(['run', 'missing-col.yaml'], { cwd: tmp.dir, env: { DATABASE_URL: db.url } });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/missing-col\.yaml: inputs\.x\[2\]: column "c" is not in the query's result/);
    ok++;
  });

  it('a query that fails only while planning (scoring may have started) fails the run with the database message', async () => {
    // LIMIT 0 (the check) evaluates nothing; the planner's pass over the keys divides by zero at id 7.
    writeSpec(tmp.dir, 'plan-fails.yaml', pgSpec({ source: { postgres: { query: 'SELECT id, a, b, c, note FROM public.feats WHERE day = {{ds}} AND 1 / (id - 7) IS NOT NULL' } } }));
    const r = await runCli(['run', 'plan-fails.yaml'], { cwd: tmp.dir, env: { DATABASE_URL: db.url } });
    // A data error in the query fails the run (exit 1) with the database message; retrying can't fix it.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/error: planning failed: plan-fails\.yaml: source\.postgres\.query: division by zero/);
    const [run] = await query<{ status: string; error: string; planned: boolean }>(db.url, `SELECT status, error, planned FROM batchinfer.runs WHERE job = 'pg-job' ORDER BY run_id DESC LIMIT 1`);
    expect(run).toMatchObject({ status: 'failed', planned: false });
    expect(run.error).toMatch(/^planning failed: .*division by zero/);
    ok++;
  });

  it('plans key ranges that never split equal keys, count every row (NULL keys last), and hand chunks out as they close', async () => {
    await query(db.url, `CREATE TABLE public.dups AS SELECT (i / 3)::bigint AS id, 1.0::float8 AS a, 2.0::real AS b, '3' AS c, 'x' AS note FROM generate_series(0, 299) i UNION ALL SELECT NULL, 1, 2, '3', 'null key' FROM generate_series(1, 4)`);
    const spec = loadSpec(writeSpec(tmp.dir, 'dups.yaml', pgSpec({ source: { postgres: { query: 'SELECT * FROM public.dups' } }, chunk_rows: 10 })), tmp.dir);
    const source = openSource(spec, '2026-03-01', { databaseUrl: db.url });
    try {
      const handed: number[] = [];
      const chunks = await source.plan({ onChunks: (cs) => handed.push(...cs.map((c) => c.chunk)) });
      expect(handed).toEqual(chunks.map((c) => c.chunk));
      // keys 0..99 three times each: a chunk closes after 10 rows at the next key change, so 12 rows (4 keys)
      const ranges = chunks.map((c) => c.range as { lo: string | null; hi: string | null; nulls?: boolean });
      expect(chunks.map((c) => c.plannedRows)).toEqual([...Array(25).fill(12), 4]);
      expect(ranges[0].lo).toBeNull();
      expect(ranges[24].hi).toBeNull();
      for (let i = 1; i < 25; i++) expect(ranges[i].lo).toBe(ranges[i - 1].hi);
      expect(ranges[1].lo).toBe('4');
      expect(ranges[25]).toMatchObject({ nulls: true });
      let rows = 0;
      for (const c of chunks) for await (const b of source.read(c)) rows += b.n + b.rejects.length;
      expect(rows).toBe(304);
    } finally {
      await source.close();
    }
    ok++;
  });

  it('a run cut short mid-plan resumes only if planning again gives the chunks it stored; else a new run scores every row', async () => {
    await query(db.url, `CREATE TABLE public.shift AS SELECT i::bigint * 10 AS id, 1.0::float8 AS a, 2.0::real AS b, '3' AS c, 'x' AS note FROM generate_series(1, 100) i`);
    const spec = loadSpec(writeSpec(tmp.dir, 'shift.yaml', pgSpec({ name: 'shift', source: { postgres: { query: 'SELECT * FROM public.shift' } }, sink: { table: 'scores.shift' }, chunk_rows: 20, max_rejected: 0 })), tmp.dir);
    const cutShort = async () => {
      const p = await prepareRun({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, fresh: true });
      await p.planned;
      await query(db.url, `DELETE FROM batchinfer.chunks WHERE run_id = $1 AND chunk >= 2`, [p.run.runId]);
      await query(db.url, `UPDATE batchinfer.runs SET planned = false, status = 'cancelled' WHERE run_id = $1`, [p.run.runId]);
      await p.ownerClient.end(); // the owner is gone
      return p.run.runId;
    };
    const same = await cutShort();
    const resumed = await runJob({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(resumed).toMatchObject({ run_id: same, resumed: true, status: 'succeeded', rows_scored: 100, chunks_total: 5 });

    const changed = await cutShort();
    await query(db.url, `INSERT INTO public.shift SELECT i, 1, 2, '3', 'new' FROM generate_series(1, 9) i`); // keys before the old first boundary
    const fresh = await runJob({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(fresh).toMatchObject({ resumed: false, status: 'succeeded', rows_scored: 109 });
    expect(fresh.run_id).not.toBe(changed);
    const [n] = await query<{ n: string }>(db.url, `SELECT count(DISTINCT id) AS n FROM scores.shift WHERE run_id = $1`, [fresh.run_id]);
    expect(n.n).toBe('109');
    ok++;
  });

  it('a chunk read stopped midway (the consumer failed) leaves the source usable for the next chunk', async () => {
    const spec = loadSpec(writeSpec(tmp.dir, 'early.yaml', pgSpec({ batch_size: 8 })), tmp.dir);
    const source = openSource(spec, '2026-03-01', { databaseUrl: db.url });
    try {
      const chunks = await source.plan();
      for await (const batch of source.read(chunks[0])) {
        expect(batch.n).toBe(8);
        break; // the COPY out is still streaming
      }
      let rows = 0;
      for await (const batch of source.read(chunks[1])) rows += batch.n + batch.rejects.length;
      expect(rows).toBe(60);
    } finally {
      await source.close();
    }
    ok++;
  });
});
