import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/database.js';
import { repoRoot, runCli } from '../support/cli.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('cli-preview');
const wineModel = path.join(repoRoot, 'models/wine/model.onnx');

beforeAll(() => {
  fs.mkdirSync(path.join(ws.tmp.dir, 'data'));
  fs.copyFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), path.join(ws.tmp.dir, 'data/wine.csv'));
});

const cli = (args: string[]) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined, BATCHINFER_THREADS: undefined }, timeoutMs: 60_000 });

interface PreviewJson {
  rows: { key: number | string; inputs: Record<string, number[]>; outputs: Record<string, number | string> }[];
  rejects: { line: number | null; key: string | null; reason: string }[];
}

/** Schemas a run would create: the ledger and the result table's. */
async function writtenSchemas(): Promise<string[]> {
  const rows = await query<{ nspname: string }>(ws.db.url, `SELECT nspname FROM pg_namespace WHERE nspname IN ('batchinfer', 'scores') ORDER BY 1`);
  return rows.map((r) => r.nspname);
}

describe('batchinfer run --preview', () => {
  it('init -> validate -> run --preview 5 on the demo: 5 rows whose probabilities are models/wine/expected.csv; nothing written', ws.track(async () => {
    const init = await cli(['init', '--model', wineModel, '--csv', 'data/wine.csv']);
    expect(init.code, init.stderr).toBe(0);
    expect((await cli(['validate', 'jobs/wine.yaml'])).code).toBe(0);

    const text = await cli(['run', 'jobs/wine.yaml', '--preview', '5']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^preview of jobs\/wine\.yaml \(model d25a6a2e8550\): the first 5 rows; nothing written$/);
    expect(lines[1].split(/\s+/)).toEqual(['id', 'float_input', 'probabilities_0', 'probabilities_1', 'probabilities_2', 'label']);
    expect(lines.slice(2, 7).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3', '4', '5']);
    // a wide input shows its first values, then …
    expect(lines[2]).toMatch(/^1\s+14\.23, 1\.71, 2\.43, 15\.6, …\s+0\.99978\s/);
    expect(lines[7]).toBe('rejects: none');
    expect(lines).toHaveLength(8);

    const json = await cli(['run', 'jobs/wine.yaml', '--preview', '5', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const p = JSON.parse(json.stdout) as PreviewJson;
    const expected = fs
      .readFileSync(path.join(repoRoot, 'models/wine/expected.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1, 6)
      .map((l) => l.split(',').map(Number));
    expect(p.rows.map((r) => r.key)).toEqual([1, 2, 3, 4, 5]);
    p.rows.forEach((r, i) => {
      const [, p0, p1, p2, label] = expected[i];
      expect(r.outputs.probabilities_0).toBeCloseTo(p0, 6);
      expect(r.outputs.probabilities_1).toBeCloseTo(p1, 6);
      expect(r.outputs.probabilities_2).toBeCloseTo(p2, 6);
      expect(r.outputs.label).toBe(label);
    });
    expect(p.rows[0].inputs.float_input).toEqual([14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065]);
    expect(p.rejects).toEqual([]);
    expect(await writtenSchemas()).toEqual([]);
  }));

  it('counts rejects among the first N input rows (line and reason) and reads across chunks', ws.track(async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n2,x,2,3\n3,1,1,1\n4,2,2,2\n5,3,3,3\n6,4,4,4\n');
    writeSpec(ws.tmp.dir, 'typed.yaml', typedSpec({ chunk_rows: 2, batch_size: 2 }));
    const r = await cli(['run', 'typed.yaml', '--preview', '4', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PreviewJson;
    expect(p.rows.map((x) => [x.key, x.outputs.s])).toEqual([['1', 6], ['3', 3], ['4', 6]]);
    expect(p.rejects).toHaveLength(1);
    expect(p.rejects[0]).toMatchObject({ line: 3, key: '2' });
    expect(p.rejects[0].reason).toMatch(/"a"/);

    const t = await cli(['run', 'typed.yaml', '--preview', '6']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/the first 6 rows/);
    expect(t.stdout).toMatch(/^rejects: 1: line 3 \(key 2\): .*"a"/m);
    expect(await writtenSchemas()).toEqual([]);
  }));

  it('a Postgres source: previews the query\'s first rows; the database gets no batchinfer schema', ws.track(async () => {
    await query(ws.db.url, 'CREATE TABLE public.feats (id bigint PRIMARY KEY, a real, b real, c real); INSERT INTO public.feats SELECT g, g, 1, 2 FROM generate_series(1, 500) g');
    writeSpec(ws.tmp.dir, 'pg.yaml', typedSpec({ source: { postgres: { query: 'SELECT id, a, b, c FROM public.feats' } }, key_type: 'bigint', chunk_rows: 100 }));
    const r = await cli(['run', 'pg.yaml', '--preview', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PreviewJson;
    expect(p.rows.map((x) => [x.key, x.outputs.s])).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(await writtenSchemas()).toEqual([]);
  }));

  it('--preview needs a number of rows: exit 2, one line', ws.track(async () => {
    for (const bad of ['x', '0', '-3']) {
      const r = await cli(['run', 'typed.yaml', `--preview=${bad}`]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/--preview .*: expected a number of rows from 1 to 10000, e\.g\. --preview 5/);
      expect(r.stderr).not.toMatch(stackFrame);
    }
  }));
});
