import type { RunOutcome } from '../runs/finish-run.js';
import { fmt } from './progress.js';
import { formatDuration } from './table.js';

/**
 * The one-line summary a run ends with, numbers formatted as the progress line shows them:
 * `run 12 succeeded: 10,000 rows read, 9,999 scored, 1 rejected in 1.2s (8,130 rows/s)`.
 * `rowsThisAttempt`: rows this process read (a resumed run's rows_read includes earlier attempts'); the rate is taken from it.
 */
export function runSummary(o: Pick<RunOutcome, 'run_id' | 'status' | 'rows_read' | 'rows_scored' | 'rows_rejected' | 'duration_s'>, rowsThisAttempt?: number): string {
  const counts = `run ${o.run_id} ${o.status}: ${fmt(o.rows_read)} rows read, ${fmt(o.rows_scored)} scored, ${fmt(o.rows_rejected)} rejected`;
  if (rowsThisAttempt === undefined) return counts;
  const rate = o.duration_s > 0 ? Math.round(rowsThisAttempt / o.duration_s) : 0;
  // The duration as status, runs and backfill show one (0.3s, 12s, 2m 05s), not 0.254s next to their 0.3s.
  return `${counts} in ${formatDuration(o.duration_s)} (${fmt(rate)} rows/s)`;
}
