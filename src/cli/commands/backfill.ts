import { queueName, resolveQueue } from '../queue-settings.js';
import { connectPg } from '../../db/connect.js';
import { defaults } from '../../defaults.js';
import { UsageError } from '../../errors.js';
import { missingDatedInput } from '../../backfill/missing-input.js';
import { runExitCode } from '../exit-code.js';
import { planBackfillRange, runBackfill, type BackfillOutcome, type DateResult } from '../../backfill/run-backfill.js';
import { backfillDates, reprocessPolicies, type Reprocess } from '../../schedule/backfill-plan.js';
import { loadSpec } from '../../spec/load-spec.js';
import { parseLogicalDate } from '../../spec/template.js';
import { print, type CommandIO } from '../io.js';
import { formatCount, formatDuration } from '../table.js';
import { resolveDatabaseUrl, resolveThreads } from '../settings.js';

export interface BackfillFlags {
  from?: string;
  to?: string;
  reprocess?: string;
  maxActive?: string;
  runBackwards?: boolean;
  dryRun?: boolean;
  json?: boolean;
  yes?: boolean;
  threads?: string;
  databaseUrl?: string;
  redisUrl?: string;
  queue?: string;
  inline?: boolean;
}

/**
 * batchinfer backfill <spec> --from D --to D: one run per logical date (trigger backfill), at most
 * --max-active at once. Exit 0 only when every date of the range ended succeeded.
 */
export async function backfillCommand(specPath: string, flags: BackfillFlags, io: CommandIO): Promise<number> {
  if (!flags.from || !flags.to) throw new UsageError(`backfill needs --from and --to (YYYY-MM-DD, inclusive), e.g. --from 2026-11-01 --to 2026-11-30`);
  const from = checkDate('--from', flags.from);
  const to = checkDate('--to', flags.to);
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}; the range runs from the older date to the newer (--run-backwards runs it newest first)`);
  const reprocess = (flags.reprocess ?? 'none') as Reprocess;
  if (!reprocessPolicies.includes(reprocess)) throw new UsageError(`--reprocess ${flags.reprocess}: use none (dates without a run), failed (also dates whose latest run failed or was cancelled) or completed (every date)`);
  const maxActive = flags.maxActive === undefined ? defaults.backfillMaxActive : Number(flags.maxActive);
  if (!Number.isInteger(maxActive) || maxActive < 1) throw new UsageError(`--max-active ${flags.maxActive}: expected a whole number >= 1 (runs active at once)`);
  const count = backfillDates(from, to).length;
  if (count > defaults.backfillConfirmDates && !flags.yes && !flags.dryRun)
    throw new UsageError(`--from ${from} --to ${to} is ${count} dates, more than ${defaults.backfillConfirmDates}; pass --yes to run them all (or --dry-run to see the plan)`);
  const spec = loadSpec(specPath, io.cwd);
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const backwards = Boolean(flags.runBackwards);

  if (flags.dryRun) {
    // Reads the ledger only: no migration, no run, no table.
    const client = await connectPg(db.url, { purpose: 'backfill dry-run', queryTimeoutMs: defaults.dbQueryTimeoutMs });
    try {
      const planned = await planBackfillRange(client, spec, { from, to, reprocess, backwards });
      // A date that would run on a dated CSV not delivered yet would end "input not ready" (exit 3): say so now.
      const plan = planned.map((p) => {
        const missing = p.action === 'skip' || p.action === 'wait' ? undefined : missingDatedInput(spec, p.date, io.cwd);
        return missing ? { ...p, input_missing: missing } : p;
      });
      if (flags.json) print(io.stdout, JSON.stringify({ dry_run: true, job: spec.name, from, to, reprocess, dates: plan }));
      else {
        for (const p of plan) print(io.stdout, `${p.date}  ${p.action.padEnd(6)}  ${p.why}${'input_missing' in p ? `; input not there yet: ${p.input_missing}` : ''}`);
        const n = (a: string) => plan.filter((p) => p.action === a).length;
        const notReady = plan.filter((p) => 'input_missing' in p).length;
        print(io.stdout, `dry run: ${plan.length} dates: ${n('create')} to create, ${n('rerun')} to run again, ${n('resume')} to resume, ${n('wait')} to wait for, ${n('skip')} left alone${notReady ? `; ${notReady} of the dates to run ${notReady === 1 ? 'has' : 'have'} no input yet` : ''}; nothing was changed`);
      }
      return 0;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  const queue = flags.inline ? undefined : resolveQueue(flags, io, db.url);
  const progress = new BackfillProgress(io.stderr, count);
  if (!flags.json) print(io.stderr, `batchinfer: backfill of ${spec.name} from ${from} to ${to} (${count} dates, reprocess ${reprocess}, at most ${maxActive} at once, ${queue ? 'queued for workers' : 'scored in this process'})`);
  let stopping = false;
  const onStop = () => {
    stopping = true;
    progress.note(queue ? 'stopping: no new dates; the runs queued go on in the workers' : 'stopping: no new dates; active runs are cancelled once their chunks in flight commit');
  };
  io.signal?.addEventListener('abort', onStop, { once: true });
  progress.start();
  let outcome: BackfillOutcome;
  try {
    outcome = await runBackfill({
      spec,
      from,
      to,
      reprocess,
      maxActive,
      backwards,
      databaseUrl: db.url,
      queue,
      queueName: queueName(io),
      threads: resolveThreads(flags.threads, io),
      signal: io.signal,
      onPlan: (plan) => progress.skipped(plan.filter((p) => p.action === 'skip').length),
      onDateStart: () => progress.started(),
      onDateEnd: (d) => progress.ended(d, flags.json ? undefined : (line) => print(io.stderr, line)),
      onRows: (n) => progress.add(n),
    });
  } finally {
    progress.stop();
    io.signal?.removeEventListener('abort', onStop);
  }
  if (flags.json) print(io.stdout, JSON.stringify(outcome));
  else print(io.stdout, summary(outcome, stopping));
  return backfillExitCode(outcome);
}

/**
 * 0 when every date ended succeeded; else a run's own exit code when every other date ended with it (3: all
 * their input not ready yet, min_rows or a missing file; 4: all stopped by the drift guard); else 1.
 */
export function backfillExitCode(outcome: BackfillOutcome): number {
  if (outcome.succeeded === outcome.dates_total) return 0;
  const codes = new Set(outcome.dates.filter((d) => d.status !== 'succeeded').map((d) => (d.status === null ? 1 : runExitCode({ status: d.status, error: d.error }))));
  return codes.size === 1 ? [...codes][0] : 1;
}

function checkDate(flag: string, text: string): string {
  try {
    return parseLogicalDate(text);
  } catch {
    throw new UsageError(`${flag} ${text}: not a valid date; use YYYY-MM-DD, e.g. 2026-11-01`);
  }
}

function summary(o: BackfillOutcome, stopped: boolean): string {
  const lines = [
    `backfill of ${o.job} ${o.from}..${o.to}: ${o.succeeded} of ${o.dates_total} dates succeeded; ${o.runs} run${o.runs === 1 ? '' : 's'}, ${formatCount(o.rows_read)} rows read, ${formatCount(o.rows_rejected)} rejected in ${formatDuration(o.duration_s)}`,
  ];
  const notOk = o.dates.filter((d) => d.status !== 'succeeded');
  for (const d of notOk.slice(0, 20)) {
    const what = d.left === 'not started' ? 'not started' : d.left === 'left to the workers' ? `run ${d.run_id} left to the workers (batchinfer cancel ${d.run_id} stops it)` : d.left === 'cancelled' ? `run ${d.run_id} cancelled (its done chunks stay done)` : d.run_id !== null ? `run ${d.run_id} ${d.status}${d.error ? `: ${d.error}` : ''}` : d.error ? `no run: ${d.error}` : d.why;
    lines.push(`  ${d.date}: ${what}${d.action === 'skip' ? ` (${d.why})` : ''}`);
  }
  if (notOk.length > 20) lines.push(`  … and ${notOk.length - 20} more (--json lists every date)`);
  if (stopped || o.interrupted) lines.push('stopped: run the same command again to pick up where it stopped');
  return lines.join('\n');
}

/** The whole backfill's progress on a terminal: dates done/total, rows, rows/s, ETA. Silent elsewhere. */
class BackfillProgress {
  private done = 0;
  private active = 0;
  private rows = 0;
  private readonly t0 = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly total: number,
  ) {}

  start(): void {
    if (this.out.isTTY) this.timer = setInterval(() => this.draw(), 250);
  }

  /** dates the plan leaves alone count as done */
  skipped(n: number): void {
    this.done += n;
  }

  started(): void {
    this.active++;
  }

  ended(d: DateResult, line?: (s: string) => void): void {
    this.active--;
    this.done++;
    if (line && d.status !== 'succeeded' && d.left === undefined) this.note(`${d.date}: ${d.run_id === null ? 'no run' : `run ${d.run_id} ${d.status}`}${d.error ? `: ${d.error}` : ''}`, line);
  }

  add(rows: number): void {
    this.rows += rows;
  }

  note(text: string, line?: (s: string) => void): void {
    if (this.out.isTTY) this.out.write('\r\x1b[K');
    (line ?? ((s: string) => this.out.write(s + '\n')))(`batchinfer: ${text}`);
  }

  private draw(): void {
    const sec = (Date.now() - this.t0) / 1000;
    const rate = sec > 0 ? this.rows / sec : 0;
    const eta = this.done > 0 ? ` eta ${formatDuration(((this.total - this.done) * sec) / this.done)}` : '';
    this.out.write(`\r\x1b[K${this.done}/${this.total} dates (${this.active} active)  ${formatCount(this.rows)} rows  ${formatCount(Math.round(rate))} rows/s${eta}`);
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.out.write('\r\x1b[K');
    }
  }
}
