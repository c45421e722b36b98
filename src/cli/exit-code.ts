import { DRIFT_GUARD } from '../monitoring/finish-profile.js';
import { failedNotReady } from '../runs/finish-run.js';
import type { RunStatus } from '../runs/ledger.js';

/**
 * The exit code of a finished run: 0 succeeded, 3 failed because its input had fewer rows than
 * min_rows (input not ready: wait and try again), 4 failed by the drift guard only (every row scored;
 * `batchinfer accept` publishes it), 1 any other end. A signal's 130/143 is the caller's.
 */
export function runExitCode(o: { status: RunStatus | string; error?: string | null }): number {
  if (o.status === 'succeeded') return 0;
  if (o.status === 'failed' && o.error?.startsWith(DRIFT_GUARD)) return 4;
  return failedNotReady({ status: o.status as RunStatus, error: o.error ?? null }) ? 3 : 1;
}
