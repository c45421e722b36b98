import { UsageError } from '../../errors.js';
import type { RunStatus } from '../../runs/ledger.js';
import { listRuns, runStatuses } from '../../runs/run-status.js';
import { unknownJobNote } from '../../runs/job-names.js';
import { print, type CommandIO } from '../io.js';
import { openLedger } from '../open-ledger.js';
import { formatCount, formatDuration, formatTable } from '../table.js';
import { resumeHint, shownStatus } from './status.js';

export interface RunsFlags {
  job?: string;
  status?: string;
  limit?: string;
  json?: boolean;
  databaseUrl?: string;
}

const DEFAULT_LIMIT = 20;

/** batchinfer runs: run history, newest first. */
export async function runsCommand(flags: RunsFlags, io: CommandIO): Promise<number> {
  const status = parseStatus(flags.status);
  const limit = parseLimit(flags.limit);
  const ledger = await openLedger(flags.databaseUrl, io, 'runs');
  try {
    const runs = ledger.exists ? await listRuns(ledger.client, { job: flags.job, status, limit }) : [];
    if (flags.json) {
      print(io.stdout, JSON.stringify(runs));
      return 0;
    }
    if (runs.length === 0) {
      const filters = [flags.job && `job ${flags.job}`, status && `status ${status}`].filter(Boolean).join(', ');
      print(io.stdout, filters && ledger.exists ? `no runs match (${filters})${await unknownJobNote(ledger.client, flags.job)}` : ledger.noRuns);
      return 0;
    }
    print(
      io.stdout,
      formatTable(
        ['RUN', 'JOB', 'DATE', 'TRIGGER', 'STATUS', 'ROWS', 'REJECTS', 'DURATION', 'MODEL'],
        runs.map((r) => [String(r.run_id), r.job, r.logical_date, r.trigger, shownStatus(r), formatCount(r.rows_read), formatCount(r.rows_rejected), formatDuration(r.duration_s), r.model_version]),
        [0, 5, 6, 7],
      ),
    );
    if (runs.some((r) => r.stale)) print(io.stdout, `stale: its owner is gone; ${resumeHint}`);
    return 0;
  } finally {
    await ledger.close();
  }
}

function parseStatus(raw: string | undefined): RunStatus | undefined {
  if (raw === undefined) return undefined;
  if (!(runStatuses as string[]).includes(raw)) throw new UsageError(`--status ${raw}: not a run status; use one of ${runStatuses.join(', ')}`);
  return raw as RunStatus;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--limit ${raw}: not a positive whole number`);
  return n;
}
