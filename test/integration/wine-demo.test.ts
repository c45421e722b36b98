import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { freshDatabase, query } from '../support/database.js';
import { repoRoot } from '../support/cli.js';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let ok = false;
beforeAll(async () => {
  db = await freshDatabase('wine');
});
afterAll(async () => {
  if (ok) await db.drop();
  else console.error(`left database for inspection: ${db.url}`);
});

/** The model computed independently, in float64, from the fitted scikit-learn weights. */
function reference(): Map<number, number[]> {
  const w = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models/wine/weights.json'), 'utf8')) as { features: string[]; mean: number[]; scale: number[]; coef: number[][]; intercept: number[] };
  const [header, ...lines] = fs.readFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), 'utf8').trim().split('\n');
  const cols = header.split(',');
  const out = new Map<number, number[]>();
  for (const line of lines) {
    const f = line.split(',');
    const x = w.features.map((name, j) => (Number(f[cols.indexOf(name)]) - w.mean[j]) / w.scale[j]);
    const z = w.coef.map((row, k) => row.reduce((s, c, j) => s + c * x[j], w.intercept[k]));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    out.set(Number(f[0]), e.map((v) => v / sum));
  }
  return out;
}

describe('the wine demo', () => {
  it('scores every row, in several chunks on two threads, equal to an independent computation within 1e-5', async () => {
    const spec = loadSpec(path.join(repoRoot, 'jobs/wine.yaml'), repoRoot);
    const outcome = await runJob({ spec, logicalDate: '2026-11-01', trigger: 'manual', databaseUrl: db.url, threads: 2 });
    expect(outcome).toMatchObject({ status: 'succeeded', rows_read: 178, rows_scored: 178, rows_rejected: 0, chunks_total: 4, chunks_done: 4 });
    const rows = await query<{ id: string; p_class_0: number; p_class_1: number; p_class_2: number; label: string; cultivar: string; run_id: string; logical_date: string; model_version: string }>(
      db.url,
      `SELECT id, p_class_0, p_class_1, p_class_2, label, cultivar, run_id, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, model_version FROM scores.wine ORDER BY id`,
    );
    expect(rows).toHaveLength(178);
    const ref = reference();
    const expected = new Map(
      fs.readFileSync(path.join(repoRoot, 'models/wine/expected.csv'), 'utf8').trim().split('\n').slice(1).map((l) => {
        const [id, ...v] = l.split(',').map(Number);
        return [id, v] as const;
      }),
    );
    for (const r of rows) {
      const p = ref.get(Number(r.id))!;
      expect(Math.abs(r.p_class_0 - p[0])).toBeLessThan(1e-5);
      expect(Math.abs(r.p_class_1 - p[1])).toBeLessThan(1e-5);
      expect(Math.abs(r.p_class_2 - p[2])).toBeLessThan(1e-5);
      const sk = expected.get(Number(r.id))!;
      expect(Math.abs(r.p_class_1 - sk[1])).toBeLessThan(1e-5);
      expect(Number(r.label)).toBe(sk[3]);
      expect(r).toMatchObject({ run_id: String(outcome.run_id), logical_date: '2026-11-01', model_version: outcome.model_version });
    }
    const [run] = await query<{ model_sha256: string; trigger: string }>(db.url, 'SELECT model_sha256, trigger FROM batchinfer.runs WHERE run_id = $1', [outcome.run_id]);
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models/wine/manifest.json'), 'utf8')) as { sha256: string };
    expect(run).toEqual({ model_sha256: manifest.sha256, trigger: 'manual' });
    ok = true;
  });
});
