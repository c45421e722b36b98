import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { stackFrame, tempDir } from '../support/jobs.js';
import { startCommand, type EventProc } from '../support/scheduler.js';

/**
 * The README's "Schedules and backfills" demo as a new user runs it, with no services: the embedded
 * PostgreSQL (its own BATCHINFER_HOME and port), no Redis, so the scheduler scores in its process. The
 * demo ticks every minute: this waits for the next minute to start (at most a minute).
 */
let home: ReturnType<typeof tempDir>;
let env: Record<string, string | undefined>;
let scheduler: EventProc | undefined;
let ok = false;

beforeAll(() => {
  home = tempDir('readme-schedule');
  fs.chmodSync(home.dir, 0o755); // the embedded server runs as `postgres` when root runs the tests
  env = { DATABASE_URL: undefined, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: '1', BATCHINFER_HOME: home.dir, BATCHINFER_PG_PORT: '56339' };
});

afterAll(async () => {
  if (scheduler && scheduler.child.exitCode === null) scheduler.child.kill('SIGKILL');
  const stop = await runCli(['db', 'stop'], { cwd: repoRoot, env, timeoutMs: 90_000 });
  if (stop.code !== 0) console.error(`db stop failed (${stop.code}): ${stop.stderr}`);
  if (ok) home.remove();
  else console.error(`left ${home.dir} for inspection`);
});

describe('README: schedule the demo every minute (embedded PostgreSQL, no Redis)', () => {
  it('the scheduler scores the demo at the next minute; batchinfer runs shows the scheduled run; schedule shows it as the last one', async () => {
    const readme = fs.readFileSync(`${repoRoot}/README.md`, 'utf8');
    // The commands the README shows are the ones run here.
    expect(readme).toContain('npx batchinfer scheduler --jobs jobs/every-minute');
    expect(readme).toContain('npx batchinfer runs --job wine-every-minute');
    expect(readme).toContain('npx batchinfer schedule --jobs jobs/every-minute');

    scheduler = startCommand(['scheduler', '--jobs', 'jobs/every-minute'], env, repoRoot);
    const scheduled = await scheduler.waitFor((e) => e.event === 'job scheduled', 60_000);
    expect(scheduled).toMatchObject({ job: 'wine-every-minute', cron: '* * * * *', timezone: 'UTC' });
    const tick = await scheduler.waitFor((e) => e.event === 'tick', 75_000);
    expect(tick).toMatchObject({ job: 'wine-every-minute', action: 'created', run_id: expect.any(Number), tick: expect.stringMatching(/:00\+00:00$/) });
    const done = await scheduler.waitFor((e) => e.event === 'run finished' && e.run === tick.run_id, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', rows_read: 178, rows_scored: 178 });

    const runs = await runCli(['runs', '--job', 'wine-every-minute'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(runs.code, runs.stderr).toBe(0);
    const lines = runs.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN +JOB +DATE +TRIGGER +STATUS/);
    expect(lines.some((l) => new RegExp(`^ *${tick.run_id} +wine-every-minute +${tick.logical_date} +schedule +succeeded +178 `).test(l)), runs.stdout).toBe(true);

    const listing = await runCli(['schedule', '--jobs', 'jobs/every-minute'], { cwd: repoRoot, env, timeoutMs: 60_000 });
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout).toMatch(/last scheduled run: \d+ (succeeded|running|queued)/);

    scheduler.child.kill('SIGTERM');
    expect((await scheduler.exited).code, scheduler.output()).toBe(0);
    expect(scheduler.output()).not.toMatch(stackFrame);
    ok = true;
  }, 240_000);
});
