import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { prepareRun } from '../../src/execute/prepare-run.js';
import { closeChunkContext, openChunkContext } from '../../src/execute/chunk-context.js';
import { processChunk } from '../../src/execute/process-chunk.js';
import { runJob } from '../../src/execute/run-job.js';
import { migrate } from '../../src/runs/migrations.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { query } from '../support/database.js';
import { testWorkspace, typedModel, typedSpec, writeSpec } from '../support/jobs.js';
import { connectPg } from '../../src/db/connect.js';

const ROWS = 60_000;
const ws = testWorkspace('run-ownership');
let spec: JobSpec;
let modelCopy: string;

/** typed.onnx with its class names changed (same length, so the protobuf stays valid): another model, same signature. */
function otherModelBytes(): Buffer {
  const b = fs.readFileSync(typedModel);
  const at = b.indexOf('zero');
  expect(at).toBeGreaterThan(0);
  b.write('ZERO', at);
  return b;
}

beforeAll(async () => {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < ROWS; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  modelCopy = path.join(ws.tmp.dir, 'model.onnx');
  fs.copyFileSync(typedModel, modelCopy);
  spec = loadSpec(
    writeSpec(ws.tmp.dir, 'own.yaml', typedSpec({ name: 'own', model: { path: 'model.onnx' }, key_type: 'bigint', sink: { table: 'scores.own' }, chunk_rows: 5000, outputs: { s: { output: 'sum' }, nm: { output: 'name' } } })),
    ws.tmp.dir,
  );
});

const base = () => ({ spec, trigger: 'manual' as const, databaseUrl: ws.db.url });

describe('who owns a run', () => {
  it('two runs of the same job and date at once: one scores, the other is refused naming the run and its owner', ws.track(async () => {
    let started!: () => void;
    const first = new Promise<void>((r) => (started = r));
    const a = runJob({ ...base(), logicalDate: '2026-01-01', threads: 1, onStart: () => started() });
    await first;
    const b = runJob({ ...base(), logicalDate: '2026-01-01', threads: 1 }).then(
      () => 'scored',
      (e: Error) => e.message,
    );
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.status).toBe('succeeded');
    expect(rb).toMatch(new RegExp(`^run ${ra.run_id} of job own for 2026-01-01 is already running \\(owner: inline .+ pid ${process.pid}`));
    const runs = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs WHERE job = 'own' AND logical_date = '2026-01-01'`);
    expect(runs[0].n).toBe(1);
  }));

  it('a run whose owner died (its connection gone) is taken over at once by the next run; one whose owner lives is not', ws.track(async () => {
    const p = await prepareRun({ ...base(), logicalDate: '2026-01-02' });
    await p.planned;
    await expect(runJob({ ...base(), logicalDate: '2026-01-02', threads: 1 })).rejects.toThrow(/is already running/);
    await p.ownerClient.end(); // what kill -9 does to the owner's connection
    let note: string | undefined;
    const out = await runJob({ ...base(), logicalDate: '2026-01-02', threads: 1, onStart: (s) => (note = s.note) });
    expect(out).toMatchObject({ run_id: p.run.runId, resumed: true, status: 'succeeded', rows_read: ROWS });
    expect(note).toMatch(/^taking over run \d+: its owner \(inline .+\) is gone$/);
  }));

  it('the cancel flag, set from any connection, stops the run: chunks in flight commit, the run ends cancelled, a rerun resumes', ws.track(async () => {
    let runId = 0;
    const out = await runJob({
      ...base(),
      logicalDate: '2026-01-03',
      threads: 1,
      heartbeatMs: 50,
      onStart: (s) => {
        runId = s.runId;
        void query(ws.db.url, `UPDATE batchinfer.runs SET cancel_requested = true WHERE run_id = $1`, [s.runId]);
      },
    });
    expect(out).toMatchObject({ run_id: runId, status: 'cancelled' });
    expect(out.error).toMatch(/cancelled by batchinfer cancel/);
    expect(out.chunks_done).toBeLessThan(out.chunks_total);
    const again = await runJob({ ...base(), logicalDate: '2026-01-03', threads: 1 });
    expect(again).toMatchObject({ run_id: runId, resumed: true, status: 'succeeded', rows_read: ROWS, rows_scored: ROWS });
  }));

  it('Ctrl-C with --threads 0 lets the chunk in flight commit: the run ends cancelled, not failed', ws.track(async () => {
    const stop = new AbortController();
    let rows = 0;
    const out = await runJob({
      ...base(),
      logicalDate: '2026-01-04',
      threads: 0,
      signal: stop.signal,
      onRows: (n) => {
        rows += n;
        if (rows >= 1000) stop.abort(); // mid-chunk (chunks are 5000 rows)
      },
    });
    expect(out.status).toBe('cancelled');
    expect(out.error).not.toMatch(/aborted/);
    expect(out.chunks_done).toBeGreaterThanOrEqual(1);
    const chunks = await query<{ status: string }>(ws.db.url, `SELECT status FROM batchinfer.chunks WHERE run_id = $1 AND status = 'failed'`, [out.run_id]);
    expect(chunks).toHaveLength(0);
  }));

  it('a model file replaced between two runs of one process is noticed: the second run scores with the new model and records its sha256', ws.track(async () => {
    const first = await runJob({ ...base(), logicalDate: '2026-01-05', threads: 0 });
    fs.writeFileSync(modelCopy, otherModelBytes());
    const second = await runJob({ ...base(), logicalDate: '2026-01-06', threads: 0 });
    expect([first.status, second.status]).toEqual(['succeeded', 'succeeded']);
    const names = await query<{ run_id: string; nm: string; n: number }>(ws.db.url, `SELECT run_id, nm, count(*)::int AS n FROM scores.own WHERE run_id IN ($1, $2) AND nm ILIKE 'zero' GROUP BY 1, 2 ORDER BY 1`, [first.run_id, second.run_id]);
    expect(names.map((r) => r.nm)).toEqual(['zero', 'ZERO']);
    const shas = await query<{ model_sha256: string }>(ws.db.url, `SELECT model_sha256 FROM batchinfer.runs WHERE run_id IN ($1, $2) ORDER BY run_id`, [first.run_id, second.run_id]);
    expect(shas[0].model_sha256).not.toBe(shas[1].model_sha256);
    fs.copyFileSync(typedModel, modelCopy);
  }));

  it('a worker whose model file differs from the run\'s refuses the run naming both sha256s', ws.track(async () => {
    const p = await prepareRun({ ...base(), logicalDate: '2026-01-07' });
    await p.planned;
    fs.writeFileSync(modelCopy, otherModelBytes());
    try {
      const [run] = await query<{ model_sha256: string }>(ws.db.url, `SELECT model_sha256 FROM batchinfer.runs WHERE run_id = $1`, [p.run.runId]);
      await expect(openChunkContext(ws.db.url, p.run.runId, 'test')).rejects.toThrow(new RegExp(`has sha256 [0-9a-f]{64}, but the run was planned with sha256 ${run.model_sha256}`));
    } finally {
      fs.copyFileSync(typedModel, modelCopy);
      await p.ownerClient.end();
    }
  }));

  it('a worker whose CSV differs from the planned one (size or modification time) refuses the run naming both', ws.track(async () => {
    const p = await prepareRun({ ...base(), logicalDate: '2026-01-08' });
    await p.planned;
    const csv = path.join(ws.tmp.dir, 'data.csv');
    const st = fs.statSync(csv);
    try {
      fs.utimesSync(csv, st.atime, new Date(st.mtimeMs + 60_000));
      await expect(openChunkContext(ws.db.url, p.run.runId, 'test')).rejects.toThrow(
        new RegExp(`the input .*data\\.csv here is ${st.size} bytes, modified .+, but the run was planned on ${st.size} bytes, modified .+: it changed since`),
      );
    } finally {
      fs.utimesSync(csv, st.atime, st.mtime);
      await p.ownerClient.end();
    }
  }));

  it('the ledger keeps paths relative to the project and no source password; a ledger newer than this binary is refused', ws.track(async () => {
    const [r] = await query<{ model_path: string; spec: { model: { path: string }; source: { path: string }; specPath: string } }>(ws.db.url, `SELECT model_path, spec FROM batchinfer.runs WHERE job = 'own' ORDER BY run_id LIMIT 1`);
    expect(r.model_path).toBe('model.onnx');
    expect(r.spec.model.path).toBe('model.onnx');
    expect(r.spec.source.path).toBe('data.csv');
    expect(r.spec.specPath).toBe('own.yaml');
    const c = await connectPg(ws.db.url, { purpose: 'test' });
    try {
      await c.query(`INSERT INTO batchinfer.schema_migrations (version, name) VALUES (999, 'from the future')`);
      await expect(migrate(c)).rejects.toThrow(/at version 999, newer than this batchinfer knows \(version \d+\); upgrade batchinfer/);
      await c.query(`DELETE FROM batchinfer.schema_migrations WHERE version = 999`);
    } finally {
      await c.end();
    }
  }));
});

describe('rows read against rows planned', () => {
  it('a Postgres chunk whose rows changed since planning (no snapshot to read in) fails loudly with both counts, writing nothing', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.moving AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c FROM generate_series(1, 1000) i`);
    const pgSpec = loadSpec(writeSpec(ws.tmp.dir, 'moving.yaml', typedSpec({ name: 'moving', source: { postgres: { query: 'SELECT id, a, b, c FROM public.moving' } }, key_type: 'bigint', sink: { table: 'scores.moving' }, chunk_rows: 500 })), ws.tmp.dir);
    const p = await prepareRun({ spec: pgSpec, trigger: 'manual', databaseUrl: ws.db.url, logicalDate: '2026-01-09' });
    await p.planned;
    await p.closePlanner(); // the planner's snapshot is gone, as for a queued run read by workers
    await query(ws.db.url, `DELETE FROM public.moving WHERE id % 10 = 0 AND id <= 500`);
    const ctx = await openChunkContext(ws.db.url, p.run.runId, 'test');
    try {
      await expect(processChunk(ctx, 0)).rejects.toThrow(/^chunk 0: planned 500 rows but read 450: the input changed since the run was planned/);
      const [n] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.moving WHERE run_id = $1`, [p.run.runId]);
      expect(n.n).toBe(0);
    } finally {
      await closeChunkContext(ctx);
      await p.ownerClient.end();
    }
  }));
});
