import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * bin/batchinfer.js starts a scoring thread before the CLI loads (bin/spare-thread.cjs). It is the process's
 * first worker thread, so its trace lines say t1: a run with a pool scores on it (and starts one thread
 * fewer); a run on the main thread stops it and ends as before.
 */
const ws = testWorkspace('spare-thread');
const ROWS = 1500;

beforeAll(() => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), ['id,a,b,c', ...Array.from({ length: ROWS }, (_, i) => `${i},${i % 7},${i % 5},1.5`)].join('\n') + '\n');
  writeSpec(ws.tmp.dir, 'job.yaml', typedSpec({ chunk_rows: 250 }));
});

const run = (threads: string, date: string) =>
  runCli(['run', 'job.yaml', '--threads', threads, '--date', date, '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, BATCHINFER_TRACE: '1', DEBUG: undefined }, timeoutMs: 30_000 });

describe('the spare scoring thread', () => {
  it(
    'a pool of two takes it as its first thread: chunks scored on t1 and t2, no third thread',
    ws.track(async () => {
      const r = await run('2', '2026-03-01');
      expect(r.code, r.stderr).toBe(0);
      const threads = new Set([...r.stderr.matchAll(/ t(\d+) chunk \d+: start/g)].map((m) => Number(m[1])));
      expect([...threads].sort(), r.stderr).toEqual([1, 2]);
      expect(r.stderr).not.toMatch(/ t3 /);
      const out = JSON.parse(r.stdout) as { run_id: number; rows_scored: number; status: string };
      expect([out.status, out.rows_scored]).toEqual(['succeeded', ROWS]);
      const [{ n, keys }] = await query<{ n: string; keys: string }>(ws.db.url, 'SELECT count(*) AS n, count(DISTINCT id) AS keys FROM scores.typed WHERE run_id = $1', [out.run_id]);
      expect([Number(n), Number(keys)]).toEqual([ROWS, ROWS]);
    }),
  );

  it(
    'a run on the main thread leaves it unused: no chunk on a thread, the run succeeds and the process exits',
    ws.track(async () => {
      const r = await run('0', '2026-03-02');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/ t[1-9]\d* chunk/);
      expect(r.stderr).toMatch(/ t0 chunk 0: /);
      expect((JSON.parse(r.stdout) as { rows_scored: number }).rows_scored).toBe(ROWS);
    }),
  );
});
