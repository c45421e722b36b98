import { UsageError } from '../../errors.js';
import { cancelRun, waitForRunEnd } from '../../runs/cancel-run.js';
import { print, type CommandIO } from '../io.js';
import { notInLedger, openLedger, parseRunId } from '../open-ledger.js';
import { formatCount } from '../table.js';

export interface CancelFlags {
  wait?: boolean;
  timeoutMs?: string;
  databaseUrl?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * batchinfer cancel <run-id>: an active run's owner is asked to stop (it ends `cancelled`); a run whose
 * owner is gone is marked cancelled here; a finished run is left as it is (exit 0). With --wait, exit 1
 * when the run is still active after --timeout-ms.
 */
export async function cancelCommand(rawId: string, flags: CancelFlags, io: CommandIO): Promise<number> {
  const runId = parseRunId(rawId);
  const timeoutMs = parseTimeout(flags.timeoutMs);
  const ledger = await openLedger(flags.databaseUrl, io, 'cancel');
  try {
    const outcome = ledger.exists ? await cancelRun(ledger.client, runId) : undefined;
    if (!ledger.exists || !outcome) throw notInLedger(runId, ledger);
    switch (outcome.action) {
      case 'finished':
        print(io.stdout, `run ${runId} already ${outcome.status}; nothing to cancel`);
        return 0;
      case 'cancelled':
        print(io.stdout, `run ${runId} cancelled: its owner (${outcome.owner ?? 'unknown'}) was gone; run the same job and date again to resume it`);
        return 0;
      case 'requested':
        print(
          io.stdout,
          `${outcome.already ? 'cancel was already requested for' : 'cancel requested for'} run ${runId} (${outcome.status}, owner ${outcome.owner ?? 'unknown'}): ` +
            (outcome.owner === 'queue' ? 'its workers stop it' : 'its owner stops it within a few seconds (chunks in flight commit)'),
        );
    }
    if (!flags.wait) return 0;
    const status = await waitForRunEnd(ledger.client, runId, { timeoutMs, signal: io.signal });
    if (status === undefined) {
      print(io.stdout, `run ${runId} is still active after ${formatCount(timeoutMs)} ms; the cancel request stands`);
      return 1;
    }
    print(io.stdout, status === 'cancelled' ? `run ${runId} cancelled` : `run ${runId} ended ${status} before the cancel took effect`);
    return 0;
  } finally {
    await ledger.close();
  }
}

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_TIMEOUT_MS;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--timeout-ms ${raw}: not a whole number of milliseconds`);
  return n;
}
