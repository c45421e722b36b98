import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadSpec } from '../../src/spec/load-spec.js';
import { prepareRun } from '../../src/execute/prepare-run.js';
import { closeChunkContext, openChunkContext, type ChunkContext } from '../../src/execute/chunk-context.js';
import { processChunk } from '../../src/execute/process-chunk.js';
import { finishRun } from '../../src/runs/finish-run.js';
import { loadRun } from '../../src/runs/ledger.js';
import { runJob } from '../../src/execute/run-job.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const CHUNK_ROWS = 4000;
const CHUNKS = 3;
const TOTAL = CHUNK_ROWS * CHUNKS;

let spec: JobSpec;
const contexts: ChunkContext[] = [];
const ws = testWorkspace('exactly-once', {
  beforeCleanup: async () => {
    for (const ctx of contexts) await closeChunkContext(ctx).catch(() => undefined);
  },
});
beforeAll(async () => {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < TOTAL; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  spec = loadSpec(writeSpec(ws.tmp.dir, 'once.yaml', typedSpec({ name: 'once', key_type: 'bigint', sink: { table: 'scores.once' }, batch_size: 500, chunk_rows: CHUNK_ROWS })), ws.tmp.dir);
});
async function context(name: string): Promise<ChunkContext> {
  const ctx = await openChunkContext(ws.db.url, runId, name);
  contexts.push(ctx);
  return ctx;
}

/** Rows of one run whose keys fall in chunk `c` (keys are the row numbers): total and distinct. */
async function chunkRows(run: number, c: number): Promise<{ n: number; distinct: number }> {
  const [r] = await query<{ n: string; distinct: string }>(ws.db.url, 'SELECT count(*) AS n, count(DISTINCT id) AS distinct FROM scores.once WHERE run_id = $1 AND id >= $2 AND id < $3', [run, c * CHUNK_ROWS, (c + 1) * CHUNK_ROWS]);
  return { n: Number(r.n), distinct: Number(r.distinct) };
}

let runId: number;

describe('exactly once', () => {
  it('a chunk processed twice in a row is written once; the second call is skipped with the same counts', ws.track(async () => {
    const prepared = await prepareRun({ spec, logicalDate: '2026-11-04', trigger: 'manual', databaseUrl: ws.db.url });
    runId = prepared.run.runId;
    expect(prepared.resumed).toBe(false);
    // A new run is planned in the background; its chunks reach the feed once the ledger has them.
    expect(await prepared.planned).toEqual({ chunks: CHUNKS, plannedRows: TOTAL });
    const pending: number[] = [];
    for (let c = await prepared.feed.next(); c !== undefined; c = await prepared.feed.next()) pending.push(c);
    expect(pending).toEqual([0, 1, 2]);
    const ctx = await context('test a');
    const first = await processChunk(ctx, 0);
    expect(first).toEqual({ chunk: 0, skipped: false, rowsRead: CHUNK_ROWS, rowsScored: CHUNK_ROWS, rowsRejected: 0 });
    const second = await processChunk(ctx, 0);
    expect(second).toEqual({ chunk: 0, skipped: true, rowsRead: CHUNK_ROWS, rowsScored: CHUNK_ROWS, rowsRejected: 0 });
    expect(await chunkRows(runId, 0)).toEqual({ n: CHUNK_ROWS, distinct: CHUNK_ROWS });
    const [c] = await query(ws.db.url, 'SELECT status, rows_read, rows_scored, attempts, worker FROM batchinfer.chunks WHERE run_id = $1 AND chunk = 0', [runId]);
    expect(c).toEqual({ status: 'done', rows_read: String(CHUNK_ROWS), rows_scored: String(CHUNK_ROWS), attempts: 1, worker: 'test a' });
  }));

  it('a chunk processed at once from two contexts is written once: one writes, the other waits and skips', ws.track(async () => {
    const [a, b] = [await context('test b1'), await context('test b2')];
    // Hold the chunk's row lock, so both calls are surely in flight together, then let them go.
    const blocker = new pg.Client({ connectionString: ws.db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM batchinfer.chunks WHERE run_id = $1 AND chunk = 1 FOR UPDATE', [runId]);
      const both = Promise.all([processChunk(a, 1), processChunk(b, 1)]);
      let waiting = 0;
      for (let i = 0; i < 200 && waiting < 2; i++) {
        const [w] = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'batchinfer test b%' AND wait_event_type = 'Lock'`);
        waiting = Number(w.n);
        if (waiting < 2) await new Promise((r) => setTimeout(r, 50));
      }
      // Both must have been blocked on the lock together, or this test proves nothing about concurrency.
      expect(waiting, 'both contexts waiting on the chunk lock at once').toBe(2);
      await blocker.query('COMMIT');
      const outcomes = await both;
      expect(outcomes.map((o) => o.skipped).sort()).toEqual([false, true]);
      for (const o of outcomes) expect(o).toMatchObject({ chunk: 1, rowsRead: CHUNK_ROWS, rowsScored: CHUNK_ROWS, rowsRejected: 0 });
    } finally {
      await blocker.end();
    }
    expect(await chunkRows(runId, 1)).toEqual({ n: CHUNK_ROWS, distinct: CHUNK_ROWS });
    const rejects = await query(ws.db.url, 'SELECT * FROM batchinfer.rejects WHERE run_id = $1', [runId]);
    expect(rejects).toEqual([]);
  }));

  it('the run then finishes with every row exactly once and the counts right', ws.track(async () => {
    const ctx = contexts[0];
    expect(await processChunk(ctx, 2)).toMatchObject({ skipped: false, rowsScored: CHUNK_ROWS });
    const client = new pg.Client({ connectionString: ws.db.url });
    await client.connect();
    try {
      const outcome = await finishRun(client, ctx.run, { resumed: false });
      expect(outcome).toMatchObject({ status: 'succeeded', rows_read: TOTAL, rows_scored: TOTAL, rows_rejected: 0, chunks_total: CHUNKS, chunks_done: CHUNKS, error: null });
    } finally {
      await client.end();
    }
    const [r] = await query(ws.db.url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id)::int AS lo, max(id)::int AS hi FROM scores.once WHERE run_id = $1', [runId]);
    expect(r).toEqual({ n: TOTAL, d: TOTAL, lo: 0, hi: TOTAL - 1 });
    // Spot-check values: s = a + b + c of the row with that key.
    const rows = await query<{ id: string; s: number }>(ws.db.url, 'SELECT id, s FROM scores.once WHERE run_id = $1 AND id IN (0, 4001, 11999) ORDER BY id', [runId]);
    expect(rows.map((r) => r.id)).toEqual(['0', '4001', '11999']);
    for (const row of rows) {
      const i = Number(row.id);
      expect(row.s).toBeCloseTo((i % 7) + (i % 13) / 4 - (i % 5), 5);
    }
  }));

  it('running the same date again after success makes a new run; _latest shows only its rows, the old run stays queryable', ws.track(async () => {
    const again = await runJob({ spec, logicalDate: '2026-11-04', trigger: 'schedule', databaseUrl: ws.db.url, threads: 2 });
    expect(again).toMatchObject({ status: 'succeeded', resumed: false, trigger: 'schedule', rows_scored: TOTAL, chunks_done: CHUNKS });
    expect(again.run_id).not.toBe(runId);
    // Another date alongside: _latest keeps the newest succeeded run of every date.
    const other = await runJob({ spec, logicalDate: '2026-11-05', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    expect(other).toMatchObject({ status: 'succeeded', rows_scored: TOTAL });

    const latest = await query<{ run_id: string; d: string; n: string }>(ws.db.url, `SELECT run_id, to_char(logical_date, 'YYYY-MM-DD') AS d, count(*) AS n FROM scores.once_latest GROUP BY 1, 2 ORDER BY 2`);
    expect(latest).toEqual([
      { run_id: String(again.run_id), d: '2026-11-04', n: String(TOTAL) },
      { run_id: String(other.run_id), d: '2026-11-05', n: String(TOTAL) },
    ]);
    const [old] = await query(ws.db.url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM scores.once WHERE run_id = $1', [runId]);
    expect(old).toEqual({ n: TOTAL, d: TOTAL });
    const runs = await query(ws.db.url, `SELECT run_id::int, status, to_char(logical_date, 'YYYY-MM-DD') AS d FROM batchinfer.runs ORDER BY run_id`);
    expect(runs).toEqual([
      { run_id: runId, status: 'succeeded', d: '2026-11-04' },
      { run_id: again.run_id, status: 'succeeded', d: '2026-11-04' },
      { run_id: other.run_id, status: 'succeeded', d: '2026-11-05' },
    ]);
  }));

  it('a run starts while an analyst holds a query open on the _latest view (the view is not replaced every run)', ws.track(async () => {
    const analyst = new pg.Client({ connectionString: ws.db.url });
    await analyst.connect();
    try {
      await analyst.query('BEGIN');
      await analyst.query('SELECT count(*) FROM scores.once_latest'); // holds a lock on the view until COMMIT
      const run = runJob({ spec, logicalDate: '2026-11-07', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('blocked'), 15_000).unref());
      const outcome = await Promise.race([run, timeout]);
      expect(outcome).toMatchObject({ status: 'succeeded', rows_scored: TOTAL });
    } finally {
      await analyst.query('COMMIT');
      await analyst.end();
    }
  }));

  it('a run whose planning was cut short (crash mid-plan, one chunk already done) resumes: planned again, the done chunk kept, every row once', ws.track(async () => {
    const date = '2026-11-06';
    const prepared = await prepareRun({ spec, logicalDate: date, trigger: 'manual', databaseUrl: ws.db.url });
    await prepared.planned;
    const id = prepared.run.runId;
    const ctx = await openChunkContext(ws.db.url, id, 'test mid-plan');
    contexts.push(ctx);
    await processChunk(ctx, 0);
    // What a crash after the planner stored chunks 0-1 looks like in the ledger.
    await query(ws.db.url, `DELETE FROM batchinfer.chunks WHERE run_id = $1 AND chunk >= 2`, [id]);
    await query(ws.db.url, `UPDATE batchinfer.runs SET planned = false, chunks_total = 0 WHERE run_id = $1`, [id]);
    await prepared.ownerClient.end(); // the owner is gone
    const unplanned = await finishRunOf(id);
    expect(unplanned).toMatchObject({ status: 'failed', error: '1 of 2 chunks not done; planning did not finish (2 chunks planned so far); run again to resume' });

    const resumed = await runJob({ spec, logicalDate: date, trigger: 'manual', databaseUrl: ws.db.url, threads: 2 });
    expect(resumed).toMatchObject({ run_id: id, resumed: true, status: 'succeeded', rows_read: TOTAL, chunks_total: CHUNKS, chunks_done: CHUNKS });
    const [r] = await query(ws.db.url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM scores.once WHERE run_id = $1', [id]);
    expect(r).toEqual({ n: TOTAL, d: TOTAL });
    const chunks = await query(ws.db.url, 'SELECT chunk, attempts, worker FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk', [id]);
    expect(chunks[0]).toEqual({ chunk: 0, attempts: 1, worker: 'test mid-plan' });
    expect(chunks.map((c) => c.chunk)).toEqual([0, 1, 2]);
  }));
});

async function finishRunOf(id: number) {
  const client = new pg.Client({ connectionString: ws.db.url });
  await client.connect();
  try {
    return await finishRun(client, await loadRun(client, id), { resumed: false });
  } finally {
    await client.end();
  }
}
