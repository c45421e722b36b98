import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/** Models whose input x [N,3] is double, int32 or int64 (test/fixtures/make_input_fixtures.py): y = x0 + x1 + x2, twice = 2y. */
const model = (name: string) => path.join(repoRoot, `test/fixtures/models/${name}.onnx`);
const ws = testWorkspace('typed-inputs');

const rows = [
  { id: 1, x: [1, 2, 3] },
  { id: 2, x: [-5, 0, 16777216] }, // 2^24: the largest integer an int input takes
  { id: 3, x: [0.5, 0.25, 0.125] }, // exact in float32, not an integer
  { id: 4, x: [20000000, 1, 1] }, // past 2^24: float32 may have rounded it
  { id: 5, x: [0.1, 0.2, 0.3] }, // float32 rounding shows in a float64 input
];
const f32 = Math.fround;

async function run(name: string, over: Record<string, unknown>) {
  const spec = writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, key_type: 'bigint', outputs: { y: { output: 'y' }, twice: { output: 'twice' } }, sink: { table: `scores.${name}` }, ...over }));
  const r = await runCli(['run', spec, '--threads', '1', '--json', '--date', '2026-12-01'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url }, timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  const outcome = JSON.parse(r.stdout) as { run_id: number; rows_scored: number; rows_rejected: number };
  const cols = await query<{ column_name: string; data_type: string }>(ws.db.url, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'scores' AND table_name = $1 AND column_name IN ('y', 'twice') ORDER BY ordinal_position`, [name]);
  const got = await query<{ id: string; y: string; twice: string }>(ws.db.url, `SELECT id::text, y::text, twice::text FROM scores.${name} ORDER BY id`);
  const rejects = await query<{ line: string; reason: string }>(ws.db.url, `SELECT line::text, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line`, [outcome.run_id]);
  return { outcome, types: cols.map((c) => c.data_type), got, rejects };
}

describe('typed model inputs: the tensor type the model declares', () => {
  it('float64, int32 and int64 inputs are fed and scored; non-integers and integers past 2^24 for int inputs are rejects with their reason', ws.track(async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), ['id,a,b,c', ...rows.map((r) => [r.id, ...r.x].join(','))].join('\n') + '\n');

    const f64 = await run('in_f64', { model: { path: model('in_f64') } });
    expect(f64.types).toEqual(['double precision', 'double precision']);
    expect(f64.outcome).toMatchObject({ rows_scored: 5, rows_rejected: 0 });
    for (const r of rows) {
      // Features are read as float32, then widened exactly: 0.1 arrives as 0.10000000149011612.
      const want = r.x.map(f32).reduce((a, b) => a + b, 0);
      const g = f64.got.find((x) => x.id === String(r.id))!;
      expect(Number(g.y), `y of ${r.id}`).toBe(want);
      expect(Number(g.twice), `twice of ${r.id}`).toBe(2 * want);
    }

    for (const [name, sqlType] of [['in_i32', 'integer'], ['in_i64', 'bigint']] as const) {
      const int = await run(name, { model: { path: model(name) }, max_rejected: 3 });
      expect(int.types, name).toEqual([sqlType, sqlType]);
      expect(int.outcome, name).toMatchObject({ rows_scored: 2, rows_rejected: 3 });
      expect(int.got, name).toEqual([
        { id: '1', y: '6', twice: '12' },
        { id: '2', y: '16777211', twice: '33554422' },
      ]);
      const type = name === 'in_i32' ? 'int32' : 'int64';
      expect(int.rejects, name).toEqual([
        { line: '4', reason: `value 0.5 in column "a" is not an integer; input "x" takes ${type}` },
        { line: '5', reason: `value 20000000 in column "a" is beyond ±16777216 for ${type} input "x" (features are read as float32, exact only to 2^24)` },
        { line: '6', reason: `value 0.10000000149011612 in column "a" is not an integer; input "x" takes ${type}` },
      ]);
    }
  }));

  it('a Postgres source feeds an int64 input the same way (integer columns arrive as float4, checked before feeding)', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.ints AS SELECT i::bigint AS id, i::int AS a, (i * 1000)::bigint AS b, CASE WHEN i = 4 THEN 2.5 ELSE -i END::numeric AS c FROM generate_series(1, 6) i`);
    const spec = writeSpec(ws.tmp.dir, 'pg_i64.yaml', typedSpec({ name: 'pg_i64', model: { path: model('in_i64') }, source: { postgres: { query: 'SELECT * FROM public.ints' } }, key_type: 'bigint', outputs: { y: { output: 'y' } }, max_rejected: 1, sink: { table: 'scores.pg_i64' } }));
    const r = await runCli(['run', spec, '--threads', '1', '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const outcome = JSON.parse(r.stdout);
    expect(outcome).toMatchObject({ rows_scored: 5, rows_rejected: 1 });
    const got = await query<{ id: string; y: string }>(ws.db.url, `SELECT id::text, y::text FROM scores.pg_i64 ORDER BY id`);
    expect(got).toEqual([1, 2, 3, 5, 6].map((i) => ({ id: String(i), y: String(i + i * 1000 - i) })));
    const rejects = await query(ws.db.url, `SELECT key, reason FROM batchinfer.rejects WHERE run_id = $1`, [outcome.run_id]);
    expect(rejects).toEqual([{ key: '4', reason: 'value 2.5 in column "c" is not an integer; input "x" takes int64' }]);
  }));
});
