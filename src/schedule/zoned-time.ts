/**
 * Wall-clock time in an IANA timezone, from Intl alone (no tz database of our own). Instants are
 * epoch milliseconds; a wall time is the calendar fields a clock on that zone's wall shows.
 */
export interface WallTime {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
/** offset (ms) by zone and epoch minute: a tick walk asks for the same few minutes again and again */
const offsets = new Map<string, Map<number, number>>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone's UTC offset at an instant, in ms (Europe/Berlin in summer: +7,200,000). */
export function offsetMs(tz: string, instant: number): number {
  const minute = Math.floor(instant / MINUTE_MS);
  let cache = offsets.get(tz);
  if (!cache) offsets.set(tz, (cache = new Map()));
  const hit = cache.get(minute);
  if (hit !== undefined) return hit;
  // Offsets change on whole minutes (every transition since 1970), so the minute's start speaks for it.
  const name = formatter(tz).formatToParts(minute * MINUTE_MS).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /^GMT([+-])(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(name);
  const off = m ? (m[1] === '-' ? -1 : 1) * ((Number(m[2]) * 60 + Number(m[3] ?? 0)) * MINUTE_MS + Number(m[4] ?? 0) * 1000) : 0;
  if (cache.size > 50_000) cache.clear();
  cache.set(minute, off);
  return off;
}

/** The wall time an instant shows in the zone. */
export function wallTime(tz: string, instant: number): WallTime {
  const d = new Date(instant + offsetMs(tz, instant));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

const asUtc = (w: WallTime) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/**
 * The instant a wall time names, as RFC 5545 and Temporal's "compatible" read it: a time that occurs
 * twice (autumn, clocks back) is its first occurrence; a time that does not occur (spring, clocks
 * forward) is moved forward by the gap (02:30 on the day Berlin skips 02:00-03:00 is 03:30).
 */
export function fromWallTime(tz: string, w: WallTime): number {
  const guess = asUtc(w);
  const before = offsetMs(tz, guess - DAY_MS);
  const after = offsetMs(tz, guess + DAY_MS);
  // Whichever offsets are in force around the guess: an instant is right when it reads back as w.
  const a = guess - before;
  const b = guess - after;
  const aOk = asUtc(wallTime(tz, a)) === guess;
  const bOk = asUtc(wallTime(tz, b)) === guess;
  if (aOk && bOk) return Math.min(a, b);
  if (aOk) return a;
  if (bOk) return b;
  // In a gap: read with the offset before the transition, which lands after it.
  return a;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** YYYY-MM-DD of a wall time's date. */
export const dateOf = (w: Pick<WallTime, 'year' | 'month' | 'day'>) => `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;

/** The calendar date (YYYY-MM-DD) an instant falls on in the zone. */
export const localDate = (tz: string, instant: number) => dateOf(wallTime(tz, instant));

/** A YYYY-MM-DD date plus n days (calendar arithmetic, no zone involved). */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** The instant a calendar date starts in the zone (its first existing moment when midnight is skipped). */
export function startOfDay(tz: string, date: string): number {
  const [year, month, day] = date.split('-').map(Number);
  return fromWallTime(tz, { year, month, day, hour: 0, minute: 0, second: 0 });
}

/** An instant as ISO 8601 with the zone's offset, to the second: 2026-11-02T02:00:00+01:00. */
export function isoInZone(tz: string, instant: number): string {
  const w = wallTime(tz, instant);
  const off = offsetMs(tz, instant) / MINUTE_MS;
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${dateOf(w)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Day of week of a calendar date, 0 = Sunday. */
export const weekday = (year: number, month: number, day: number) => new Date(Date.UTC(year, month - 1, day)).getUTCDay();

/** Days in a month (month 1-12). */
export const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
