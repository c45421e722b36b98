import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { freshDatabase, query } from '../support/database.js';
import { dropWithin, tempDir, typedSpec, writeSpec } from '../support/jobs.js';

/** Inputs chosen so float32 rounding shows (0.1, 1e-3), argmax hits every class, and keys exceed 2^53. */
const rows: { id: string; x: [number, number, number] }[] = [
  { id: '1', x: [0.5, 1.25, -3] },
  { id: '-7', x: [3, 2, 1] },
  { id: '9007199254740993', x: [0.1, 0.2, 0.3] },
  { id: '9223372036854775807', x: [-1, -2, -0.5] },
  { id: '-9223372036854775808', x: [1e-3, 1e6, 7] },
  { id: '42', x: [123.456, -0.001, 0] },
  { id: '0', x: [0, 0, 0] },
];
const names = ['zero', 'one', 'two'];
const f32 = Math.fround;
/** ReduceSum in float32, left to right (exact here, or within one float32 ulp for any order). */
const sum32 = (x: number[]) => x.reduce((s, v) => f32(s + f32(v)), 0);
const argmax = (x: number[]) => x.map(f32).reduce((best, v, i, a) => (v > a[best] ? i : best), 0);

let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: ReturnType<typeof tempDir>;
let ok = false;
beforeAll(async () => {
  db = await freshDatabase('typed');
  tmp = tempDir('typed');
  fs.writeFileSync(path.join(tmp.dir, 'data.csv'), ['id,a,b,c', ...rows.map((r) => [r.id, ...r.x].join(','))].join('\n') + '\n');
});
afterAll(async () => {
  if (ok) {
    await dropWithin(db);
    tmp.remove();
  } else console.error(`left database ${db.url} and files in ${tmp.dir} for inspection`);
});

describe('typed outputs', () => {
  it('stores each ONNX output type in the matching SQL column type, with the right values', async () => {
    const spec = loadSpec(
      writeSpec(tmp.dir, 'typed.yaml', typedSpec({
        name: 'typed',
        key_type: 'bigint',
        outputs: {
          s: { output: 'sum' },
          s2d: { output: 'sum2d' },
          dbl: { output: 'dbl' },
          cls: { output: 'cls' },
          cls_name: { output: 'name' },
          p0: { output: 'pair', index: 0 },
          p1: { output: 'pair', index: 1 },
        },
        sink: { table: 'scores.typed' },
        batch_size: 2,
        chunk_rows: 3,
      })),
      tmp.dir,
    );
    const outcome = await runJob({ spec, logicalDate: '2026-11-06', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(outcome).toMatchObject({ status: 'succeeded', rows_read: rows.length, rows_scored: rows.length, rows_rejected: 0, chunks_total: 3 });

    const cols = await query<{ column_name: string; data_type: string; is_nullable: string }>(
      db.url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'scores' AND table_name = 'typed' ORDER BY ordinal_position`,
    );
    expect(cols.map((c) => [c.column_name, c.data_type])).toEqual([
      ['id', 'bigint'],
      ['s', 'real'],
      ['s2d', 'real'],
      ['dbl', 'double precision'],
      ['cls', 'bigint'],
      ['cls_name', 'text'],
      ['p0', 'real'],
      ['p1', 'real'],
      ['run_id', 'bigint'],
      ['logical_date', 'date'],
      ['model_version', 'text'],
      ['scored_at', 'timestamp with time zone'],
    ]);
    const pk = await query<{ cols: string }>(
      db.url,
      `SELECT string_agg(a.attname, ',' ORDER BY k.i) AS cols FROM pg_index x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY k(attnum, i)
         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum WHERE x.indrelid = 'scores.typed'::regclass AND x.indisprimary`,
    );
    expect(pk).toEqual([{ cols: 'run_id,id' }]);

    // Values as exact text: float4/float8 print shortest round-trip, so parse and compare exactly.
    const got = await query<{ id: string; s: string; s2d: string; dbl: string; cls: string; cls_name: string; p0: string; p1: string; logical_date: string; model_version: string; run_id: string }>(
      db.url,
      `SELECT id::text, s::text, s2d::text, dbl::text, cls::text, cls_name, p0::text, p1::text, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, model_version, run_id::text FROM scores.typed`,
    );
    expect(got.map((g) => g.id).sort()).toEqual(rows.map((r) => r.id).sort());
    for (const r of rows) {
      const g = got.find((x) => x.id === r.id)!;
      const want = sum32(r.x);
      expect(Math.abs(Number(g.s) - want), `s of ${r.id}`).toBeLessThanOrEqual(Math.abs(want) * 2 ** -23);
      expect(f32(Number(g.s2d)), `s2d of ${r.id}`).toBe(f32(Number(g.s)));
      // dbl is Cast(sum) to float64: exactly the float32 sum, widened.
      expect(Number(g.dbl), `dbl of ${r.id}`).toBe(f32(Number(g.s)));
      expect(g.cls, `cls of ${r.id}`).toBe(String(argmax(r.x)));
      expect(g.cls_name).toBe(names[argmax(r.x)]);
      expect(f32(Number(g.p0)), `p0 of ${r.id}`).toBe(f32(r.x[0]));
      expect(f32(Number(g.p1)), `p1 of ${r.id}`).toBe(f32(r.x[1]));
      expect(g).toMatchObject({ logical_date: '2026-11-06', model_version: outcome.model_version, run_id: String(outcome.run_id) });
    }
    // The float64 column really holds a widened float32 (not the decimal text re-parsed as double).
    const tenth = got.find((x) => x.id === '9007199254740993')!;
    expect(Number(tenth.dbl)).not.toBe(0.6);
    expect(Number(tenth.dbl)).toBe(f32(f32(f32(0.1) + f32(0.2)) + f32(0.3)));
    ok = true;
  });
});
