import { describe, expect, it } from 'vitest';
import { CronSchedule } from '../../src/schedule/cron-schedule.js';
import { Scheduler, type ScheduledJob, type SchedulerBackend, type SchedulerEvent, type Tick, type TickOutcome } from '../../src/scheduler/scheduler.js';
import type { JobSpec, ScheduleSpec } from '../../src/spec/job-spec.js';
import { FakeClock } from '../support/fake-clock.js';

const at = (iso: string) => Date.parse(iso);

function job(name: string, schedule: Partial<ScheduleSpec> = {}, extra: Partial<JobSpec> = {}): ScheduledJob {
  const s: ScheduleSpec = { cron: '0 2 * * *', timezone: 'Europe/Berlin', logicalDate: 'previous_day', catchup: false, catchupLimit: 7, overlap: 'skip', ...schedule };
  const spec = { name, specPath: `/jobs/${name}.yaml`, specLabel: `jobs/${name}.yaml`, batchSize: 1024, ...extra, schedule: s } as unknown as JobSpec & { schedule: ScheduleSpec };
  return { spec, cron: CronSchedule.of(s.cron, s.timezone) };
}

/** A ledger in memory: one run per (job, tick), as the real ledger's unique index holds it. */
class MemoryBackend implements SchedulerBackend {
  runs = new Map<string, number>();
  submitted: Tick[] = [];
  errors: string[] = [];
  handled = new Map<string, number>();
  closed = 0;
  failNext?: string;
  private nextId = 1;

  constructor(private readonly shared?: MemoryBackend) {}

  private get store(): MemoryBackend {
    return this.shared ?? this;
  }

  async lastHandledTick(job: string) {
    return this.store.handled.get(job);
  }

  async submit(tick: Tick): Promise<TickOutcome> {
    this.submitted.push(tick);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw new Error(e);
    }
    const key = `${tick.job.spec.name}|${tick.scheduledFor}`;
    const had = this.store.runs.get(key);
    if (had !== undefined) return { action: 'exists', runId: had, why: 'created already' };
    const id = this.store.nextId++;
    this.store.runs.set(key, id);
    this.store.handled.set(tick.job.spec.name, Math.max(tick.at, this.store.handled.get(tick.job.spec.name) ?? 0));
    return { action: 'created', runId: id };
  }

  async recordError(tick: Tick, error: string) {
    this.errors.push(`${tick.scheduledFor}: ${error}`);
  }

  async resumeUnfinished() {
    return [];
  }

  async close() {
    this.closed++;
  }
}

function setup(start: string, backend = new MemoryBackend()) {
  const clock = new FakeClock(at(start));
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler({ clock, backend, log: (e) => events.push(e) });
  const settle = () => scheduler.idle();
  return { clock, events, scheduler, backend, settle, ticks: () => events.filter((e) => e.event === 'tick') };
}

describe('the scheduler core (controlled clock, no waiting)', () => {
  it('on each tick hands on the run for it (logical date, data interval) and logs one line: job, tick, logical date, run id', async () => {
    const s = setup('2026-11-01T12:00:00Z');
    await s.scheduler.start([job('nightly')]);
    expect(s.events.find((e) => e.event === 'job scheduled')).toMatchObject({ job: 'nightly', next: '2026-11-02T02:00:00+01:00', next_logical_date: '2026-11-01' });
    await s.clock.advanceTo(at('2026-11-04T12:00:00Z'), s.settle);
    expect(s.backend.submitted.map((t) => [t.scheduledFor, t.logicalDate, t.interval.start, t.catchUp])).toEqual([
      ['2026-11-02T01:00:00Z', '2026-11-01', '2026-11-01T01:00:00Z', false],
      ['2026-11-03T01:00:00Z', '2026-11-02', '2026-11-02T01:00:00Z', false],
      ['2026-11-04T01:00:00Z', '2026-11-03', '2026-11-03T01:00:00Z', false],
    ]);
    expect(s.ticks()).toEqual([
      { event: 'tick', job: 'nightly', tick: '2026-11-02T02:00:00+01:00', logical_date: '2026-11-01', catch_up: false, action: 'created', run_id: 1 },
      { event: 'tick', job: 'nightly', tick: '2026-11-03T02:00:00+01:00', logical_date: '2026-11-02', catch_up: false, action: 'created', run_id: 2 },
      { event: 'tick', job: 'nightly', tick: '2026-11-04T02:00:00+01:00', logical_date: '2026-11-03', catch_up: false, action: 'created', run_id: 3 },
    ]);
  });

  it('catch-up after a 3-day outage of a daily job: exactly 3 runs, oldest first, then live ticks', async () => {
    const backend = new MemoryBackend();
    backend.handled.set('nightly', at('2026-11-01T01:00:00Z'));
    const s = setup('2026-11-04T09:00:00Z', backend);
    await s.scheduler.start([job('nightly', { catchup: true })]);
    await s.settle();
    expect(backend.submitted.map((t) => [t.logicalDate, t.catchUp])).toEqual([
      ['2026-11-01', true],
      ['2026-11-02', true],
      ['2026-11-03', true],
    ]);
    expect(s.events.find((e) => e.event === 'catch-up')).toMatchObject({ job: 'nightly', missed: 3, runs: 3, skipped: 0 });
    await s.clock.advanceTo(at('2026-11-05T09:00:00Z'), s.settle);
    expect(backend.submitted.map((t) => [t.logicalDate, t.catchUp]).slice(3)).toEqual([['2026-11-04', false]]);
  });

  it('catchup_limit: the newest ticks get runs, the older ones are logged as skipped; catchup off: none', async () => {
    const limited = new MemoryBackend();
    limited.handled.set('nightly', at('2026-11-01T01:00:00Z'));
    const a = setup('2026-11-04T09:00:00Z', limited);
    await a.scheduler.start([job('nightly', { catchup: true, catchupLimit: 2 })]);
    await a.settle();
    expect(limited.submitted.map((t) => t.logicalDate)).toEqual(['2026-11-02', '2026-11-03']);
    expect(a.events.find((e) => e.event === 'catch-up')).toMatchObject({ missed: 3, runs: 2, skipped: 1, skipped_from: '2026-11-02T02:00:00+01:00', skipped_to: '2026-11-02T02:00:00+01:00' });

    const off = new MemoryBackend();
    off.handled.set('nightly', at('2026-11-01T01:00:00Z'));
    const b = setup('2026-11-04T09:00:00Z', off);
    await b.scheduler.start([job('nightly')]);
    await b.settle();
    expect(off.submitted).toEqual([]);
    expect(b.events.find((e) => e.event === 'catch-up')).toMatchObject({ catchup: false, missed: 3, runs: 0, skipped: 3, why: 'catchup is off: only future ticks run' });
  });

  it('a process suspended for 3 days wakes up to one live tick; the older due ticks follow the catch-up policy', async () => {
    const s = setup('2026-11-01T12:00:00Z');
    await s.scheduler.start([job('nightly')]);
    await s.clock.jumpTo(at('2026-11-04T12:00:00Z'), s.settle);
    expect(s.backend.submitted.map((t) => t.logicalDate)).toEqual(['2026-11-03']);
    expect(s.events.find((e) => e.event === 'ticks missed')).toMatchObject({ job: 'nightly', skipped: 2 });
  });

  it('two schedulers on one ledger: each tick gets exactly one run; the second logs it as created already', async () => {
    const ledger = new MemoryBackend();
    const clock = new FakeClock(at('2026-11-01T12:00:00Z'));
    const events: SchedulerEvent[][] = [[], []];
    const schedulers = [0, 1].map((i) => new Scheduler({ clock, backend: new MemoryBackend(ledger), log: (e) => events[i].push(e) }));
    for (const s of schedulers) await s.start([job('nightly', { cron: '* * * * *', timezone: 'UTC' })]);
    await clock.advanceTo(at('2026-11-01T12:03:00Z'), async () => void (await Promise.all(schedulers.map((s) => s.idle()))));
    expect([...ledger.runs.keys()]).toEqual(['nightly|2026-11-01T12:01:00Z', 'nightly|2026-11-01T12:02:00Z', 'nightly|2026-11-01T12:03:00Z']);
    const actions = (i: number) => events[i].filter((e) => e.event === 'tick').map((e) => e.action);
    expect([...actions(0), ...actions(1)].filter((a) => a === 'created')).toHaveLength(3);
    expect([...actions(0), ...actions(1)].filter((a) => a === 'exists')).toHaveLength(3);
  });

  it('a tick that cannot create its run is logged with the error and recorded; the next tick goes on', async () => {
    const s = setup('2026-11-01T12:00:00Z');
    await s.scheduler.start([job('nightly')]);
    s.backend.failNext = 'jobs/nightly.yaml: source.csv.path: cannot read data/2026-11-01.csv (ENOENT)';
    await s.clock.advanceTo(at('2026-11-03T12:00:00Z'), s.settle);
    expect(s.ticks().map((e) => e.action)).toEqual(['error', 'created']);
    expect(s.ticks()[0]).toMatchObject({ run_id: null, error: expect.stringContaining('ENOENT') });
    expect(s.backend.errors).toEqual(['2026-11-02T01:00:00Z: jobs/nightly.yaml: source.csv.path: cannot read data/2026-11-01.csv (ENOENT)']);
  });

  it('reload: added jobs start, removed ones stop, changed ones say what changed; a broken spec keeps its previous version', async () => {
    const s = setup('2026-11-01T12:00:00Z');
    await s.scheduler.start([job('a'), job('b')]);
    const result = await s.scheduler.reload(
      [job('a', { cron: '0 3 * * *', overlap: 'queue' }), job('c')],
      [{ path: '/jobs/b.yaml', file: 'jobs/b.yaml', message: 'jobs/b.yaml: schedule.cron: is not a valid cron expression' }],
    );
    expect(result).toEqual({ added: ['c'], removed: [], changed: ['a'], kept: ['b'] });
    expect(s.events.find((e) => e.event === 'job changed')).toMatchObject({ job: 'a', changes: ['schedule.cron', 'schedule.overlap'], next: '2026-11-02T03:00:00+01:00' });
    expect(s.events.find((e) => e.event === 'spec error')).toMatchObject({ file: 'jobs/b.yaml', action: 'job b keeps its previous version until the spec is fixed' });
    await s.scheduler.reload([job('a', { cron: '0 3 * * *', overlap: 'queue' }), job('c')], []);
    expect(s.events.filter((e) => e.event === 'job removed')).toEqual([{ event: 'job removed', job: 'b' }]);
    await s.clock.advanceTo(at('2026-11-02T12:00:00Z'), s.settle);
    expect(s.backend.submitted.map((t) => `${t.job.spec.name} ${t.scheduledFor}`).sort()).toEqual(['a 2026-11-02T02:00:00Z', 'c 2026-11-02T01:00:00Z']);
  });

  it('stop: no more ticks, the backend is closed once', async () => {
    const s = setup('2026-11-01T12:00:00Z');
    await s.scheduler.start([job('nightly')]);
    await s.scheduler.stop();
    await s.scheduler.stop();
    await s.clock.advanceTo(at('2026-11-03T12:00:00Z'), s.settle);
    expect(s.backend.submitted).toEqual([]);
    expect(s.backend.closed).toBe(1);
  });
});
