import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTask } from 'node-cron';
import { CronSchedule } from '../../src/schedule/cron-schedule.js';
import { dateInterval, logicalDateOf, tickInterval } from '../../src/schedule/logical-date.js';
import { isoInZone } from '../../src/schedule/zoned-time.js';
import type { ScheduleSpec } from '../../src/spec/job-spec.js';

const BERLIN = 'Europe/Berlin';
const at = (iso: string) => Date.parse(iso);

/** n ticks after `from`, as ISO with the zone's offset. */
function ticks(expr: string, tz: string, from: string, n: number): string[] {
  const c = CronSchedule.of(expr, tz);
  const out: string[] = [];
  for (let t = c.next(at(from)); t !== undefined && out.length < n; t = c.next(t)) out.push(isoInZone(tz, t));
  return out;
}

/** The same ticks walked backwards from just after the last one. */
function ticksBack(expr: string, tz: string, before: string, n: number): string[] {
  const c = CronSchedule.of(expr, tz);
  const out: string[] = [];
  for (let t = c.prev(at(before)); t !== undefined && out.length < n; t = c.prev(t)) out.unshift(isoInZone(tz, t));
  return out;
}

const schedule = (over: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ cron: '0 2 * * *', timezone: BERLIN, logicalDate: 'previous_day', catchup: false, catchupLimit: 7, overlap: 'skip', ...over });

afterEach(() => {
  vi.useRealTimers();
});

describe('cron ticks', () => {
  it('are the ticks node-cron itself computes, away from DST changes (same syntax: names, steps, L, nW, d#n, 6 fields)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const exprs = ['0 2 * * *', '*/15 9-17 * * MON-FRI', '0 0 L * *', '0 9 15W * *', '30 8 * * 5L', '0 12 * * 1#2', '*/20 * * * * *', '0 0 1,15 * 1', '5 4 * JAN,JUL *'];
    for (const tz of ['UTC', BERLIN, 'America/New_York', 'Asia/Kolkata']) {
      for (const expr of exprs) {
        const from = expr.split(' ').length === 6 ? '2026-06-10T10:00:00Z' : '2026-05-01T00:00:00Z';
        vi.setSystemTime(at(from));
        const n = 8;
        const theirs = createTask(expr, () => undefined, { timezone: tz }).getNextRuns(n).map((d) => isoInZone(tz, d.getTime()));
        expect(ticks(expr, tz, from, n), `${expr} in ${tz}`).toEqual(theirs);
      }
    }
  });

  it('walk backwards to the same ticks as forwards, across both DST changes', () => {
    for (const [expr, from] of [
      ['30 2 * * *', '2026-03-25T00:00:00Z'],
      ['0 * * * *', '2026-10-24T20:00:00Z'],
      ['0 * * * *', '2026-03-28T20:00:00Z'],
      ['*/10 1-3 * * *', '2026-10-24T22:00:00Z'],
      ['*/10 1-3 * * *', '2026-03-28T22:00:00Z'],
    ] as const) {
      const forward = ticks(expr, BERLIN, from, 12);
      const last = CronSchedule.of(expr, BERLIN).next(at(from))!;
      let end = last;
      for (let i = 1; i < 12; i++) end = CronSchedule.of(expr, BERLIN).next(end)!;
      expect(ticksBack(expr, BERLIN, new Date(end + 1).toISOString(), 12), expr).toEqual(forward);
    }
  });

  it('tick every day once in Europe/Berlin when the clocks go forward (02:30 does not exist: it ticks at 03:30)', () => {
    expect(ticks('30 2 * * *', BERLIN, '2026-03-27T12:00:00Z', 4)).toEqual(['2026-03-28T02:30:00+01:00', '2026-03-29T03:30:00+02:00', '2026-03-30T02:30:00+02:00', '2026-03-31T02:30:00+02:00']);
    // hourly: every real hour once (the skipped 02:00 is the same instant as 03:00)
    expect(ticks('0 * * * *', BERLIN, '2026-03-28T22:30:00Z', 4)).toEqual(['2026-03-29T00:00:00+01:00', '2026-03-29T01:00:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-29T04:00:00+02:00']);
  });

  it('tick every day once in Europe/Berlin when the clocks go back (02:30 happens twice: the first one)', () => {
    expect(ticks('30 2 * * *', BERLIN, '2026-10-23T12:00:00Z', 4)).toEqual(['2026-10-24T02:30:00+02:00', '2026-10-25T02:30:00+02:00', '2026-10-26T02:30:00+01:00', '2026-10-27T02:30:00+01:00']);
    expect(ticks('0 * * * *', BERLIN, '2026-10-24T22:30:00Z', 4)).toEqual(['2026-10-25T01:00:00+02:00', '2026-10-25T02:00:00+02:00', '2026-10-25T03:00:00+01:00', '2026-10-25T04:00:00+01:00']);
  });

  it('refuse an expression that is not one, and one that never ticks', () => {
    expect(CronSchedule.parse('61 * * * *', 'UTC')).toEqual({ error: expect.stringContaining('is not a valid cron expression') });
    expect(CronSchedule.parse('0 2 * *', 'UTC')).toEqual({ error: expect.stringContaining('is not a valid cron expression') });
    expect(CronSchedule.parse('0 0 31 4 *', 'UTC')).toEqual({ error: expect.stringContaining('is not a valid cron expression') }); // node-cron knows April has 30 days
    expect(CronSchedule.parse('0 0 1 1 0#5', 'UTC')).toEqual({ error: expect.stringContaining('never ticks') }); // 1 January is never a fifth Sunday
    expect(CronSchedule.parse('0 0 29 2 1', 'UTC')).toBeInstanceOf(CronSchedule); // 29 February on a Monday: 2044
  });

  it('between() lists ticks in (after, until], capped', () => {
    const c = CronSchedule.of('0 2 * * *', 'UTC');
    expect(c.between(at('2026-11-01T02:00:00Z'), at('2026-11-04T02:00:00Z'), 10).map((t) => new Date(t).toISOString())).toEqual([
      '2026-11-02T02:00:00.000Z',
      '2026-11-03T02:00:00.000Z',
      '2026-11-04T02:00:00.000Z',
    ]);
    expect(c.between(at('2026-11-01T00:00:00Z'), at('2026-12-01T00:00:00Z'), 2)).toHaveLength(2);
  });
});

describe('logical dates', () => {
  it('previous_day is the day before the tick, tick_date its own day, in the schedule timezone (not UTC) at midnight', () => {
    const midnight = at('2026-11-01T23:00:00Z'); // 2026-11-02 00:00 in Berlin
    expect(logicalDateOf(midnight, BERLIN, 'tick_date')).toBe('2026-11-02');
    expect(logicalDateOf(midnight, BERLIN, 'previous_day')).toBe('2026-11-01');
    expect(logicalDateOf(midnight, 'UTC', 'tick_date')).toBe('2026-11-01');
    const beforeMidnight = at('2026-11-01T22:59:59Z');
    expect(logicalDateOf(beforeMidnight, BERLIN, 'tick_date')).toBe('2026-11-01');
    expect(logicalDateOf(beforeMidnight, BERLIN, 'previous_day')).toBe('2026-10-31');
  });

  it('a daily job in Berlin gets every logical date exactly once across both DST changes', () => {
    for (const from of ['2026-03-20T12:00:00Z', '2026-10-18T12:00:00Z']) {
      for (const expr of ['30 2 * * *', '0 0 * * *', '59 23 * * *']) {
        const c = CronSchedule.of(expr, BERLIN);
        const dates: string[] = [];
        for (let t = c.next(at(from)), i = 0; i < 14; i++, t = c.next(t!)) dates.push(logicalDateOf(t!, BERLIN, 'previous_day'));
        for (let i = 1; i < dates.length; i++) {
          const prev = new Date(Date.parse(`${dates[i - 1]}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
          expect(dates[i], `${expr} from ${from}: ${dates.join(' ')}`).toBe(prev);
        }
      }
    }
  });

  it("a tick's data interval runs from the previous tick (23 h and 25 h long on the DST days of a daily job)", () => {
    const c = CronSchedule.of('0 2 * * *', BERLIN);
    const spring = c.next(at('2026-03-29T00:00:00Z'))!; // 03:00 CEST (02:00 skipped)
    expect(tickInterval(c, spring)).toEqual({ start: '2026-03-28T01:00:00Z', end: '2026-03-29T01:00:00Z' });
    const autumn = c.next(at('2026-10-24T23:00:00Z'))!; // 02:00 CEST, the first of the two
    expect(tickInterval(c, autumn)).toEqual({ start: '2026-10-24T00:00:00Z', end: '2026-10-25T00:00:00Z' });
    const after = c.next(autumn)!;
    expect((Date.parse(tickInterval(c, after).end) - Date.parse(tickInterval(c, after).start)) / 3_600_000).toBe(25);
  });

  it('a date run (run --date, backfill) covers what the schedule ticks of that date cover; without a schedule, the UTC day', () => {
    expect(dateInterval(schedule(), '2026-11-01')).toEqual({ start: '2026-11-01T01:00:00Z', end: '2026-11-02T01:00:00Z' });
    expect(dateInterval(schedule({ logicalDate: 'tick_date' }), '2026-11-01')).toEqual({ start: '2026-10-31T01:00:00Z', end: '2026-11-01T01:00:00Z' });
    // hourly, tick_date: the ticks of the day from 00:00 to 23:00, each covering the hour before
    expect(dateInterval(schedule({ cron: '0 * * * *', timezone: 'UTC', logicalDate: 'tick_date' }), '2026-11-01')).toEqual({ start: '2026-10-31T23:00:00Z', end: '2026-11-01T23:00:00Z' });
    // a weekday schedule's Sunday: no tick; the whole day in the timezone
    expect(dateInterval(schedule({ cron: '0 2 * * MON-FRI', logicalDate: 'tick_date' }), '2026-11-01')).toEqual({ start: '2026-10-31T23:00:00Z', end: '2026-11-01T23:00:00Z' });
    expect(dateInterval(undefined, '2026-11-01')).toEqual({ start: '2026-11-01T00:00:00Z', end: '2026-11-02T00:00:00Z' });
  });
});
