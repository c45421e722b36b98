import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';
import { dropQueueKeys, redisAvailable, redisUrl } from '../support/queue.js';
import { startCommand, type EventProc } from '../support/scheduler.js';

/**
 * The scheduler as users run it: real processes, real PostgreSQL, and (for the replicas) real Redis
 * and a worker. Crons with seconds keep the real clock's waits short.
 */
const ws = testWorkspace('scheduler-cli');
const queueName = `bi-sched-${process.pid}-${Date.now()}`;
let haveRedis = false;
const procs: EventProc[] = [];

beforeAll(async () => {
  haveRedis = await redisAvailable();
  const lines = ['id,a,b,c'];
  for (let i = 0; i < 60; i++) lines.push(`${i},${i % 7},${i % 3},1`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  // The project root (the folder holding jobs/): queued runs' paths are relative to it, for any worker.
  fs.mkdirSync(path.join(ws.tmp.dir, 'jobs'));
});

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

function jobsDir(name: string): string {
  const dir = path.join(ws.tmp.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A spec in `dir` reading ../data.csv. */
function spec(dir: string, name: string, schedule: Record<string, unknown> | undefined, over: Record<string, unknown> = {}): string {
  return writeSpec(dir, `${name}.yaml`, typedSpec({ name, key_type: 'bigint', source: { csv: { path: '../data.csv' } }, sink: { table: `scores.${name.replaceAll('-', '_')}` }, chunk_rows: 30, ...(schedule ? { schedule } : {}), ...over }));
}

function start(args: string[], env: Record<string, string | undefined>): EventProc {
  const p = startCommand(args, env, ws.tmp.dir);
  procs.push(p);
  return p;
}

const dbEnv = () => ({ DATABASE_URL: ws.db.url, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: '1' });

async function until(cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('batchinfer scheduler', () => {
  it('two scheduler processes on one Redis and PostgreSQL: each tick of an every-3-seconds job gets exactly one run, all succeeded', ws.track(async () => {
    if (!haveRedis) return;
    const dir = jobsDir('replicas');
    spec(dir, 'twin', { cron: '*/3 * * * * *', overlap: 'queue' });
    const env = { ...dbEnv(), REDIS_URL: redisUrl, BATCHINFER_QUEUE_NAME: queueName };
    const worker = start(['worker', '--concurrency', '1'], env);
    await worker.waitFor((e) => e.event === 'worker start');
    const a = start(['scheduler', '--jobs', dir], env);
    const b = start(['scheduler', '--jobs', dir], env);
    const both = await Promise.all([a, b].map((p) => p.waitFor((e) => e.event === 'job scheduled')));
    expect(both[0]).toMatchObject({ job: 'twin', cron: '*/3 * * * * *', timezone: 'UTC' });
    // Three ticks after both are up.
    const created = () => [...a.events, ...b.events].filter((e) => e.event === 'tick' && e.action === 'created');
    await until(async () => created().length >= 3, 60_000);
    for (const p of [a, b]) p.child.kill('SIGTERM');
    const exits = await Promise.all([a.exited, b.exited]);
    expect(exits.map((x) => x.code)).toEqual([0, 0]);
    for (const p of [a, b]) expect(p.events.at(-1)).toMatchObject({ event: 'scheduler stop' });
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM batchinfer.runs WHERE job = 'twin' AND status IN ('queued', 'running')`)).length === 0);
    const runs = await query<{ scheduled_for: Date; n: number; ok: number }>(
      ws.db.url,
      `SELECT scheduled_for, count(*)::int AS n, count(*) FILTER (WHERE status = 'succeeded' AND rows_read = 60)::int AS ok FROM batchinfer.runs WHERE job = 'twin' GROUP BY scheduled_for ORDER BY scheduled_for`,
    );
    expect(runs.length).toBeGreaterThanOrEqual(3);
    for (const r of runs) expect(r, `tick ${r.scheduled_for.toISOString()}`).toMatchObject({ n: 1, ok: 1 });
    // Every tick both replicas saw: one created it, the other found it created.
    const byTick = new Map<string, string[]>();
    for (const e of [...a.events, ...b.events].filter((x) => x.event === 'tick')) byTick.set(String(e.tick), [...(byTick.get(String(e.tick)) ?? []), String(e.action)]);
    const seenByBoth = [...byTick.values()].filter((v) => v.length === 2);
    expect(seenByBoth.length).toBeGreaterThanOrEqual(2);
    for (const v of seenByBoth) expect(v.sort()).toEqual(['created', 'exists']);
    expect(runs.length).toBe(byTick.size);
    // The log line of a created tick: job, tick time, logical date, run id.
    expect(created()[0]).toMatchObject({ level: 'info', job: 'twin', tick: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/), logical_date: expect.stringMatching(/^\d{4}-\d\d-\d\d$/), run_id: expect.any(Number) });
  }), 150_000);

  it('a queued backfill: its chunks wait behind scheduled and manual runs\' (priority 10), and it ends when the workers finish it', ws.track(async () => {
    if (!haveRedis) return;
    const dir = jobsDir('queued-backfill');
    const file = spec(dir, 'qbf', undefined);
    await dropQueueKeys(`${queueName}-bf`);
    const env = { ...dbEnv(), REDIS_URL: redisUrl, BATCHINFER_QUEUE_NAME: `${queueName}-bf` };
    const bf = start(['backfill', file, '--from', '2026-10-01', '--to', '2026-10-03', '--max-active', '3', '--json'], env);
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM batchinfer.runs WHERE job = 'qbf' AND status = 'queued' AND planned`)).length === 3, 60_000);
    const redis = new Redis(redisUrl);
    const queue = new Queue(`${queueName}-bf`, { connection: redis });
    try {
      const jobs = await queue.getJobs(['prioritized', 'waiting']);
      expect(jobs.length).toBe(6); // 3 runs x 2 chunks
      expect(new Set(jobs.map((j) => j.opts.priority))).toEqual(new Set([10]));
    } finally {
      await queue.close();
      redis.disconnect();
    }
    start(['worker', '--concurrency', '1'], env);
    const end = await bf.exited;
    expect(end.code, bf.output()).toBe(0);
    const out = JSON.parse(bf.output().trim().split('\n').at(-1)!) as { succeeded: number; runs: number; dates: { status: string }[] };
    expect(out).toMatchObject({ succeeded: 3, runs: 3 });
    await dropQueueKeys(`${queueName}-bf`);
  }), 150_000);

  it('without Redis it scores in process: a succeeded run per tick; SIGHUP adds a new spec, keeps a job whose spec broke, and SIGTERM stops cleanly', ws.track(async () => {
    const dir = jobsDir('inline');
    spec(dir, 'solo', { cron: '*/2 * * * * *' });
    spec(dir, 'adhoc', undefined);
    const p = start(['scheduler', '--jobs', dir], dbEnv());
    expect(await p.waitFor((e) => e.event === 'scheduler start')).toMatchObject({ mode: 'inline', jobs: 1 });
    expect(await p.waitFor((e) => e.event === 'not scheduled')).toMatchObject({ job: 'adhoc', why: expect.stringContaining('no schedule') });
    const done = await p.waitFor((e) => e.event === 'run finished' && e.job === 'solo', 30_000);
    expect(done).toMatchObject({ status: 'succeeded', rows_read: 60, rows_scored: 60 });
    // The run's lines name its tick as the tick line does, so one grep finds all three.
    const ticked = await p.waitFor((e) => e.event === 'tick' && e.run_id === done.run);
    expect(done.tick).toBe(ticked.tick);
    const [row] = await query<{ trigger: string; status: string; scheduled_for: Date | null }>(ws.db.url, `SELECT trigger, status, scheduled_for FROM batchinfer.runs WHERE run_id = $1`, [done.run]);
    expect(row).toMatchObject({ trigger: 'schedule', status: 'succeeded' });
    expect(row.scheduled_for).toBeInstanceOf(Date);

    spec(dir, 'second', { cron: '*/2 * * * * *' });
    p.child.kill('SIGHUP');
    expect(await p.waitFor((e) => e.event === 'reload')).toMatchObject({ added: ['second'], removed: [], changed: [], kept: [] });
    await p.waitFor((e) => e.event === 'run finished' && e.job === 'second', 30_000);

    fs.writeFileSync(path.join(dir, 'solo.yaml'), fs.readFileSync(path.join(dir, 'solo.yaml'), 'utf8').replace(/cron: .*/, 'cron: every minute'));
    p.child.kill('SIGHUP');
    const bad = await p.waitFor((e) => e.event === 'spec error' && String(e.file).endsWith('solo.yaml'));
    expect(bad).toMatchObject({ level: 'warn', error: expect.stringMatching(/solo\.yaml: schedule\.cron: is not a valid cron expression/), action: 'job solo keeps its previous version until the spec is fixed' });
    expect(await p.waitFor((e) => e.event === 'reload' && Array.isArray(e.kept) && (e.kept as string[]).length > 0)).toMatchObject({ kept: ['solo'], removed: [] });
    const ticksBefore = p.events.filter((e) => e.event === 'tick' && e.job === 'solo').length;
    await until(async () => p.events.filter((e) => e.event === 'tick' && e.job === 'solo').length > ticksBefore, 20_000);

    p.child.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit.code, p.output()).toBe(0);
    expect(p.output()).not.toMatch(stackFrame);
    expect(p.events.at(-1)).toMatchObject({ event: 'scheduler stop' });
    // Nothing left active: a run in flight at SIGTERM ended cancelled (the next start resumes it).
    const [active] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs WHERE job IN ('solo', 'second') AND status IN ('queued', 'running')`);
    expect(active.n).toBe(0);
  }), 150_000);

  it('a tick whose run cannot be created (its input file is missing) is one warn line with the error; schedule shows it', ws.track(async () => {
    const dir = jobsDir('missing-input');
    spec(dir, 'late-export', { cron: '*/2 * * * * *' }, { source: { csv: { path: '../exports/{{ds}}.csv' } } });
    const p = start(['scheduler', '--jobs', dir], dbEnv());
    const bad = await p.waitFor((e) => e.event === 'tick' && e.job === 'late-export', 30_000);
    expect(bad).toMatchObject({ level: 'warn', action: 'error', run_id: null, error: expect.stringMatching(/late-export\.yaml: source\.csv\.path: exports\/\d{4}-\d\d-\d\d\.csv does not exist \(yet\): the input for this date is not ready/) });
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    const shown = await runCli(['schedule', '--jobs', dir], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(shown.stdout).toMatch(/ {2}last scheduled run: none yet\n {2}last tick that could not create its run: \S+: .*does not exist \(yet\)/);
  }), 60_000);

  it('schedule: each job\'s cron, timezone, next three ticks with their logical dates and its last scheduled run', ws.track(async () => {
    const dir = jobsDir('listing');
    spec(dir, 'nightly', { cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    spec(dir, 'hourly', { cron: '0 * * * *', logical_date: 'tick_date', overlap: 'queue', catchup: true, catchup_limit: 3 });
    spec(dir, 'adhoc', undefined);
    const r = await runCli(['schedule', '--jobs', dir, '--json'], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(r.code, r.stderr).toBe(0);
    const jobs = JSON.parse(r.stdout) as { job: string; next: { tick: string; logical_date: string }[]; last_run: unknown; overlap_skips: number; overlap: string; catchup: boolean; catchup_limit: number; logical_date: string }[];
    expect(jobs.map((j) => j.job)).toEqual(['hourly', 'nightly']);
    const nightly = jobs[1];
    expect(nightly).toMatchObject({ last_run: null, overlap_skips: 0, logical_date: 'previous_day', overlap: 'skip', catchup: false, catchup_limit: 7 });
    expect(nightly.next).toHaveLength(3);
    for (const n of nightly.next) {
      expect(n.tick).toMatch(/T02:00:00\+0[12]:00$/);
      const day = new Date(Date.parse(`${n.tick.slice(0, 10)}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
      expect(n.logical_date).toBe(day);
    }
    expect(jobs[0]).toMatchObject({ logical_date: 'tick_date', overlap: 'queue', catchup: true, catchup_limit: 3 });
    for (const n of jobs[0].next) expect(n.logical_date).toBe(n.tick.slice(0, 10));

    const human = await runCli(['schedule', '--jobs', dir], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^nightly {2}\(.*nightly\.yaml\)\n {2}cron "0 2 \* \* \*" in Europe\/Berlin; logical_date previous_day; overlap skip; catchup off\n {2}next: \S+ \(for \d{4}-\d\d-\d\d\), /m);
    expect(human.stdout).toMatch(/ {2}last scheduled run: none yet/);
    expect(human.stdout).toMatch(/adhoc\.yaml: job adhoc has no schedule; not scheduled/);

    // After the inline test above: solo's last scheduled run.
    const solo = await runCli(['schedule', '--jobs', jobsDir('inline'), '--json'], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(solo.code).toBe(2); // solo.yaml is broken now: named on stderr
    expect(solo.stderr).toMatch(/solo\.yaml: schedule\.cron: is not a valid cron expression/);
    const listed = JSON.parse(solo.stdout) as { job: string; last_run: { status: string } | null }[];
    expect(listed.find((j) => j.job === 'second')?.last_run).toMatchObject({ status: expect.stringMatching(/^(succeeded|cancelled)$/) });
  }), 120_000);

  it('bad schedules: one line each naming the file and key (exit 2); a spec without a schedule is only a note', ws.track(async () => {
    const dir = jobsDir('broken');
    spec(dir, 'cron', { cron: '0 25 * * *' });
    spec(dir, 'zone', { cron: '0 2 * * *', timezone: 'Mars/Olympus_Mons' });
    spec(dir, 'limit', { cron: '0 2 * * *', catchup: true, catchup_limit: 0 });
    spec(dir, 'policy', { cron: '0 2 * * *', overlap: 'wait', logical_date: 'yesterday' });
    spec(dir, 'plain', undefined);
    const r = await runCli(['scheduler', '--jobs', dir], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(stackFrame);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^(batchinfer: )?broken\/cron\.yaml: schedule\.cron: is not a valid cron expression/),
        expect.stringMatching(/broken\/limit\.yaml: schedule\.catchup_limit: must be a whole number >= 1/),
        expect.stringMatching(/broken\/policy\.yaml: schedule\.overlap: must be skip \(the default: no run while the previous one is active\) or queue/),
        expect.stringMatching(/broken\/policy\.yaml: schedule\.logical_date: must be previous_day .* or tick_date/),
        expect.stringMatching(/broken\/zone\.yaml: schedule\.timezone: is not a known IANA timezone/),
        expect.stringMatching(/--jobs .*broken: no job spec there has a valid schedule/),
      ]),
    );
    // schedule over the same folder: the jobs have schedules, their specs do not load; it says which.
    const listed = await runCli(['schedule', '--jobs', dir], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(listed.code).toBe(2);
    expect(listed.stdout.trim().split('\n')[0]).toBe(`no job in ${dir} has a schedule that loads (4 specs could not be loaded: fix what is said above)`);
    const missing = await runCli(['scheduler', '--jobs', 'no-such-dir'], { cwd: ws.tmp.dir, env: dbEnv() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^batchinfer: --jobs no-such-dir: cannot read the folder \(ENOENT\)/);
  }), 60_000);
});
