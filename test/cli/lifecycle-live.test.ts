import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { tryHoldRun } from '../../src/runs/claim-run.js';
import { bin, runCli, type CliResult, cliEnv } from '../support/cli.js';
import { freshDatabase, query } from '../support/database.js';
import { dropWithin, stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * status and cancel of runs that are not finished: one killed with SIGKILL (stale: no live owner), one
 * running in another process (cancelled through its owner's heartbeat).
 */
const ws = testWorkspace('lifecycle-live');
const CSV_ROWS = 300_000;
const CSV_CHUNK_ROWS = 10_000;
/** The slow job: each chunk's query sleeps SLEEP_S, so the run lasts SLOW_CHUNKS * SLEEP_S with one thread. */
const SLOW_CHUNKS = 30;
const SLOW_CHUNK_ROWS = 100;
const SLEEP_S = 0.5;
let cli: (args: string[]) => Promise<CliResult>;

beforeAll(async () => {
  cli = (args) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 60_000 });
  const parts: string[] = ['id,a,b,c\n'];
  for (let i = 0; i < CSV_ROWS; i++) parts.push(`${i},${(i % 97) / 8},${(i % 89) - 40},${(i % 13) * 1.5}\n`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), parts.join(''));
  writeSpec(ws.tmp.dir, 'big.yaml', typedSpec({ name: 'big', key_type: 'bigint', sink: { table: 'scores.big' }, batch_size: 1000, chunk_rows: CSV_CHUNK_ROWS }));
  await query(ws.db.url, `CREATE TABLE public.feats AS SELECT i AS id, (i % 7)::float8 AS a, (i % 5)::float8 AS b, 1.5::float8 AS c FROM generate_series(1, ${SLOW_CHUNKS * SLOW_CHUNK_ROWS}) i`);
  writeSpec(
    ws.tmp.dir,
    'slow.yaml',
    typedSpec({
      name: 'slow',
      // An uncorrelated subquery runs once per query: each chunk's read (and the planner's pass) sleeps once.
      source: { postgres: { query: `SELECT id, a, b, c FROM public.feats WHERE (SELECT pg_sleep(${SLEEP_S})) IS NOT NULL` } },
      key_type: 'bigint',
      sink: { table: 'scores.slow' },
      chunk_rows: SLOW_CHUNK_ROWS,
    }),
  );
});

/** Start `batchinfer run` in the background; resolves the run id once the ledger shows `chunks` done chunks of it. */
function startRun(spec: string, date: string) {
  const env: NodeJS.ProcessEnv = cliEnv({ DATABASE_URL: ws.db.url });
  delete env.DEBUG;
  const child: ChildProcess = spawn(process.execPath, [bin, 'run', spec, '--threads', '1', '--date', date], { cwd: ws.tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const job = spec.replace('.yaml', '');
  const chunksDone = async (chunks: number): Promise<number> => {
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const rows = await query<{ run_id: string; done: number }>(
        ws.db.url,
        `SELECT r.run_id, count(*) FILTER (WHERE c.status = 'done')::int AS done FROM batchinfer.runs r JOIN batchinfer.chunks c USING (run_id) WHERE r.job = $1 AND r.logical_date = $2 GROUP BY r.run_id`,
        [job, date],
      ).catch(() => []);
      if (rows[0] && rows[0].done >= chunks) return Number(rows[0].run_id);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${chunks} chunks of ${job} done in 40 s (exit ${child.exitCode}): ${stdout}${stderr}`);
  };
  return { child, exited, chunksDone };
}

const ledgerRun = async (runId: number) =>
  (await query<{ status: string; rows_read: string; error: string | null; done: number; done_rows: string }>(
    ws.db.url,
    `SELECT r.status, r.rows_read, r.error, (SELECT count(*)::int FROM batchinfer.chunks WHERE run_id = r.run_id AND status = 'done') AS done,
            (SELECT coalesce(sum(rows_read), 0) FROM batchinfer.chunks WHERE run_id = r.run_id AND status = 'done') AS done_rows
       FROM batchinfer.runs r WHERE run_id = $1`,
    [runId],
  ))[0];

describe('status and cancel of unfinished runs', () => {
  it('a run killed with SIGKILL shows stale with how to resume; cancel marks it cancelled; running it again resumes it', ws.track(async () => {
    const run = startRun('big.yaml', '2026-06-01');
    const runId = await run.chunksDone(1);
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    const pid = run.child.pid!;

    // Another database of the same server whose session holds the lock of a run with the same id: not this run's owner.
    const other = await freshDatabase('lifecycle_live_other');
    const holder = new pg.Client({ connectionString: other.url });
    await holder.connect();
    try {
      expect(await tryHoldRun(holder, runId)).toBe(true);
      const out = (await cli(['status', String(runId)])).stdout;
      expect(out).toMatch(new RegExp(`^status +stale: the ledger says running, but its owner \\(inline .+ pid ${pid}\\) is gone, last heartbeat [\\d.]+s ago; run the same job and date again to resume it$`, 'm'));
      expect(out).not.toMatch(/rows\/s|ETA/);
      const s = JSON.parse((await cli(['status', String(runId), '--json'])).stdout);
      const ledger = await ledgerRun(runId);
      expect(s).toMatchObject({ run_id: runId, job: 'big', logical_date: '2026-06-01', trigger: 'manual', status: 'running', stale: true, owner: expect.stringMatching(new RegExp(` pid ${pid}$`)), chunks_done: ledger.done, rows_read: Number(ledger.done_rows), rows_per_s: null, eta_s: null });
      expect(s.rows_read).toBeGreaterThanOrEqual(CSV_CHUNK_ROWS);
      // Killed while planning may still have been going on: the chunks planned so far.
      expect(s.chunks_total).toBeGreaterThanOrEqual(ledger.done);
      expect(s.chunks_total).toBeLessThanOrEqual(CSV_ROWS / CSV_CHUNK_ROWS);
    } finally {
      await holder.end();
      await dropWithin(other);
    }
    const latest = (await cli(['status'])).stdout;
    expect(latest).toMatch(new RegExp(`^big +${runId} +2026-06-01 +manual +stale `, 'm'));
    expect(latest).toMatch(new RegExp(`^stale: the owner of run ${runId} is gone; run the same job and date again to resume it$`, 'm'));
    expect((await cli(['runs'])).stdout).toMatch(new RegExp(`^ *${runId} +big +2026-06-01 +manual +stale `, 'm'));

    const cancel = await cli(['cancel', String(runId)]);
    expect([cancel.code, cancel.stderr]).toEqual([0, '']);
    expect(cancel.stdout).toMatch(new RegExp(`^run ${runId} cancelled: its owner \\(inline .+ pid ${pid}\\) was gone; run the same job and date again to resume it\\n$`));
    const after = await ledgerRun(runId);
    expect(after).toMatchObject({ status: 'cancelled', rows_read: after.done_rows });
    expect(after.error).toMatch(/^cancelled by batchinfer cancel while its owner .* was gone/);
    expect(JSON.parse((await cli(['status', String(runId), '--json'])).stdout)).toMatchObject({ status: 'cancelled', stale: false, rows_read: Number(after.done_rows) });

    const again = await runCli(['run', 'big.yaml', '--threads', '2', '--date', '2026-06-01', '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ run_id: runId, resumed: true, status: 'succeeded', rows_read: CSV_ROWS });
  }), 120_000);

  it('a running run: status shows progress; cancel from another process ends it cancelled and its run command exits 1 saying why', ws.track(async () => {
    const run = startRun('slow.yaml', '2026-06-02');
    try {
      const runId = await run.chunksDone(2);
      const out = (await cli(['status', String(runId)])).stdout;
      expect(out).toMatch(/^status +running$/m);
      expect(out).toMatch(new RegExp(`^owner +inline .+ pid ${run.child.pid}, last heartbeat [\\d.]+s ago$`, 'm'));
      expect(out).toMatch(new RegExp(`^chunks +\\d+ of ${SLOW_CHUNKS} done$`, 'm'));
      expect(out).toMatch(/^rows +[\d,]+ read of 3,000 planned, [\d,]+ scored, 0 rejected$/m);
      expect(out).toMatch(/^speed +\d+ rows\/s, ETA \d+s$/m);
      const s = JSON.parse((await cli(['status', String(runId), '--json'])).stdout);
      expect(s).toMatchObject({ run_id: runId, status: 'running', stale: false, cancel_requested: false, chunks_total: SLOW_CHUNKS, rows_planned: SLOW_CHUNKS * SLOW_CHUNK_ROWS });
      // one thread, one sleep per chunk: at most SLOW_CHUNK_ROWS / SLEEP_S rows/s
      expect(s.rows_per_s).toBeGreaterThan(10);
      expect(s.rows_per_s).toBeLessThanOrEqual((1.5 * SLOW_CHUNK_ROWS) / SLEEP_S);
      expect(s.eta_s).toBeGreaterThan(0);

      // --wait with no time to wait: the request is made, the run is still active: exit 1.
      const quick = await cli(['cancel', String(runId), '--wait', '--timeout-ms', '0']);
      expect(quick.code, quick.stderr).toBe(1);
      expect(quick.stdout).toMatch(new RegExp(`^cancel requested for run ${runId} \\(running, owner inline .+ pid ${run.child.pid}\\): its owner stops it within a few seconds \\(chunks in flight commit\\)\\nrun ${runId} is still active after 0 ms; the cancel request stands\\n$`));
      expect(JSON.parse((await cli(['status', String(runId), '--json'])).stdout)).toMatchObject({ cancel_requested: true });

      const waited = await cli(['cancel', String(runId), '--wait', '--timeout-ms', '30000']);
      expect([waited.code, waited.stderr]).toEqual([0, '']);
      // the owner may have stopped it already by then
      expect(waited.stdout).toMatch(new RegExp(`^(cancel was already requested for run ${runId} \\(running, .+\\): its owner stops it .*\\nrun ${runId} cancelled|run ${runId} already cancelled; nothing to cancel)\\n$`));

      const ended = await run.exited;
      expect(ended.code, ended.stdout + ended.stderr).toBe(1);
      expect(ended.stderr).not.toMatch(stackFrame);
      expect(ended.stdout).toMatch(new RegExp(`^run ${runId} cancelled: .*\\nerror: cancelled \\(cancelled by batchinfer cancel\\) before all chunks were done; run again to resume$`, 'm'));
      const ledger = await ledgerRun(runId);
      expect(ledger).toMatchObject({ status: 'cancelled', rows_read: String(ledger.done * SLOW_CHUNK_ROWS) });
      expect(ledger.done).toBeLessThan(SLOW_CHUNKS);
    } finally {
      run.child.kill('SIGKILL');
    }
  }), 120_000);
});
