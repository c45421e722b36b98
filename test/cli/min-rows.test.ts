import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';
import { dropQueueKeys, redisAvailable, redisUrl, startWorker } from '../support/queue.js';

/** min_rows: a source with fewer rows than the spec wants is "input not ready" (exit 3), inline and queued. */
const ws = testWorkspace('min-rows');
const env = () => ({ DATABASE_URL: ws.db.url, REDIS_URL: undefined, BATCHINFER_QUEUE: undefined, BATCHINFER_THREADS: '1' });
const notReady = (read: number, min: number) => new RegExp(`^input not ready: ${read} rows read, fewer than min_rows ${min}; try again`);

beforeAll(async () => {
  await query(ws.db.url, `CREATE TABLE public.f AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c, DATE '2026-06-01' AS day FROM generate_series(1, 10) i`);
});

/** A spec reading public.f for the run's date. */
function pgSpec(name: string, over: Record<string, unknown> = {}): string {
  return writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, key_type: 'bigint', source: { postgres: { query: 'SELECT id, a, b, c FROM public.f WHERE day = {{ds}}' } }, sink: { table: `scores.${name.replaceAll('-', '_')}` }, ...over }));
}

describe('min_rows', () => {
  it('a query returning 0 rows fails as input not ready (exit 3, --json with status, exit_code, error); once the rows are there a new run scores them', ws.track(async () => {
    const spec = pgSpec('pg-empty', { min_rows: 1 });
    const r = await runCli(['run', spec, '--date', '2026-06-02', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code, r.stderr).toBe(3);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ status: 'failed', exit_code: 3, rows_read: 0, error: expect.stringMatching(notReady(0, 1)) });
    const [run] = await query<{ status: string; error: string }>(ws.db.url, `SELECT status, error FROM batchinfer.runs WHERE run_id = $1`, [out.run_id]);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(notReady(0, 1));

    const text = await runCli(['run', spec, '--date', '2026-06-02'], { cwd: ws.tmp.dir, env: env() });
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/^run \d+ failed: 0 rows read/m);
    expect(text.stdout).toMatch(/^error: input not ready: 0 rows read, fewer than min_rows 1/m);

    // The data arrives: the next run plans afresh (the failed one is not resumed with its empty plan).
    await query(ws.db.url, `INSERT INTO public.f SELECT i, 1, 2, 3, DATE '2026-06-02' FROM generate_series(1, 5) i`);
    const again = await runCli(['run', spec, '--date', '2026-06-02', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(again.code, again.stdout).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'succeeded', exit_code: 0, rows_read: 5, resumed: false });
  }));

  it('without min_rows a query returning 0 rows still succeeds', ws.track(async () => {
    const r = await runCli(['run', pgSpec('pg-none'), '--date', '2026-06-03', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', exit_code: 0, rows_read: 0, error: null });
  }));

  it('a header-only CSV with min_rows: 1, and a CSV with fewer rows than min_rows, exit 3; enough rows succeed', ws.track(async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'header-only.csv'), 'id,a,b,c\n');
    fs.writeFileSync(path.join(ws.tmp.dir, 'five.csv'), 'id,a,b,c\n' + [1, 2, 3, 4, 5].map((i) => `${i},1,2,3`).join('\n') + '\n');
    const csvSpec = (name: string, file: string, minRows: number) => writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, source: { csv: { path: file } }, sink: { table: `scores.${name.replaceAll('-', '_')}` }, min_rows: minRows }));

    const empty = await runCli(['run', csvSpec('csv-empty', 'header-only.csv', 1), '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(empty.code, empty.stderr).toBe(3);
    expect(JSON.parse(empty.stdout)).toMatchObject({ status: 'failed', exit_code: 3, error: expect.stringMatching(notReady(0, 1)) });

    const few = await runCli(['run', csvSpec('csv-few', 'five.csv', 10), '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(few.code, few.stderr).toBe(3);
    expect(JSON.parse(few.stdout)).toMatchObject({ status: 'failed', exit_code: 3, rows_read: 5, error: expect.stringMatching(notReady(5, 10)) });

    const enough = await runCli(['run', csvSpec('csv-enough', 'five.csv', 5), '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(enough.code, enough.stderr).toBe(0);
    expect(JSON.parse(enough.stdout)).toMatchObject({ status: 'succeeded', exit_code: 0, rows_read: 5 });
  }));

  it('queued runs too: a query with too few rows (finished at enqueue) and a CSV whose last chunk a worker scores exit 3, with --wait and without', ws.track(async () => {
    const queue: Record<string, string> = (await redisAvailable()) ? { REDIS_URL: redisUrl, BATCHINFER_QUEUE_NAME: `bi-minrows-${process.pid}-${Date.now()}` } : { BATCHINFER_QUEUE: 'postgres' };
    const spec = pgSpec('pg-queued', { min_rows: 1 });
    const r = await runCli(['run', spec, '--date', '2026-06-04', '--wait', '--json'], { cwd: ws.tmp.dir, env: { ...env(), ...queue } });
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'failed', exit_code: 3, error: expect.stringMatching(notReady(0, 1)) });
    const queued = await runCli(['run', spec, '--date', '2026-06-04', '--json'], { cwd: ws.tmp.dir, env: { ...env(), ...queue } });
    expect(queued.code, queued.stderr).toBe(3);
    expect(JSON.parse(queued.stdout)).toMatchObject({ status: 'failed', exit_code: 3, error: expect.stringMatching(notReady(0, 1)) });

    // Rows that a worker scores: the worker that finishes the last chunk applies min_rows.
    fs.writeFileSync(path.join(ws.tmp.dir, 'three.csv'), 'id,a,b,c\n1,1,2,3\n2,1,2,3\n3,1,2,3\n');
    const csv = writeSpec(ws.tmp.dir, 'csv-queued.yaml', typedSpec({ name: 'csv-queued', source: { csv: { path: 'three.csv' } }, sink: { table: 'scores.csv_queued' }, min_rows: 4 }));
    const worker = startWorker(['--concurrency', '1'], { DATABASE_URL: ws.db.url, BATCHINFER_THREADS: '1', ...queue }, ws.tmp.dir);
    try {
      await worker.waitFor((e) => e.event === 'worker start');
      const waited = await runCli(['run', csv, '--wait', '--json'], { cwd: ws.tmp.dir, env: { ...env(), ...queue } });
      expect(waited.code, waited.stderr + worker.stderr()).toBe(3);
      expect(JSON.parse(waited.stdout)).toMatchObject({ status: 'failed', exit_code: 3, rows_read: 3, error: expect.stringMatching(notReady(3, 4)) });
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      if (queue.BATCHINFER_QUEUE_NAME) await dropQueueKeys(queue.BATCHINFER_QUEUE_NAME);
    }
  }));
});
