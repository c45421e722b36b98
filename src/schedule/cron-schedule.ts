import { createRequire } from 'node:module';
import { addDays, daysInMonth, fromWallTime, localDate, offsetMs, wallTime, weekday } from './zoned-time.js';

// node-cron is loaded on first use: a run of a spec without a schedule never needs it (~20 ms of start-up).
const require = createRequire(import.meta.url);
let nodeCron: typeof import('node-cron') | undefined;
const cron = () => (nodeCron ??= require('node-cron') as typeof import('node-cron'));

/**
 * A cron expression's ticks in a timezone, forwards and backwards, without waiting for them.
 *
 * The syntax and field semantics are node-cron's (it parses the expression): 5 fields, or 6 with
 * seconds first; names (MON, JAN), ranges, steps, L, nW, dL, d#n; day-of-month AND day-of-week must
 * both match (classic cron ORs them). Across daylight-saving changes a tick is the instant its wall
 * time names, read as RFC 5545 does: a wall time the clocks skip (02:30 when 02:00 jumps to 03:00)
 * ticks at the moment it maps to (03:30), a wall time that occurs twice ticks once, the first time.
 * So a daily job ticks every day, once. (node-cron's own timer skips such a day's tick altogether:
 * one reason the scheduler times ticks itself from this class.)
 */
export class CronSchedule {
  private readonly seconds: number[];
  private readonly minutes: number[];
  private readonly hours: number[];
  private readonly months: Set<number>;
  private readonly daysOfMonth: (number | string)[];
  private readonly daysOfWeek: (number | string)[];

  private constructor(
    readonly expression: string,
    readonly timezone: string,
  ) {
    const f = cron().parse(expression);
    const nums = (xs: (number | string)[]) => [...new Set(xs.map(Number))].sort((a, b) => a - b);
    this.seconds = nums(f.second);
    this.minutes = nums(f.minute);
    this.hours = nums(f.hour);
    this.months = new Set(f.month.map(Number));
    this.daysOfMonth = f.dayOfMonth;
    this.daysOfWeek = f.dayOfWeek;
  }

  /** A schedule, or why the expression is not one (bad syntax, a date that never comes). */
  static parse(expression: string, timezone: string): CronSchedule | { error: string } {
    if (!cron().validate(expression)) return { error: 'is not a valid cron expression (5 fields, or 6 with seconds first; e.g. "0 2 * * *")' };
    let s: CronSchedule;
    try {
      s = new CronSchedule(expression, timezone);
    } catch (err) {
      return { error: `is not a valid cron expression: ${(err as Error).message}` };
    }
    if (s.next(Date.UTC(2000, 0, 1)) === undefined) return { error: `never ticks (no date matches "${expression}"; day-of-month and day-of-week must both match)` };
    return s;
  }

  /** Like parse, for an expression already validated (a loaded spec): throws on a bad one. */
  static of(expression: string, timezone: string): CronSchedule {
    const s = CronSchedule.parse(expression, timezone);
    if ('error' in s) throw new Error(`cron "${expression}" ${s.error}`);
    return s;
  }

  /** Whether the schedule ticks on this calendar date (month, day-of-month and day-of-week all match). */
  matchesDate(year: number, month: number, day: number): boolean {
    return this.months.has(month) && matchesDayOfMonth(this.daysOfMonth, year, month, day) && matchesDayOfWeek(this.daysOfWeek, year, month, day);
  }

  /** The first tick strictly after `after` (epoch ms); undefined when none comes within the search horizon. */
  next(after: number): number | undefined {
    return this.search(after, 1);
  }

  /** The last tick strictly before `before` (epoch ms); undefined when none within the search horizon. */
  prev(before: number): number | undefined {
    return this.search(before, -1);
  }

  /** Up to `limit` ticks after `after` (exclusive) and at or before `until` (inclusive), oldest first. */
  between(after: number, until: number, limit: number): number[] {
    const out: number[] = [];
    for (let t = this.next(after); t !== undefined && t <= until && out.length < limit; t = this.next(t)) out.push(t);
    return out;
  }

  /**
   * Walk candidate wall times (matching days x hours x minutes x seconds) from the bound's own wall
   * time in `dir`, map each to its instant, and keep the nearest instant beyond the bound. A wall
   * time and its instant move apart only across an offset change, by at most that change: the walk
   * looks that far (`slack`) behind the bound and past the best candidate.
   */
  private search(bound: number, dir: 1 | -1): number | undefined {
    const tz = this.timezone;
    const w = wallTime(tz, bound);
    const boundKey = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    const boundSlack = this.slack(bound);
    let best: number | undefined;
    let bestKey = 0;
    let bestSlack = 0;
    // past the best candidate by more than the slack: nothing nearer comes
    const pastBest = (key: number, span: number) => best !== undefined && (dir > 0 ? key > bestKey + bestSlack : key + span < bestKey - bestSlack);
    // wholly on the near side of the bound (with its slack): cannot be beyond it
    const beforeBound = (key: number, span: number) => (dir > 0 ? key + span < boundKey - boundSlack : key > boundKey + boundSlack);
    const hours = dir > 0 ? this.hours : [...this.hours].reverse();
    const minutes = dir > 0 ? this.minutes : [...this.minutes].reverse();
    const seconds = dir > 0 ? this.seconds : [...this.seconds].reverse();
    let date = addDays(localDate(tz, bound), -dir);
    for (let i = 0; i < HORIZON_DAYS; i++, date = addDays(date, dir)) {
      const [y, mo, d] = date.split('-').map(Number);
      const dayKey = Date.UTC(y, mo - 1, d);
      if (pastBest(dayKey, DAY_MS)) break;
      if (beforeBound(dayKey, DAY_MS) || !this.matchesDate(y, mo, d)) continue;
      for (const h of hours) {
        const hourKey = dayKey + h * HOUR_MS;
        if (pastBest(hourKey, HOUR_MS)) break;
        if (beforeBound(hourKey, HOUR_MS)) continue;
        for (const m of minutes) {
          const minuteKey = hourKey + m * 60_000;
          if (pastBest(minuteKey, 60_000)) break;
          if (beforeBound(minuteKey, 60_000)) continue;
          for (const sec of seconds) {
            const key = minuteKey + sec * 1000;
            if (pastBest(key, 0)) break;
            if (beforeBound(key, 0)) continue;
            const t = fromWallTime(tz, { year: y, month: mo, day: d, hour: h, minute: m, second: sec });
            if (dir > 0 ? t > bound && (best === undefined || t < best) : t < bound && (best === undefined || t > best)) {
              best = t;
              bestKey = key;
              bestSlack = this.slack(t);
            }
          }
        }
      }
    }
    return best;
  }

  /** How far a wall time and its instant can drift apart near `instant`: the offset change within a day of it. */
  private slack(instant: number): number {
    const here = offsetMs(this.timezone, instant);
    return Math.max(Math.abs(offsetMs(this.timezone, instant - DAY_MS - HOUR_MS) - here), Math.abs(offsetMs(this.timezone, instant + DAY_MS + HOUR_MS) - here));
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** 30 February never comes; 29 February on a Monday comes within 28 years: look no further than that. */
const HORIZON_DAYS = 366 * 29;

/** node-cron's day-of-month tokens: a day, L (last), L-n (n before last), nW / LW (nearest weekday). */
function matchesDayOfMonth(field: (number | string)[], year: number, month: number, day: number): boolean {
  const last = daysInMonth(year, month);
  for (const v of field) {
    if (v === day) return true;
    if (typeof v !== 'string') continue;
    if (v === 'L' && day === last) return true;
    const w = /^(\d{1,2}|L)W$/.exec(v);
    if (w && nearestWeekday(year, month, w[1] === 'L' ? last : Number(w[1])) === day) return true;
    const off = /^L-(\d{1,2})$/.exec(v);
    if (off && last - Number(off[1]) === day) return true;
  }
  return false;
}

function nearestWeekday(year: number, month: number, target: number): number {
  const last = daysInMonth(year, month);
  if (target < 1 || target > last) return -1;
  const wd = weekday(year, month, target);
  if (wd === 6) return target === 1 ? 3 : target - 1;
  if (wd === 0) return target === last ? target - 2 : target + 1;
  return target;
}

/** node-cron's day-of-week tokens: a weekday 0-6 (0 = Sunday), dL (last d of the month), d#n (n-th d). */
function matchesDayOfWeek(field: (number | string)[], year: number, month: number, day: number): boolean {
  const wd = weekday(year, month, day);
  for (const v of field) {
    if (v === wd) return true;
    if (typeof v !== 'string') continue;
    const last = /^([0-7])L$/i.exec(v);
    if (last && Number(last[1]) % 7 === wd && day + 7 > daysInMonth(year, month)) return true;
    const nth = /^([0-7])#([1-5])$/.exec(v);
    if (nth && Number(nth[1]) % 7 === wd && Math.floor((day - 1) / 7) + 1 === Number(nth[2])) return true;
  }
  return false;
}
