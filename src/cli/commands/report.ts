import { runReport, sparkline, type RunReport } from '../../monitoring/run-report.js';
import { print, type CommandIO } from '../io.js';
import { notInLedger, openLedger, parseRunId } from '../open-ledger.js';
import { formatCount, formatTable } from '../table.js';

export interface ReportFlags {
  json?: boolean;
  databaseUrl?: string;
}

/** batchinfer report <run-id>: the run's profile and drift against its reference, worst column first. */
export async function reportCommand(rawId: string, flags: ReportFlags, io: CommandIO): Promise<number> {
  const runId = parseRunId(rawId);
  const ledger = await openLedger(flags.databaseUrl, io, 'report');
  try {
    const report = ledger.exists ? await runReport(ledger.client, runId) : undefined;
    if (!report) throw notInLedger(runId, ledger);
    print(io.stdout, flags.json ? JSON.stringify(report) : formatReport(report));
    return 0;
  } finally {
    await ledger.close();
  }
}

/** A number in a few significant digits, "-" for none. */
function num(x: number | null): string {
  if (x === null) return '-';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

export function formatReport(r: RunReport): string {
  const out: string[] = [];
  const ref = r.reference === null ? 'none (the job\'s first profiled run: later runs compare with this one)' : r.reference_run_id !== null ? `${r.reference} (run ${r.reference_run_id})` : r.reference;
  out.push(`run ${r.run_id} of ${r.job} for ${r.logical_date}: ${r.status}; ${formatCount(r.rows_read)} rows read, ${formatCount(r.rows_scored)} scored, ${formatCount(r.rows_rejected)} rejected`);
  out.push(`reference: ${ref}`);
  if (r.drift_status) out.push(`drift: ${r.drift_status}, max PSI ${num(r.max_psi)} (warn above ${r.drift_warn}${r.drift_fail !== null ? `, fail above ${r.drift_fail}` : ', no fail threshold'})`);
  if (r.accepted_at) out.push(`accepted by ${r.accepted_by ?? 'unknown'} at ${r.accepted_at.toISOString()}`);
  if (r.error) out.push(`error: ${r.error}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (r.columns.length === 0) out.push('no profile (monitoring.profile: false, or a run from before profiles)');
  else {
    out.push('');
    const flag = (p: number | null) => (p === null ? '' : r.drift_fail !== null && p > r.drift_fail ? ' FAIL' : p > r.drift_warn ? ' warn' : '');
    out.push(
      formatTable(
        ['COLUMN', 'ROLE', 'PSI', 'MIN', 'REF MIN', 'MEAN', 'REF MEAN', 'MAX', 'REF MAX', 'HISTOGRAM (this run | reference)'],
        r.columns.map((c) => [
          c.column,
          c.role,
          `${num(c.psi)}${flag(c.psi)}`,
          num(c.min),
          num(c.reference_min),
          num(c.mean),
          num(c.reference_mean),
          num(c.max),
          num(c.reference_max),
          `${sparkline(c.bin_counts)}|${c.reference_counts ? sparkline(c.reference_counts) : ''}`,
        ]),
        [2, 3, 4, 5, 6, 7, 8],
      ),
    );
    out.push(`histograms: ${r.columns[0].bin_counts.length} bins per column over the run's edges (batchinfer.run_profiles.bin_edges), the first and last take values outside them`);
  }
  if (r.rejects_by_reason.length) {
    out.push('', 'rejects by reason:');
    for (const x of r.rejects_by_reason) out.push(`  ${formatCount(x.rows).padStart(8)}  ${x.reason}`);
  }
  return out.join('\n');
}
