import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { query } from '../support/database.js';
import { repoRoot } from '../support/cli.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('dup-nan');
const base = () => ({ trigger: 'manual' as const, databaseUrl: ws.db.url });

describe('duplicates, NaN scores and tables an analyst changed', () => {
  it('the first occurrence of a key in input order wins across chunks and threads; the later ones are the rejects', ws.track(async () => {
    // Chunks of 1000, 1000 and 20 rows; the short last chunk (scored first by whichever thread is free
    // first, so it commits before one of the others) repeats keys of chunks 0 and 1 with a = 9.
    const lines = ['id,a,b,c'];
    for (let i = 0; i < 2020; i++) lines.push(`${i},1,0,0`);
    const dupKeys = [100, 101, 102, 1100, 1101];
    const dupAt = [2005, 2006, 2007, 2008, 2009];
    dupAt.forEach((at, j) => (lines[at + 1] = `${dupKeys[j]},9,0,0`));
    fs.writeFileSync(path.join(ws.tmp.dir, 'dups.csv'), lines.join('\n') + '\n');
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'dups.yaml', typedSpec({ name: 'dups', source: { csv: { path: 'dups.csv' } }, sink: { table: 'scores.dups' }, chunk_rows: 1000, batch_size: 100, max_rejected: 10 })), ws.tmp.dir);
    for (let round = 0; round < 4; round++) {
      const out = await runJob({ ...base(), spec, logicalDate: `2026-02-0${round + 1}`, threads: 2 });
      expect(out).toMatchObject({ status: 'succeeded', rows_read: 2020, rows_scored: 2015, rows_rejected: 5 });
      const kept = await query<{ id: string; s: number }>(ws.db.url, `SELECT id, s FROM scores.dups WHERE run_id = $1 AND id = ANY($2) ORDER BY id`, [out.run_id, dupKeys.map(String)]);
      expect(kept).toHaveLength(5);
      expect(kept.map((r) => r.s)).toEqual([1, 1, 1, 1, 1]); // the first occurrence (a = 1), not the later a = 9
      const rejects = await query<{ line: string; reason: string; chunk: number }>(ws.db.url, `SELECT line, reason, chunk FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line`, [out.run_id]);
      expect(rejects.map((r) => Number(r.line))).toEqual(dupAt.map((at) => at + 2)); // file lines (header is line 1)
      expect(rejects.every((r) => /^duplicate key "1?10[0-2]" \(already seen in this run\)$/.test(r.reason))).toBe(true);
      const counts = await query<{ scored: string; rejected: string }>(ws.db.url, `SELECT sum(rows_scored) AS scored, sum(rows_rejected) AS rejected FROM batchinfer.chunks WHERE run_id = $1`, [out.run_id]);
      expect(counts[0]).toEqual({ scored: '2015', rejected: '5' });
    }
  }));

  it('a NaN model output is a reject with its reason, not a stored NaN', ws.track(async () => {
    const wine = fs.readFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), 'utf8').split('\n');
    const big = Array(13).fill('3e38').join(',');
    fs.writeFileSync(path.join(ws.tmp.dir, 'wine.csv'), [...wine.slice(0, 11), `999,${big},class_x`].join('\n') + '\n');
    const specText = fs.readFileSync(path.join(repoRoot, 'jobs/wine.yaml'), 'utf8')
      .replace('../models/wine/model.onnx', path.join(repoRoot, 'models/wine/model.onnx'))
      .replace('path: data/wine.csv', 'path: wine.csv')
      .replace('max_rejected: 0', 'max_rejected: 1');
    fs.writeFileSync(path.join(ws.tmp.dir, 'wine.yaml'), specText);
    const out = await runJob({ ...base(), spec: loadSpec(path.join(ws.tmp.dir, 'wine.yaml'), ws.tmp.dir), logicalDate: '2026-02-10', threads: 0 });
    expect(out).toMatchObject({ status: 'succeeded', rows_read: 11, rows_scored: 10, rows_rejected: 1 });
    const [r] = await query<{ key: string; line: string; reason: string }>(ws.db.url, `SELECT key, line, reason FROM batchinfer.rejects WHERE run_id = $1`, [out.run_id]);
    expect(r).toMatchObject({ key: '999', line: '12', reason: 'model output NaN in column "p_class_0"' });
    const nan = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.wine WHERE run_id = $1 AND (p_class_0 = 'NaN' OR p_class_1 = 'NaN')`, [out.run_id]);
    expect(nan[0].n).toBe(0);
  }));

  it("an analyst's extra unique index on the result table fails the chunk naming the index, not as colliding keys", ws.track(async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'small.csv'), 'id,a,b,c\n1,1,1,1\n2,2,2,2\n');
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'uniq.yaml', typedSpec({ name: 'uniq', source: { csv: { path: 'small.csv' } }, sink: { table: 'scores.uniq' } })), ws.tmp.dir);
    expect((await runJob({ ...base(), spec, logicalDate: '2026-02-20', threads: 0 })).status).toBe('succeeded');
    await query(ws.db.url, `CREATE UNIQUE INDEX uniq_id_only ON scores.uniq (id)`);
    const out = await runJob({ ...base(), spec, logicalDate: '2026-02-21', threads: 0 });
    expect(out.status).toBe('failed');
    expect(out.error).toMatch(/violate unique index "uniq_id_only" on scores\.uniq, which is not batchinfer's primary key \(run_id, id\)/);
    expect(out.error).not.toMatch(/kept colliding/);
  }));
});
