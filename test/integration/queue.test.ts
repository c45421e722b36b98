import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { dropQueueKeys, redisAvailable, redisUrl, startWorker, type WorkerProc } from '../support/queue.js';
import { testWorkspace, typedModel, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * The queue on real Redis, real PostgreSQL and real worker processes (kill -9, SIGTERM, lost
 * connections, a lost queue). One file, so its faults touch only its own queue.
 */
const ROWS = 200_000;
const ws = testWorkspace('queue');
const queueName = `bi-test-${process.pid}-${Date.now()}`;
let haveRedis = false;
let env: Record<string, string>;
const workers: WorkerProc[] = [];

beforeAll(async () => {
  haveRedis = await redisAvailable();
  const lines = ['id,a,b,c'];
  for (let i = 0; i < ROWS; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  fs.copyFileSync(typedModel, path.join(ws.tmp.dir, 'model.onnx'));
  // Redis when it is there (always under CI=true); else BullMQ's Postgres backend in the test database.
  env = haveRedis
    ? { DATABASE_URL: ws.db.url, REDIS_URL: redisUrl, BATCHINFER_QUEUE_NAME: queueName, BATCHINFER_QUEUE_LOCK_MS: '3000' }
    : { DATABASE_URL: ws.db.url, BATCHINFER_QUEUE: 'postgres', BATCHINFER_QUEUE_NAME: queueName, BATCHINFER_QUEUE_LOCK_MS: '3000' };
});

afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
});

function spec(name: string, over: Record<string, unknown> = {}): string {
  return writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, model: { path: 'model.onnx' }, key_type: 'bigint', sink: { table: `scores.${name}` }, chunk_rows: 10_000, ...over }));
}

function worker(args: string[] = ['--concurrency', '1'], extra: Record<string, string> = {}, cwd = ws.tmp.dir): WorkerProc {
  const w = startWorker(args, { ...env, ...extra }, cwd);
  workers.push(w);
  return w;
}

async function enqueue(specFile: string, date: string): Promise<number> {
  const r = await runCli(['run', specFile, '--date', date, '--json'], { env, cwd: ws.tmp.dir });
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { run_id: number; status: string; job: string; logical_date: string };
  expect(out).toMatchObject({ status: 'queued', logical_date: date });
  return out.run_id;
}

/** Every chunk's COPY into this table takes at least `seconds` (a statement trigger sleeping in the server). */
async function slowTable(table: string, seconds: number): Promise<void> {
  await query(ws.db.url, `CREATE OR REPLACE FUNCTION public.sleep_${seconds * 10}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN NULL; END $$`);
  await query(ws.db.url, `CREATE TRIGGER slow AFTER INSERT ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION public.sleep_${seconds * 10}()`);
}

async function runRow(runId: number) {
  const [r] = await query<{ status: string; rows_read: string; rows_scored: string; rows_rejected: string; error: string | null }>(ws.db.url, `SELECT status, rows_read, rows_scored, rows_rejected, error FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  return r;
}

async function waitForEnd(runId: number, timeoutMs = 120_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await runRow(runId);
    if (r.status !== 'queued' && r.status !== 'running') return r;
    if (Date.now() > until) throw new Error(`run ${runId} still ${r.status} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function expectExact(table: string, runId: number) {
  const [n] = await query<{ n: number; d: number }>(ws.db.url, `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${table} WHERE run_id = $1`, [runId]);
  expect(n).toEqual({ n: ROWS, d: ROWS });
  const r = await runRow(runId);
  expect(r).toMatchObject({ status: 'succeeded', rows_read: String(ROWS), rows_scored: String(ROWS), rows_rejected: '0' });
}

async function until(cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const chunkAttempts = (runId: number) => query<{ chunk: number; attempts: number; status: string }>(ws.db.url, `SELECT chunk, attempts, status FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk`, [runId]);

describe('the queue', () => {
  it('3 workers, one killed with SIGKILL mid-chunk three times and restarted: every row exactly once, and a chunk shows attempts > 1', ws.track(async () => {
    const file = spec('kill9', { chunk_rows: 5000 });
    const runId = await enqueue(file, '2026-05-01');
    await slowTable('scores.kill9', 0.5);
    const pool = [worker(), worker(), worker()];
    for (let k = 0; k < 3; k++) {
      // Kill whichever worker is inside a chunk: its attempt is recorded and its COPY (>= 0.5 s) is running.
      let victim: WorkerProc | undefined;
      await until(async () => {
        const rows = await query<{ app: string }>(ws.db.url, `SELECT application_name AS app FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND application_name LIKE 'batchinfer worker%thread%'`);
        victim = pool.find((w) => rows.some((r) => r.app.includes(`pid ${w.child.pid} thread`)));
        return victim !== undefined;
      }, 120_000);
      expect((await runRow(runId)).status).toBe('running');
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      pool[pool.indexOf(victim!)] = worker();
    }
    const end = await waitForEnd(runId);
    expect(end.error).toBeNull();
    await expectExact('scores.kill9', runId);
    const chunks = await chunkAttempts(runId);
    expect(chunks).toHaveLength(ROWS / 5000);
    expect(chunks.some((c) => c.attempts > 1)).toBe(true);
  }), 240_000);

  it('every Redis client connection killed mid-run: the run completes with exact counts', ws.track(async () => {
    if (!haveRedis) return;
    const file = spec('redkill');
    const runId = await enqueue(file, '2026-05-02');
    await slowTable('scores.redkill', 0.3);
    const w = worker(['--concurrency', '2']);
    await w.waitFor((e) => e.event === 'chunk done' && e.run === runId);
    const r = new Redis(redisUrl);
    try {
      await r.call('CLIENT', 'KILL', 'TYPE', 'normal');
    } finally {
      r.disconnect();
    }
    await waitForEnd(runId);
    await expectExact('scores.redkill', runId);
  }), 240_000);

  it("the workers' Postgres connections terminated mid-COPY: the chunk is retried and the run completes with exact counts", ws.track(async () => {
    const file = spec('pgkill');
    const runId = await enqueue(file, '2026-05-03');
    await slowTable('scores.pgkill', 0.5);
    const w = worker(['--concurrency', '2']);
    await w.waitFor((e) => e.event === 'chunk start' && e.run === runId);
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND application_name LIKE 'batchinfer worker%thread%'`)).length > 0);
    const killed = await query<{ pid: number }>(ws.db.url, `SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'batchinfer worker%thread%' AND pid <> pg_backend_pid()`);
    expect(killed.length).toBeGreaterThan(0);
    await waitForEnd(runId);
    await expectExact('scores.pgkill', runId);
    expect((await chunkAttempts(runId)).some((c) => c.attempts > 1)).toBe(true);
  }), 240_000);

  it('Redis loses the queue mid-run: batchinfer retry completes the run with exact counts', ws.track(async () => {
    const file = spec('lost');
    const runId = await enqueue(file, '2026-05-04');
    await slowTable('scores.lost', 0.3);
    const w = worker(['--concurrency', '1']);
    await w.waitFor((e) => e.event === 'chunk done' && e.run === runId);
    if (haveRedis) expect(await dropQueueKeys(queueName)).toBeGreaterThan(0);
    else expect((await query<{ n: number }>(ws.db.url, `WITH d AS (DELETE FROM bullmq.job WHERE queue = $1 RETURNING 1) SELECT count(*)::int AS n FROM d`, [queueName]))[0].n).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 1500));
    expect((await runRow(runId)).status).toBe('running'); // stuck: its chunks are gone from the queue
    const r = await runCli(['retry', String(runId), '--wait', '--json'], { env, cwd: ws.tmp.dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ run_id: runId, status: 'succeeded', exit_code: 0 }); // one object: the outcome
    await expectExact('scores.lost', runId);
  }), 240_000);

  it('a chunk that always fails ends the run failed after its retries.attempts, other chunks intact; retry after the fix succeeds', ws.track(async () => {
    const file = spec('broken', { retries: { attempts: 2, backoff_ms: 200 } });
    const runId = await enqueue(file, '2026-05-05');
    await query(ws.db.url, `CREATE OR REPLACE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refusing key %', NEW.id; END $$`);
    await query(ws.db.url, `CREATE TRIGGER refuse BEFORE INSERT ON scores.broken FOR EACH ROW WHEN (NEW.id = 123456) EXECUTE FUNCTION public.refuse()`);
    worker(['--concurrency', '2']);
    const end = await waitForEnd(runId);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/chunk 12: refusing key 123456/);
    const chunks = await chunkAttempts(runId);
    expect(chunks.find((c) => c.chunk === 12)).toMatchObject({ status: 'failed', attempts: 2 }); // the spec's retries.attempts
    const [others] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.broken WHERE run_id = $1`, [runId]);
    expect(others.n).toBe(ROWS - 10_000);
    await query(ws.db.url, `DROP TRIGGER refuse ON scores.broken`);
    const r = await runCli(['retry', String(runId), '--wait'], { env, cwd: ws.tmp.dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectExact('scores.broken', runId);
  }), 240_000);

  it("a chunk that takes longer than the worker's lock is scored once: attempts 1, no stalled event", ws.track(async () => {
    const file = spec('longchunk', { chunk_rows: 100_000 });
    const runId = await enqueue(file, '2026-05-06');
    await slowTable('scores.longchunk', 3);
    const w = worker(['--concurrency', '2'], { BATCHINFER_QUEUE_LOCK_MS: '1000' });
    await waitForEnd(runId);
    await expectExact('scores.longchunk', runId);
    expect((await chunkAttempts(runId)).map((c) => c.attempts)).toEqual([1, 1]);
    expect(w.events.filter((e) => e.event === 'chunk stalled')).toEqual([]);
  }), 240_000);

  it("two workers with different model files: the mismatching one fails its chunk with both sha256s, and no row from it lands", ws.track(async () => {
    const other = path.join(ws.tmp.dir, 'other-root');
    fs.mkdirSync(other, { recursive: true });
    const bytes = fs.readFileSync(typedModel);
    bytes.write('ZERO', bytes.indexOf('zero'));
    fs.writeFileSync(path.join(other, 'model.onnx'), bytes);
    fs.copyFileSync(path.join(ws.tmp.dir, 'data.csv'), path.join(other, 'data.csv'));
    const st = fs.statSync(path.join(ws.tmp.dir, 'data.csv'));
    fs.utimesSync(path.join(other, 'data.csv'), st.atime, st.mtime); // the same input (a shared volume), another model
    const file = spec('twomodels', { outputs: { s: { output: 'sum' }, nm: { output: 'name' } } });
    const runId = await enqueue(file, '2026-05-07');
    const bad = worker(['--concurrency', '1', '--root', other]);
    const failed = await bad.waitFor((e) => e.event === 'chunk failed' && e.run === runId);
    expect(failed.final).toBe(true);
    expect(String(failed.error)).toMatch(/has sha256 [0-9a-f]{64}, but the run was planned with sha256 [0-9a-f]{64}/);
    bad.child.kill('SIGTERM');
    await bad.exited;
    worker(['--concurrency', '2']);
    const end = await waitForEnd(runId);
    expect(end.status).toBe('failed');
    const [n] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.twomodels WHERE run_id = $1 AND nm = 'ZERO'`, [runId]);
    expect(n.n).toBe(0);
    const r = await runCli(['retry', String(runId), '--wait'], { env, cwd: ws.tmp.dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectExact('scores.twomodels', runId);
  }), 240_000);

  it('SIGTERM during a run: the worker exits 0 within its grace period and the run completes on the remaining workers', ws.track(async () => {
    const file = spec('sigterm');
    const runId = await enqueue(file, '2026-05-08');
    await slowTable('scores.sigterm', 0.4);
    const a = worker(['--concurrency', '1', '--grace-ms', '10000']);
    worker(['--concurrency', '1']);
    await a.waitFor((e) => e.event === 'chunk start' && e.run === runId);
    const t0 = Date.now();
    a.child.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(a.events.some((e) => e.event === 'worker stop' && e.forced === false)).toBe(true);
    await waitForEnd(runId);
    await expectExact('scores.sigterm', runId);
  }), 240_000);

  it('run --wait with a queue: progress, outcome and exit code as an inline run; REDIS_URL unreachable fails within 10 s with one line', ws.track(async () => {
    worker(['--concurrency', '2']);
    const file = spec('waited', { chunk_rows: 50_000 });
    const r = await runCli(['run', file, '--date', '2026-05-09', '--wait', '--json'], { env, cwd: ws.tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', rows_read: ROWS, rows_scored: ROWS, chunks_total: 4, chunks_done: 4 });
    if (!haveRedis) return;
    const t0 = Date.now();
    const bad = await runCli(['run', file, '--date', '2026-05-10'], { env: { ...env, REDIS_URL: 'redis://127.0.0.1:1' }, cwd: ws.tmp.dir });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/cannot reach Redis at 127\.0\.0\.1:1/);
  }), 240_000);
});
