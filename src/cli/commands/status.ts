import { isActive, latestRuns, runDetail, type RunDetail, type RunSummary } from '../../runs/run-status.js';
import { print, type CommandIO } from '../io.js';
import { notInLedger, openLedger, parseRunId } from '../open-ledger.js';
import { formatCount, formatDuration, formatTable } from '../table.js';

export interface StatusFlags {
  json?: boolean;
  databaseUrl?: string;
}

export const resumeHint = 'run the same job and date again to resume it';

/** batchinfer status [run-id]: one run in detail, or the newest run of each job. Exit 2 for a run id the ledger lacks. */
export async function statusCommand(rawId: string | undefined, flags: StatusFlags, io: CommandIO): Promise<number> {
  const runId = rawId === undefined ? undefined : parseRunId(rawId);
  const ledger = await openLedger(flags.databaseUrl, io, 'status');
  try {
    if (runId !== undefined) {
      const run = ledger.exists ? await runDetail(ledger.client, runId) : undefined;
      if (!run) throw notInLedger(runId, ledger);
      print(io.stdout, flags.json ? JSON.stringify(run) : describeRun(run));
      return 0;
    }
    const runs = ledger.exists ? await latestRuns(ledger.client) : [];
    if (flags.json) print(io.stdout, JSON.stringify(runs));
    else if (runs.length === 0) print(io.stdout, ledger.noRuns);
    else print(io.stdout, latestTable(runs));
    return 0;
  } finally {
    await ledger.close();
  }
}

/** The status column: the ledger's word, or what is really going on. */
export function shownStatus(r: RunSummary): string {
  if (r.stale) return 'stale';
  if (isActive(r.status) && r.cancel_requested) return `${r.status}, cancelling`;
  return r.status;
}

function latestTable(runs: RunSummary[]): string {
  const table = formatTable(
    ['JOB', 'RUN', 'DATE', 'TRIGGER', 'STATUS', 'CHUNKS', 'ROWS', 'REJECTS', 'DURATION'],
    runs.map((r) => [r.job, String(r.run_id), r.logical_date, r.trigger, shownStatus(r), `${formatCount(r.chunks_done)}/${formatCount(r.chunks_total)}`, formatCount(r.rows_read), formatCount(r.rows_rejected), formatDuration(r.duration_s)]),
    [1, 5, 6, 7, 8],
  );
  const stale = runs.filter((r) => r.stale).map((r) => r.run_id);
  return stale.length ? `${table}\nstale: the owner of run ${stale.join(', ')} is gone; ${resumeHint}` : table;
}

function describeRun(r: RunDetail): string {
  const lines: [string, string][] = [];
  const add = (label: string, value: string) => lines.push([label, value]);
  const beat = r.heartbeat_age_s === null ? '' : `, last heartbeat ${formatDuration(r.heartbeat_age_s)} ago`;
  add('run', String(r.run_id));
  if (r.stale) add('status', `stale: the ledger says ${r.status}, but its owner (${r.owner ?? 'unknown'}) is gone${beat}; ${resumeHint}`);
  else add('status', isActive(r.status) && r.cancel_requested ? `${r.status}, cancel requested: its owner stops it within seconds` : r.status);
  add('job', r.job);
  add('logical date', r.logical_date);
  add('trigger', r.trigger);
  if (r.owner && isActive(r.status) && !r.stale) add('owner', `${r.owner}${beat}`);
  const failed = r.chunks_failed ? `, ${formatCount(r.chunks_failed)} failed` : '';
  add('chunks', `${formatCount(r.chunks_done)} of ${formatCount(r.chunks_total)} done${failed}${r.planned ? '' : ' (still planning: more to come)'}`);
  const planned = isActive(r.status) && r.rows_planned !== null ? ` of ${formatCount(r.rows_planned)} planned` : '';
  add('rows', `${formatCount(r.rows_read)} read${planned}, ${formatCount(r.rows_scored)} scored, ${formatCount(r.rows_rejected)} rejected`);
  if (r.rows_per_s !== null) add('speed', `${formatCount(r.rows_per_s)} rows/s${r.eta_s !== null ? `, ETA ${formatDuration(r.eta_s)}${r.planned ? '' : ' for the chunks planned so far'}` : ''}`);
  add('model version', r.model_version);
  add('result table', r.result_table);
  if (r.started_at) add('started', r.started_at.toISOString());
  if (r.finished_at) add('finished', r.finished_at.toISOString());
  if (r.duration_s !== null) add(isActive(r.status) ? 'running for' : 'duration', formatDuration(r.duration_s));
  if (r.error) add('error', r.error);
  if (r.drift_status) add('drift', `${r.drift_status}, max PSI ${r.max_psi?.toFixed(3)}; the profile: batchinfer report ${r.run_id}`);
  for (const w of r.warnings) add('warning', w);
  if (r.accepted_at) add('accepted', `by ${r.accepted_by ?? 'unknown'} at ${r.accepted_at.toISOString()}`);
  for (const c of r.chunk_errors) add(`chunk ${c.chunk}`, c.error);
  if (r.rows_rejected > 0) add('rejects', `SELECT line, key, reason FROM batchinfer.rejects WHERE run_id = ${r.run_id} ORDER BY chunk, line;`);
  const width = Math.max(...lines.map(([l]) => l.length));
  return lines.map(([l, v]) => `${l.padEnd(width)}  ${v}`).join('\n');
}
