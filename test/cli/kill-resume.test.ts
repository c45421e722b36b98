import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, query } from '../support/database.js';
import { bin, runCli, cliEnv } from '../support/cli.js';
import { dropWithin, stackFrame, tempDir, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * Chaos: SIGKILL a run mid-flight (no chance to clean up), then run again. The second run resumes the
 * same run, redoes only the chunks that were not committed, and every row ends up exactly once.
 */
const ROWS = 300_000;
const CHUNK_ROWS = 10_000;
const CHUNKS = ROWS / CHUNK_ROWS;
const DATE = '2026-11-09';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: ReturnType<typeof tempDir>;
let specPath: string;
let ok = false;
beforeAll(async () => {
  db = await freshDatabase('kill_resume');
  tmp = tempDir('kill-resume');
  // Keys are the row numbers, so chunk i holds keys [i * CHUNK_ROWS, (i + 1) * CHUNK_ROWS).
  const parts: string[] = ['id,a,b,c,tag\n'];
  for (let i = 0; i < ROWS; i++) parts.push(`${i},${(i % 97) / 8},${(i % 89) - 40},${(i % 13) * 1.5},row-${i}\n`);
  fs.writeFileSync(path.join(tmp.dir, 'data.csv'), parts.join(''));
  specPath = writeSpec(tmp.dir, 'chaos.yaml', typedSpec({ name: 'chaos', key_type: 'bigint', passthrough: ['tag'], outputs: { s: { output: 'sum' }, cls: { output: 'cls' } }, sink: { table: 'scores.chaos' }, batch_size: 1000, chunk_rows: CHUNK_ROWS }));
});
afterAll(async () => {
  if (ok) {
    await dropWithin(db);
    tmp.remove();
  } else console.error(`left database ${db.url} and files in ${tmp.dir} for inspection`);
});

interface ChunkRow { chunk: number; status: string; attempts: number; worker: string | null; rows_scored: string }
const chunkRows = (runId: number) => query<ChunkRow>(db.url, 'SELECT chunk, status, attempts, worker, rows_scored FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk', [runId]);

describe('kill -9 mid-run, then run again', () => {
  it('resumes the same run, redoes only unfinished chunks, and leaves every row exactly once', async () => {
    const env = cliEnv({ DATABASE_URL: db.url, DEBUG: undefined });
    delete env.DEBUG;
    const child = spawn(process.execPath, [bin, 'run', specPath, '--json', '--threads', '2', '--date', DATE], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

    // Wait until a few chunks are committed, then kill without warning.
    let done = 0;
    let runId = 0;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const rows = await query<{ run_id: string; done: string }>(db.url, `SELECT r.run_id, count(*) FILTER (WHERE c.status = 'done') AS done FROM batchinfer.runs r JOIN batchinfer.chunks c USING (run_id) GROUP BY r.run_id`).catch(() => []);
      if (rows[0]) [runId, done] = [Number(rows[0].run_id), Number(rows[0].done)];
      if (done >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(child.exitCode, `the run ended before it could be killed (make the input bigger): ${out}`).toBeNull();
    expect(done, `no 3 chunks done in 40 s: ${out}`).toBeGreaterThanOrEqual(3);
    child.kill('SIGKILL');
    const killed = await exited;
    const killedAt = Date.now();
    expect(killed.signal).toBe('SIGKILL');

    const before = await chunkRows(runId);
    expect(before).toHaveLength(CHUNKS);
    const doneBefore = before.filter((c) => c.status === 'done');
    expect(doneBefore.length).toBeGreaterThanOrEqual(3);
    expect(doneBefore.length, 'every chunk was already done: nothing left to resume').toBeLessThan(CHUNKS);
    // Nothing of the unfinished chunks was committed: rows only for done chunks.
    const [partial] = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM scores.chaos WHERE run_id = $1', [runId]);
    expect(partial.n).toBe(doneBefore.length * CHUNK_ROWS);
    const [run1] = await query<{ status: string }>(db.url, 'SELECT status FROM batchinfer.runs WHERE run_id = $1', [runId]);
    expect(run1.status).toBe('running');

    const again = await runCli(['run', specPath, '--json', '--threads', '2', '--date', DATE], { cwd: tmp.dir, env: { DATABASE_URL: db.url, DEBUG: undefined }, timeoutMs: 45_000 });
    expect(again.signal, `the resumed run did not finish in 45 s: ${again.stderr}`).toBeNull();
    expect(again.stderr).not.toMatch(stackFrame);
    expect(again.code, again.stderr).toBe(0);
    const outcome = JSON.parse(again.stdout.trim()) as { run_id: number; status: string; resumed: boolean; rows_read: number; rows_scored: number; rows_rejected: number; chunks_total: number; chunks_done: number };
    expect(outcome).toMatchObject({ run_id: runId, status: 'succeeded', resumed: true, rows_read: ROWS, rows_scored: ROWS, rows_rejected: 0, chunks_total: CHUNKS, chunks_done: CHUNKS });

    const [all] = await query<{ n: number; d: number; lo: number; hi: number; runs: number }>(
      db.url,
      'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id)::int AS lo, max(id)::int AS hi, count(DISTINCT run_id)::int AS runs FROM scores.chaos',
    );
    expect(all).toEqual({ n: ROWS, d: ROWS, lo: 0, hi: ROWS - 1, runs: 1 });
    const [runs] = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM batchinfer.runs');
    expect(runs.n).toBe(1);

    // Chunks done before the kill were not touched again; the others were attempted once more.
    const after = await chunkRows(runId);
    expect(after).toHaveLength(CHUNKS);
    for (const [i, c] of after.entries()) {
      const b = before[i];
      expect(c.status).toBe('done');
      expect(Number(c.rows_scored)).toBe(CHUNK_ROWS);
      if (b.status === 'done') expect(c, `chunk ${i} was done before the kill`).toEqual(b);
      else expect(c.attempts, `chunk ${i}: attempts ${b.attempts} before the kill`).toBe(b.attempts + 1);
    }
    // The rows of chunks done before the kill are the original ones, not rewritten by the resumed run.
    const doneKeys = doneBefore.map((c) => c.chunk);
    const [old] = await query<{ n: number; newest: Date }>(
      db.url,
      `SELECT count(*)::int AS n, max(scored_at) AS newest FROM scores.chaos WHERE (id / ${CHUNK_ROWS})::int = ANY($1::int[])`,
      [doneKeys],
    );
    expect(old.n).toBe(doneKeys.length * CHUNK_ROWS);
    expect(old.newest.getTime()).toBeLessThanOrEqual(killedAt);
    // Spot-check a row from each side of the kill.
    const sample = await query<{ id: string; s: number; tag: string }>(db.url, 'SELECT id, s, tag FROM scores.chaos WHERE id IN (0, 123457, 299999) ORDER BY id');
    expect(sample.map((r) => r.id)).toEqual(['0', '123457', '299999']);
    for (const r of sample) {
      const i = Number(r.id);
      expect(r.tag).toBe(`row-${i}`);
      expect(r.s).toBeCloseTo((i % 97) / 8 + ((i % 89) - 40) + (i % 13) * 1.5, 3);
    }
    ok = true;
  }, 120_000);
});
