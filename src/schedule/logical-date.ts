import type { ScheduleSpec } from '../spec/job-spec.js';
import { intervalInstant, utcDayInterval, type DataInterval } from '../spec/template.js';
import { CronSchedule } from './cron-schedule.js';
import { addDays, localDate, startOfDay } from './zoned-time.js';

/**
 * A tick's logical date, in the schedule's timezone: the tick's own date (tick_date), or the day
 * before it (previous_day: a 02:00 run scores yesterday's data).
 */
export function logicalDateOf(tick: number, timezone: string, mode: ScheduleSpec['logicalDate']): string {
  const date = localDate(timezone, tick);
  return mode === 'previous_day' ? addDays(date, -1) : date;
}

/** A scheduled run's data interval: from the previous tick to its own tick. */
export function tickInterval(schedule: CronSchedule, tick: number): DataInterval {
  return { start: intervalInstant(schedule.prev(tick) ?? tick), end: intervalInstant(tick) };
}

/**
 * The data interval of a run made for a date rather than a tick (`run --date`, `backfill`): what the
 * schedule's ticks of that logical date cover together (from the tick before the first to the last),
 * so a backfill of a date reads what its scheduled runs read. A date no tick maps to (a weekday
 * schedule's Sunday), or a job without a schedule: the whole day, in the schedule's timezone or UTC.
 */
export function dateInterval(schedule: ScheduleSpec | undefined, logicalDate: string): DataInterval {
  if (!schedule) return utcDayInterval(logicalDate);
  const tz = schedule.timezone;
  const cron = CronSchedule.of(schedule.cron, tz);
  const tickDay = schedule.logicalDate === 'previous_day' ? addDays(logicalDate, 1) : logicalDate;
  const dayStart = startOfDay(tz, tickDay);
  const dayEnd = startOfDay(tz, addDays(tickDay, 1));
  const first = cron.next(dayStart - 1);
  if (first === undefined || first >= dayEnd) return { start: intervalInstant(startOfDay(tz, logicalDate)), end: intervalInstant(startOfDay(tz, addDays(logicalDate, 1))) };
  const last = cron.prev(dayEnd)!;
  return { start: intervalInstant(cron.prev(first) ?? first), end: intervalInstant(last) };
}
