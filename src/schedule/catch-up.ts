import type { CronSchedule } from './cron-schedule.js';

/** Missed ticks are counted up to this many (an every-second schedule down for a week has 600,000). */
export const MISSED_COUNT_CAP = 10_000;

export interface CatchUpPlan {
  /** ticks to create runs for now, oldest first */
  run: number[];
  /** missed ticks not made up (older than the newest `limit`, or all of them without catch-up) */
  skipped: { count: number; /** more than `count` */ more: boolean; oldest?: number; newest?: number };
}

/**
 * What a starting scheduler does about the ticks it missed: those after the newest tick the ledger
 * shows handled (`lastHandled`: a scheduled run's or a skipped tick's) up to `now`, inclusive. With
 * catch-up the newest `limit` get runs, oldest first, and the older ones are skipped; without, all
 * are skipped. A job with no handled tick yet has missed nothing: it starts with its next tick.
 */
export function planCatchUp(opts: { schedule: CronSchedule; lastHandled: number | undefined; now: number; catchup: boolean; limit: number }): CatchUpPlan {
  const plan: CatchUpPlan = { run: [], skipped: { count: 0, more: false } };
  if (opts.lastHandled === undefined) return plan;
  const take = opts.catchup ? opts.limit : 0;
  const newestFirst: number[] = [];
  let t = opts.schedule.prev(opts.now + 1);
  while (t !== undefined && t > opts.lastHandled && newestFirst.length < take) {
    newestFirst.push(t);
    t = opts.schedule.prev(t);
  }
  plan.run = newestFirst.reverse();
  while (t !== undefined && t > opts.lastHandled) {
    if (plan.skipped.count === MISSED_COUNT_CAP) {
      plan.skipped.more = true;
      break;
    }
    plan.skipped.newest ??= t;
    plan.skipped.oldest = t;
    plan.skipped.count++;
    t = opts.schedule.prev(t);
  }
  return plan;
}

/**
 * Ticks that came due together (the process was suspended, or the clock jumped): the newest is a
 * live tick, the older ones follow the catch-up policy like ticks missed while stopped.
 */
export function splitDueTicks(due: number[], catchup: boolean, limit: number): { live: number | undefined; catchUp: number[]; skipped: number[] } {
  if (due.length === 0) return { live: undefined, catchUp: [], skipped: [] };
  const older = due.slice(0, -1);
  const keep = catchup ? Math.max(0, limit - 1) : 0;
  return { live: due[due.length - 1], catchUp: keep ? older.slice(-keep) : [], skipped: keep ? older.slice(0, Math.max(0, older.length - keep)) : older };
}
