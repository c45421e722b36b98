import { describe, expect, it } from 'vitest';
import { backfillDates, planBackfill, type LatestRun } from '../../src/schedule/backfill-plan.js';
import { planCatchUp, splitDueTicks } from '../../src/schedule/catch-up.js';
import { CronSchedule } from '../../src/schedule/cron-schedule.js';
import { decideOverlap } from '../../src/schedule/overlap.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const daily = CronSchedule.of('0 2 * * *', 'Europe/Berlin');

describe('catch-up', () => {
  // last scheduled run: 1 Nov 02:00 Berlin; the scheduler comes back on 4 Nov at 10:00
  const lastHandled = at('2026-11-01T01:00:00Z');
  const now = at('2026-11-04T09:00:00Z');

  it('after a 3-day outage of a daily job: exactly 3 runs, oldest first', () => {
    const plan = planCatchUp({ schedule: daily, lastHandled, now, catchup: true, limit: 7 });
    expect(plan.run.map(iso)).toEqual(['2026-11-02T01:00:00.000Z', '2026-11-03T01:00:00.000Z', '2026-11-04T01:00:00.000Z']);
    expect(plan.skipped).toEqual({ count: 0, more: false });
  });

  it('catchup_limit keeps the newest missed ticks and skips the older ones', () => {
    const plan = planCatchUp({ schedule: daily, lastHandled, now, catchup: true, limit: 2 });
    expect(plan.run.map(iso)).toEqual(['2026-11-03T01:00:00.000Z', '2026-11-04T01:00:00.000Z']);
    expect(plan.skipped).toMatchObject({ count: 1, oldest: at('2026-11-02T01:00:00Z'), newest: at('2026-11-02T01:00:00Z') });
  });

  it('without catchup (the default) nothing is made up: the missed ticks are reported as skipped', () => {
    const plan = planCatchUp({ schedule: daily, lastHandled, now, catchup: false, limit: 7 });
    expect(plan.run).toEqual([]);
    expect(plan.skipped.count).toBe(3);
  });

  it('a job never scheduled before has missed nothing; a tick exactly at "now" counts as missed', () => {
    expect(planCatchUp({ schedule: daily, lastHandled: undefined, now, catchup: true, limit: 7 })).toEqual({ run: [], skipped: { count: 0, more: false } });
    expect(planCatchUp({ schedule: daily, lastHandled, now: at('2026-11-02T01:00:00Z'), catchup: true, limit: 7 }).run.map(iso)).toEqual(['2026-11-02T01:00:00.000Z']);
  });

  it('counts a huge backlog only up to a cap', () => {
    const everySecond = CronSchedule.of('* * * * * *', 'UTC');
    const plan = planCatchUp({ schedule: everySecond, lastHandled: at('2026-11-01T00:00:00Z'), now: at('2026-11-02T00:00:00Z'), catchup: true, limit: 3 });
    expect(plan.run).toHaveLength(3);
    expect(plan.skipped).toMatchObject({ count: 10_000, more: true });
  });

  it('ticks that came due together (a suspended process): the newest is live, older ones follow the policy', () => {
    expect(splitDueTicks([1, 2, 3, 4], true, 3)).toEqual({ live: 4, catchUp: [2, 3], skipped: [1] });
    expect(splitDueTicks([1, 2, 3, 4], false, 3)).toEqual({ live: 4, catchUp: [], skipped: [1, 2, 3] });
    expect(splitDueTicks([5], false, 7)).toEqual({ live: 5, catchUp: [], skipped: [] });
    expect(splitDueTicks([], true, 7)).toEqual({ live: undefined, catchUp: [], skipped: [] });
  });
});

describe('overlap', () => {
  const active = [{ runId: 7, status: 'running' as const }];
  it('skip: a tick while the previous run is active creates nothing and says which run blocked it', () => {
    expect(decideOverlap('skip', active, false)).toEqual({ create: false, blockedBy: 7, why: 'run 7 of the previous tick is still running (overlap: skip)' });
  });
  it('queue: the run is created anyway, alongside the active one', () => {
    expect(decideOverlap('queue', active, false)).toEqual({ create: true, alongside: 7 });
  });
  it('nothing active: created; a catch-up tick is always created', () => {
    expect(decideOverlap('skip', [], false)).toEqual({ create: true });
    expect(decideOverlap('skip', active, true)).toEqual({ create: true, alongside: 7 });
  });
});

describe('backfill plan (Airflow reprocess semantics)', () => {
  const dates = backfillDates('2026-11-01', '2026-11-06');
  const run = (runId: number, status: LatestRun['status'], extra: Partial<LatestRun> = {}): LatestRun => ({ runId, status, trigger: 'backfill', interrupted: false, ...extra });
  const latest = new Map<string, LatestRun>([
    ['2026-11-02', run(2, 'succeeded')],
    ['2026-11-03', run(3, 'failed')],
    ['2026-11-04', run(4, 'cancelled', { interrupted: false })],
    ['2026-11-05', run(5, 'running')],
    ['2026-11-06', run(6, 'cancelled', { interrupted: true })],
  ]);
  const actions = (reprocess: 'none' | 'failed' | 'completed') => planBackfill(dates, latest, reprocess).map((p) => `${p.date.slice(8)}:${p.action}`);

  it('lists the dates inclusive, or newest first', () => {
    expect(dates).toEqual(['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06']);
    expect(backfillDates('2026-02-27', '2026-03-01', true)).toEqual(['2026-03-01', '2026-02-28', '2026-02-27']);
  });

  it('none: only dates with no run (an interrupted backfill run is resumed, an active run is waited for, never started again)', () => {
    expect(actions('none')).toEqual(['01:create', '02:skip', '03:skip', '04:skip', '05:wait', '06:resume']);
  });

  it('failed: also dates whose latest run failed or was cancelled', () => {
    expect(actions('failed')).toEqual(['01:create', '02:skip', '03:rerun', '04:rerun', '05:wait', '06:resume']);
  });

  it('completed: every date, but never one whose run is still active', () => {
    expect(actions('completed')).toEqual(['01:create', '02:rerun', '03:rerun', '04:rerun', '05:wait', '06:resume']);
  });

  it('says why, naming the run', () => {
    const p = planBackfill(dates, latest, 'none');
    expect(p[2]).toEqual({ date: '2026-11-03', action: 'skip', runId: 3, status: 'failed', why: 'latest run 3 failed; --reprocess failed runs it again' });
    expect(p[4].why).toBe('run 5 is running: never started again; followed until it ends');
  });

  it('an interrupted manual run is not a backfill\'s to resume', () => {
    const p = planBackfill(['2026-11-06'], new Map([['2026-11-06', run(9, 'cancelled', { interrupted: true, trigger: 'manual' })]]), 'none');
    expect(p[0].action).toBe('skip');
  });
});
