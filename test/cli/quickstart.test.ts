import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/database.js';
import { repoRoot, runCli } from '../support/cli.js';
import { stackFrame, tempDir } from '../support/jobs.js';
import { freePort } from '../support/ports.js';

/**
 * The quickstart with no services: DATABASE_URL and REDIS_URL unset, so `run` starts the embedded
 * server (in a fresh BATCHINFER_HOME, on its own port), which outlives the command until `db stop`.
 */
let home: ReturnType<typeof tempDir>;
let ok = false;
let env: Record<string, string | undefined>;
let port: number;
beforeAll(async () => {
  home = tempDir('quickstart');
  // Root runs the server as `postgres`, which must reach the data folder (mkdtemp makes it 0700).
  fs.chmodSync(home.dir, 0o755);
  env = { DATABASE_URL: undefined, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: undefined, BATCHINFER_HOME: home.dir, BATCHINFER_PG_PORT: String((port = await freePort())) };
});
afterAll(async () => {
  // Always stop the server this file started, pass or fail.
  const stop = await runCli(['db', 'stop'], { cwd: repoRoot, env, timeoutMs: 90_000 });
  if (stop.code !== 0) console.error(`db stop failed (${stop.code}): ${stop.stderr}`);
  if (ok) home.remove();
  else console.error(`left ${home.dir} for inspection`);
});

describe('quickstart (embedded PostgreSQL)', () => {
  it('before the first run, status, runs, prune and cancel say there is no database yet and create none', async () => {
    for (const args of [['status'], ['runs'], ['prune', '--dry-run']]) {
      const r = await runCli(args, { cwd: repoRoot, env, timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^no runs yet: no embedded database in \S+ \(the first `batchinfer run` creates it\); run commands from the project, the folder holding jobs\/, or set DATABASE_URL/);
      expect(r.stderr).not.toMatch(/initialising|starting embedded/);
    }
    const c = await runCli(['cancel', '5'], { cwd: repoRoot, env, timeoutMs: 30_000 });
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/run 5 is not in the ledger: no runs yet: no embedded database/);
    expect(fs.existsSync(`${home.dir}/embedded-postgres.json`)).toBe(false);
  }, 60_000);

  it('run jobs/wine.yaml scores 178 rows; db url/status find them; db stop stops the server', async () => {
    const run = await runCli(['run', 'jobs/wine.yaml', '--json', '--date', '2026-11-08'], { cwd: repoRoot, env, timeoutMs: 110_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(stackFrame);
    const outcome = JSON.parse(run.stdout.trim()) as { run_id: number; status: string; rows_scored: number; rows_read: number; result_table: string };
    expect(outcome).toMatchObject({ status: 'succeeded', rows_read: 178, rows_scored: 178, result_table: 'scores.wine' });
    // The embedded server's state lives in BATCHINFER_HOME.
    expect(fs.existsSync(`${home.dir}/embedded-postgres.json`)).toBe(true);

    const url = await runCli(['db', 'url'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(url.code, url.stderr).toBe(0);
    const dbUrl = url.stdout.trim();
    expect(dbUrl).toMatch(new RegExp(`^postgres(ql)?://\\S+:${port}/\\S+$`));
    const [n] = await query<{ n: number; runs: number }>(dbUrl, 'SELECT count(*)::int AS n, count(DISTINCT run_id)::int AS runs FROM scores.wine');
    expect(n).toEqual({ n: 178, runs: 1 });
    const [latest] = await query<{ n: number }>(dbUrl, 'SELECT count(*)::int AS n FROM scores.wine_latest');
    expect(latest.n).toBe(178);

    const status = await runCli(['db', 'status'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`embedded PostgreSQL: running on 127.0.0.1:${port}`);
    expect(status.stdout).not.toMatch(/using DATABASE_URL/);

    // A second run for the same date resumes nothing (the first succeeded): a new run, same server.
    const again = await runCli(['run', 'jobs/wine.yaml', '--json', '--date', '2026-11-08', '--threads', '1'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout.trim()) as { run_id: number; status: string; resumed: boolean; rows_scored: number };
    expect(second).toMatchObject({ status: 'succeeded', resumed: false, rows_scored: 178 });
    expect(second.run_id).toBeGreaterThan(outcome.run_id);

    const stop = await runCli(['db', 'stop'], { cwd: repoRoot, env, timeoutMs: 90_000 });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(/embedded PostgreSQL stopped/);
    const after = await runCli(['db', 'status'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(after.stdout).toMatch(/embedded PostgreSQL: stopped .*`batchinfer db start` starts it/);
    expect(after.stdout).not.toMatch(/postgres:\/\//); // no URL that nothing answers
    expect(after.code).toBe(3); // like pg_ctl status
    // db url only prints: it does not start a stopped server (exit 3 and how to start it).
    const stoppedUrl = await runCli(['db', 'url'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(stoppedUrl.code).toBe(3);
    expect(stoppedUrl.stderr).toMatch(/embedded PostgreSQL is stopped .*batchinfer db start/);
    ok = true;
  }, 240_000);
});
