import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaults } from '../../src/defaults.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('sorted-keys');
const window = defaults.sortWindowBytes;
afterEach(() => void (defaults.sortWindowBytes = window));

describe('text keys sent to the COPY in key order', () => {
  it('random keys (UUID-like) after ascending ones: every row keeps its own values, first occurrence wins, rejects name their lines', ws.track(async () => {
    // 2,500 rows in chunks of 1000: the first 300 keys ascend, the rest are random; row i has a = i, so
    // its stored score s = a + b + c = i tells which row a key's stored values came from.
    let seed = 11;
    const rnd = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const keys = Array.from({ length: 2500 }, (_, i) => (i < 300 ? `0000${hex(i)}-asc` : `${hex(rnd())}-${hex(rnd()).slice(0, 4)}-4${hex(rnd()).slice(0, 3)}`));
    keys[30] = keys[10]; // within chunk 0 (in its ascending part)
    keys[620] = keys[500]; // within chunk 0, random part
    keys[1500] = keys[200]; // chunk 1 repeats a key of chunk 0
    keys[2400] = keys[1700]; // chunk 2 repeats a key of chunk 1
    const lines = ['id,a,b,c', ...keys.map((k, i) => `${k},${i},0,0`)];
    fs.writeFileSync(path.join(ws.tmp.dir, 'uuids.csv'), lines.join('\n') + '\n');
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'uuids.yaml', typedSpec({ name: 'uuids', source: { csv: { path: 'uuids.csv' } }, sink: { table: 'scores.uuids' }, chunk_rows: 1000, batch_size: 100, max_rejected: 10 })), ws.tmp.dir);
    const dupAt = [30, 620, 1500, 2400];
    const first = new Map<string, number>();
    keys.forEach((k, i) => first.has(k) || first.set(k, i));
    // inline with a 2 KB window (streamed ascending parts, held and sorted runs, several per chunk), then threads with the default
    for (const [round, threads, windowBytes] of [[1, 0, 2048], [2, 2, window]] as const) {
      defaults.sortWindowBytes = windowBytes;
      const out = await runJob({ trigger: 'manual', databaseUrl: ws.db.url, spec, logicalDate: `2026-03-0${round}`, threads });
      expect(out).toMatchObject({ status: 'succeeded', rows_read: 2500, rows_scored: 2496, rows_rejected: 4 });
      const stored = await query<{ id: string; s: number }>(ws.db.url, `SELECT id, s FROM scores.uuids WHERE run_id = $1`, [out.run_id]);
      expect(stored).toHaveLength(2496);
      expect(new Map(stored.map((r) => [r.id, r.s]))).toEqual(new Map([...first].map(([k, i]) => [k, i])));
      const rejects = await query<{ line: string; reason: string }>(ws.db.url, `SELECT line, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line`, [out.run_id]);
      expect(rejects.map((r) => Number(r.line))).toEqual(dupAt.map((i) => i + 2));
      expect(rejects.every((r) => r.reason.startsWith('duplicate key'))).toBe(true);
    }
  }));
});
