import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/execute/run-job.js';
import { RunBusyError } from '../../src/runs/claim-run.js';
import { CronSchedule } from '../../src/schedule/cron-schedule.js';
import { InlineBackend } from '../../src/scheduler/inline-backend.js';
import { Scheduler, type ScheduledJob, type SchedulerEvent } from '../../src/scheduler/scheduler.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import type { JobSpec, ScheduleSpec } from '../../src/spec/job-spec.js';
import { query } from '../support/database.js';
import { runCli } from '../support/cli.js';
import { FakeClock } from '../support/fake-clock.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * The scheduler's in-process backend on real PostgreSQL, driven by a controlled clock: runs are
 * created in the ledger once per tick, scored here, one at a time per job.
 */
const ws = testWorkspace('scheduler-inline');
const at = (iso: string) => Date.parse(iso);

beforeAll(() => {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < 300; i++) lines.push(`${i},${i % 7},${i % 3},1`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
});

function job(name: string, schedule: Record<string, unknown>, over: Record<string, unknown> = {}): ScheduledJob {
  const file = writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, key_type: 'bigint', sink: { table: `scores.${name.replaceAll('-', '_')}` }, chunk_rows: 100, schedule, ...over }));
  const spec = loadSpec(file, ws.tmp.dir) as JobSpec & { schedule: ScheduleSpec };
  return { spec, cron: CronSchedule.of(spec.schedule.cron, spec.schedule.timezone) };
}

function scheduler(clock: FakeClock) {
  const events: SchedulerEvent[] = [];
  const backend = new InlineBackend({ databaseUrl: ws.db.url, threads: 0, log: (e) => events.push(e) });
  const s = new Scheduler({ clock, backend, log: (e) => events.push(e) });
  return { s, backend, events, settle: () => s.idle(), ticks: () => events.filter((e) => e.event === 'tick') };
}

const runsOf = (job: string) =>
  query<{ run_id: string; trigger: string; status: string; logical_date: string; scheduled_for: string; interval: string; rows_read: string; started_at: Date | null; finished_at: Date | null }>(
    ws.db.url,
    `SELECT run_id, trigger, status, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS scheduled_for,
            to_char(data_interval_start AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || '..' || to_char(data_interval_end AT TIME ZONE 'UTC', 'MM-DD HH24:MI') AS interval, rows_read, started_at, finished_at
       FROM batchinfer.runs WHERE job = $1 ORDER BY run_id`,
    [job],
  );

/** Every chunk's COPY into this table takes at least `seconds` (a statement trigger sleeping in the server). */
async function slowTable(table: string, seconds: number): Promise<void> {
  await query(ws.db.url, `CREATE OR REPLACE FUNCTION public.sleep_${seconds * 10}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN NULL; END $$`);
  await query(ws.db.url, `CREATE TRIGGER slow AFTER INSERT ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION public.sleep_${seconds * 10}()`);
}

async function until(cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the scheduler, in process, on real PostgreSQL with a controlled clock', () => {
  it('a daily job down for 3 days catches up with exactly 3 runs, oldest first, all succeeded, each with its tick and data interval', ws.track(async () => {
    const spec = { cron: '0 2 * * *', timezone: 'Europe/Berlin', catchup: true };
    const clock = new FakeClock(at('2026-11-01T12:00:00Z'));
    const a = scheduler(clock);
    await a.s.start([job('daily', spec)]);
    await clock.advanceTo(at('2026-11-02T12:00:00Z'), a.settle);
    await a.backend.drained();
    await a.s.stop();
    // Down from 2 Nov 12:00 to 5 Nov 10:00 (Berlin): the ticks of 3, 4 and 5 Nov were missed.
    const later = new FakeClock(at('2026-11-05T09:00:00Z'));
    const b = scheduler(later);
    await b.s.start([job('daily', spec)]);
    await b.settle();
    await b.backend.drained();
    expect(b.events.find((e) => e.event === 'catch-up')).toMatchObject({ job: 'daily', missed: 3, runs: 3, skipped: 0 });
    const runs = await runsOf('daily');
    expect(runs.map((r) => [r.trigger, r.status, r.logical_date, r.scheduled_for, r.interval, r.rows_read])).toEqual([
      ['schedule', 'succeeded', '2026-11-01', '2026-11-02 01:00', '11-01 01:00..11-02 01:00', '300'],
      ['schedule', 'succeeded', '2026-11-02', '2026-11-03 01:00', '11-02 01:00..11-03 01:00', '300'],
      ['schedule', 'succeeded', '2026-11-03', '2026-11-04 01:00', '11-03 01:00..11-04 01:00', '300'],
      ['schedule', 'succeeded', '2026-11-04', '2026-11-05 01:00', '11-04 01:00..11-05 01:00', '300'],
    ]);
    expect(b.ticks().map((e) => [e.logical_date, e.catch_up, e.action])).toEqual([
      ['2026-11-02', true, 'created'],
      ['2026-11-03', true, 'created'],
      ['2026-11-04', true, 'created'],
    ]);
    // The latest view: one row per key and date.
    const [latest] = await query<{ n: number; keys: number }>(ws.db.url, `SELECT count(*)::int AS n, count(DISTINCT (id, logical_date))::int AS keys FROM scores.daily_latest`);
    expect(latest).toEqual({ n: 1200, keys: 1200 });
    await b.s.stop();
  }), 120_000);

  it('catchup_limit 2 after the same outage: 2 runs, the older tick logged as skipped', ws.track(async () => {
    const spec = { cron: '0 2 * * *', timezone: 'Europe/Berlin', catchup: true, catchup_limit: 2 };
    const clock = new FakeClock(at('2026-11-01T12:00:00Z'));
    const a = scheduler(clock);
    await a.s.start([job('limited', spec)]);
    await clock.advanceTo(at('2026-11-02T12:00:00Z'), a.settle);
    await a.backend.drained();
    await a.s.stop();
    const b = scheduler(new FakeClock(at('2026-11-05T09:00:00Z')));
    await b.s.start([job('limited', spec)]);
    await b.settle();
    await b.backend.drained();
    await b.s.stop();
    expect((await runsOf('limited')).map((r) => r.logical_date)).toEqual(['2026-11-01', '2026-11-03', '2026-11-04']);
    expect(b.events.find((e) => e.event === 'catch-up')).toMatchObject({ missed: 3, runs: 2, skipped: 1, skipped_from: '2026-11-03T02:00:00+01:00' });
  }), 120_000);

  it('two schedulers on one ledger with an every-minute job: each tick gets exactly one run, all succeeded', ws.track(async () => {
    const clock = new FakeClock(at('2026-11-01T12:00:30Z'));
    const [a, b] = [scheduler(clock), scheduler(clock)];
    const spec = { cron: '* * * * *', timezone: 'UTC', overlap: 'queue' };
    await a.s.start([job('twins', spec)]);
    await b.s.start([job('twins', spec)]);
    await clock.advanceTo(at('2026-11-01T12:03:30Z'), async () => void (await Promise.all([a.settle(), b.settle()])));
    await Promise.all([a.backend.drained(), b.backend.drained()]);
    await Promise.all([a.s.stop(), b.s.stop()]);
    const runs = await runsOf('twins');
    expect(runs.map((r) => [r.scheduled_for, r.status])).toEqual([
      ['2026-11-01 12:01', 'succeeded'],
      ['2026-11-01 12:02', 'succeeded'],
      ['2026-11-01 12:03', 'succeeded'],
    ]);
    const actions = [...a.ticks(), ...b.ticks()].map((e) => e.action).sort();
    expect(actions).toEqual(['created', 'created', 'created', 'exists', 'exists', 'exists']);
  }), 120_000);

  it('overlap skip: a tick while the previous run is running creates nothing, is logged and counted once (two replicas); overlap queue: created, scored after it', ws.track(async () => {
    // Create the result tables, then make every chunk's COPY slow.
    for (const name of ['skipper', 'queuer']) {
      const j = job(name, { cron: '* * * * *', timezone: 'UTC' });
      await runJob({ spec: j.spec, logicalDate: '2020-01-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
      await slowTable(`scores.${name}`, 0.4);
    }
    const clock = new FakeClock(at('2026-11-01T12:00:30Z'));
    const [a, b] = [scheduler(clock), scheduler(clock)];
    await a.s.start([job('skipper', { cron: '* * * * *', timezone: 'UTC' }), job('queuer', { cron: '* * * * *', timezone: 'UTC', overlap: 'queue' })]);
    await b.s.start([job('skipper', { cron: '* * * * *', timezone: 'UTC' })]);
    const both = async () => void (await Promise.all([a.settle(), b.settle()]));
    await clock.advanceTo(at('2026-11-01T12:01:00Z'), both);
    // The first tick's runs are running (3 chunks x 0.4 s): the next tick comes now.
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM batchinfer.runs WHERE scheduled_for IS NOT NULL AND status = 'running'`)).length === 2);
    await clock.advanceTo(at('2026-11-01T12:02:00Z'), both);
    const skipped = [...a.ticks(), ...b.ticks()].filter((e) => e.job === 'skipper' && e.tick === '2026-11-01T12:02:00+00:00');
    expect(skipped.map((e) => e.action)).toEqual(['skipped', 'skipped']);
    expect(skipped[0]).toMatchObject({ run_id: null, why: expect.stringMatching(/^run \d+ of the previous tick is still running \(overlap: skip\)$/) });
    const queued = a.ticks().find((e) => e.job === 'queuer' && e.tick === '2026-11-01T12:02:00+00:00')!;
    expect(queued).toMatchObject({ action: 'created', note: expect.stringMatching(/^waits for run \d+/) });
    await Promise.all([a.backend.drained(), b.backend.drained()]);
    await Promise.all([a.s.stop(), b.s.stop()]);
    const [counter] = await query<{ overlap_skips: string }>(ws.db.url, `SELECT overlap_skips FROM batchinfer.schedules WHERE job = 'skipper'`);
    expect(counter.overlap_skips).toBe('1');
    const skipperRuns = (await runsOf('skipper')).filter((r) => r.trigger === 'schedule');
    expect(skipperRuns.map((r) => [r.scheduled_for, r.status])).toEqual([['2026-11-01 12:01', 'succeeded']]);
    const queuerRuns = (await runsOf('queuer')).filter((r) => r.trigger === 'schedule');
    expect(queuerRuns.map((r) => [r.scheduled_for, r.status])).toEqual([
      ['2026-11-01 12:01', 'succeeded'],
      ['2026-11-01 12:02', 'succeeded'],
    ]);
    // one at a time per job in this process: the queued run started after the first ended
    expect(queuerRuns[1].started_at!.getTime()).toBeGreaterThanOrEqual(queuerRuns[0].finished_at!.getTime());
    // batchinfer schedule shows the skip count
    const shown = await runCli(['schedule', '--jobs', ws.tmp.dir], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(shown.stdout).toMatch(/^skipper {2}.*\n(?: {2}.*\n)* {2}ticks skipped because the previous run was still active \(overlap: skip\): 1, the last at 2026-11-01T12:02:00\+00:00$/m);
  }), 120_000);

  it('stopped mid-run: the run in flight ends cancelled, the waiting one too; the next start resumes both to succeeded', ws.track(async () => {
    const j = job('stopper', { cron: '* * * * *', timezone: 'UTC', overlap: 'queue' });
    await runJob({ spec: j.spec, logicalDate: '2020-01-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    await slowTable('scores.stopper', 0.3);
    const clock = new FakeClock(at('2026-11-01T12:00:30Z'));
    const a = scheduler(clock);
    await a.s.start([j]);
    await clock.advanceTo(at('2026-11-01T12:02:00Z'), a.settle);
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM batchinfer.chunks c JOIN batchinfer.runs r USING (run_id) WHERE r.job = 'stopper' AND r.trigger = 'schedule' AND c.status = 'done'`)).length > 0);
    await a.s.stop();
    expect((await runsOf('stopper')).filter((r) => r.trigger === 'schedule').map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    // A manual run of that date now is not blocked by them (they are not active) ...
    const b = scheduler(new FakeClock(at('2026-11-01T12:02:30Z')));
    await b.s.start([j]);
    await b.backend.drained();
    await b.s.stop();
    expect(b.events.find((e) => e.event === 'resuming runs')).toBeDefined();
    const after = (await runsOf('stopper')).filter((r) => r.trigger === 'schedule');
    expect(after.map((r) => [r.scheduled_for, r.status, r.rows_read])).toEqual([
      ['2026-11-01 12:01', 'succeeded', '300'],
      ['2026-11-01 12:02', 'succeeded', '300'],
    ]);
  }), 120_000);

  it('a manual run of a date whose scheduled run is active is refused; two scheduled runs of one date may be active; run still resumes its own date', ws.track(async () => {
    const j = job('mixed', { cron: '* * * * *', timezone: 'UTC', overlap: 'queue' });
    await runJob({ spec: j.spec, logicalDate: '2020-01-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    await slowTable('scores.mixed', 0.3);
    const clock = new FakeClock(at('2026-11-01T12:00:30Z'));
    const a = scheduler(clock);
    await a.s.start([j]);
    await clock.advanceTo(at('2026-11-01T12:01:00Z'), a.settle);
    await until(async () => (await query(ws.db.url, `SELECT 1 FROM batchinfer.runs WHERE job = 'mixed' AND scheduled_for IS NOT NULL AND status = 'running'`)).length === 1);
    await clock.advanceTo(at('2026-11-01T12:02:00Z'), a.settle);
    // Both ticks are for logical date 2026-10-31, and both are active (one running, one waiting).
    const [active] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs WHERE job = 'mixed' AND logical_date = '2026-10-31' AND status IN ('queued', 'running')`);
    expect(active.n).toBe(2);
    await expect(runJob({ spec: j.spec, logicalDate: '2026-10-31', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 })).rejects.toBeInstanceOf(RunBusyError);
    await a.backend.drained();
    await a.s.stop();
    const manual = await runJob({ spec: j.spec, logicalDate: '2026-10-31', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    expect(manual).toMatchObject({ status: 'succeeded', resumed: false, trigger: 'manual' });
    const [row] = await query<{ scheduled_for: string | null; interval: string }>(
      ws.db.url,
      `SELECT scheduled_for, to_char(data_interval_start AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || '..' || to_char(data_interval_end AT TIME ZONE 'UTC', 'MM-DD HH24:MI') AS interval FROM batchinfer.runs WHERE run_id = $1`,
      [manual.run_id],
    );
    // a date run covers what the schedule's ticks of that date cover: every minute of 1 Nov (UTC), from the tick before
    expect(row).toEqual({ scheduled_for: null, interval: '10-31 23:59..11-01 23:59' });
  }), 120_000);

  it('a Postgres source reads its tick\'s data interval: {{data_interval_start}} / {{data_interval_end}} bound as timestamptz', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.events (id bigint PRIMARY KEY, ts timestamptz NOT NULL, a real, b real, c real)`);
    // one row an hour from 31 Oct 00:00Z to 3 Nov 00:00Z
    await query(ws.db.url, `INSERT INTO public.events SELECT g, timestamptz '2026-10-31 00:00Z' + g * interval '1 hour', g % 5, 1, 2 FROM generate_series(0, 71) g`);
    const j = job('windowed', { cron: '0 2 * * *', timezone: 'Europe/Berlin' }, {
      source: { postgres: { query: 'SELECT id, a, b, c FROM public.events WHERE ts >= {{data_interval_start}} AND ts < {{data_interval_end}}' } },
    });
    const clock = new FakeClock(at('2026-11-01T12:00:00Z'));
    const a = scheduler(clock);
    await a.s.start([j]);
    await clock.advanceTo(at('2026-11-02T12:00:00Z'), a.settle);
    await a.backend.drained();
    await a.s.stop();
    const [run] = (await runsOf('windowed')).filter((r) => r.trigger === 'schedule');
    expect(run).toMatchObject({ status: 'succeeded', interval: '11-01 01:00..11-02 01:00', rows_read: '24' });
    const [span] = await query<{ lo: string; hi: string }>(ws.db.url, `SELECT min(id)::text AS lo, max(id)::text AS hi FROM scores.windowed WHERE run_id = $1`, [Number(run.run_id)]);
    expect(span).toEqual({ lo: '25', hi: '48' }); // 1 Nov 01:00Z .. 2 Nov 00:00Z
  }), 120_000);

  it('run for a date whose newest run is a finished scheduled one, while an older manual run of it is still marked running: that one is taken up, not a second active run', ws.track(async () => {
    const j = job('older-active', { cron: '0 2 * * *', timezone: 'UTC' });
    const template = await runJob({ spec: j.spec, logicalDate: '2020-01-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    const copy = (extra: string) =>
      `INSERT INTO batchinfer.runs (job, logical_date, trigger, status, model_path, model_version, model_sha256, result_table, source, source_fingerprint, spec, planned, started_at, owner, project_root, scheduled_for, data_interval_start, data_interval_end)
       SELECT job, '2026-11-01', ${extra}, model_path, model_version, model_sha256, result_table, source, source_fingerprint, spec, true, now(), 'inline gone pid 1', project_root, NULL, data_interval_start, data_interval_end
         FROM batchinfer.runs WHERE run_id = ${template.run_id} RETURNING run_id`;
    // a manual run killed long ago (no owner holds it), then a newer scheduled run of the same date that succeeded
    const [stale] = await query<{ run_id: string }>(ws.db.url, copy(`'manual', 'running'`));
    const [sched] = await query<{ run_id: string }>(ws.db.url, copy(`'schedule', 'succeeded'`));
    await query(ws.db.url, `UPDATE batchinfer.runs SET scheduled_for = '2026-11-02 02:00Z' WHERE run_id = $1`, [sched.run_id]);
    const o = await runJob({ spec: j.spec, logicalDate: '2026-11-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 0 });
    expect(o.status).toBe('succeeded');
    const [active] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs WHERE job = 'older-active' AND status IN ('queued', 'running')`);
    expect(active.n).toBe(0);
    const [old] = await query<{ status: string }>(ws.db.url, `SELECT status FROM batchinfer.runs WHERE run_id = $1`, [stale.run_id]);
    expect(old.status).not.toBe('running');
  }), 60_000);

  it('a scheduler killed mid-run (its connection gone, the run still marked running): the next start resumes the run to succeeded', ws.track(async () => {
    const j = job('killed', { cron: '0 2 * * *', timezone: 'UTC' });
    const { readyRun } = await import('../../src/execute/prepare-run.js');
    const { claimTick } = await import('../../src/runs/schedule-ledger.js');
    const { connectPg } = await import('../../src/db/connect.js');
    const c = await connectPg(ws.db.url, { purpose: 'test: a scheduler about to die' });
    const tick = '2026-11-02T02:00:00Z';
    const { want } = await readyRun(c, { spec: j.spec, logicalDate: '2026-11-01', trigger: 'schedule', databaseUrl: ws.db.url, scheduledFor: tick });
    const claim = await claimTick(c, { ...want, scheduledFor: tick }, { owner: 'inline other-host pid 4242', overlap: 'skip', catchUp: false, hold: true });
    expect(claim.kind).toBe('created');
    const runId = claim.kind === 'created' ? claim.run.runId : 0;
    await query(ws.db.url, `UPDATE batchinfer.runs SET status = 'running', started_at = now() WHERE run_id = $1`, [runId]);
    await c.end(); // kill -9: the connection and its lock are gone, the row still says running
    const b = scheduler(new FakeClock(at('2026-11-02T12:00:00Z')));
    await b.s.start([j]);
    await b.backend.drained();
    await b.s.stop();
    expect(b.events.find((e) => e.event === 'resuming runs')).toMatchObject({ job: 'killed', runs: [runId] });
    const [row] = await query<{ status: string; rows_read: string; owner: string }>(ws.db.url, `SELECT status, rows_read, owner FROM batchinfer.runs WHERE run_id = $1`, [runId]);
    expect(row).toMatchObject({ status: 'succeeded', rows_read: '300' });
    expect(row.owner).toMatch(/^inline .* pid \d+$/);
  }), 60_000);
});
