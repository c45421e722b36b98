import { scheduleState, type ScheduleState } from '../../runs/schedule-ledger.js';
import { logicalDateOf } from '../../schedule/logical-date.js';
import { isoInZone } from '../../schedule/zoned-time.js';
import { loadJobs } from '../../scheduler/load-jobs.js';
import type { ScheduledJob } from '../../scheduler/scheduler.js';
import { print, type CommandIO } from '../io.js';
import { openLedger } from '../open-ledger.js';

export interface ScheduleFlags {
  jobs?: string;
  json?: boolean;
  databaseUrl?: string;
}

/** A scheduled job as `batchinfer schedule` shows it (--json prints these as held here). */
export interface JobSchedule extends ScheduleState {
  job: string;
  file: string;
  cron: string;
  timezone: string;
  logical_date: string;
  catchup: boolean;
  catchup_limit: number;
  overlap: string;
  /** the next three ticks (ISO 8601 in the timezone) and their logical dates */
  next: { tick: string; logical_date: string }[];
}

const NEXT_TICKS = 3;

/** batchinfer schedule: each scheduled job's cron, next ticks and last scheduled run. Exit 2 when a spec does not load. */
export async function scheduleCommand(flags: ScheduleFlags, io: CommandIO, now = Date.now()): Promise<number> {
  const dir = flags.jobs ?? 'jobs';
  const loaded = loadJobs(dir, io.cwd);
  const ledger = loaded.jobs.length ? await openLedger(flags.databaseUrl, io, 'schedule') : undefined;
  const out: JobSchedule[] = [];
  try {
    for (const job of loaded.jobs) out.push(await describe(job, now, ledger?.exists ? (j) => scheduleState(ledger.client, j) : undefined));
  } finally {
    await ledger?.close();
  }
  for (const p of loaded.problems) print(io.stderr, `${p.message}`);
  if (flags.json) print(io.stdout, JSON.stringify(out));
  else {
    const bad = loaded.problems.length;
    if (out.length === 0) print(io.stdout, `no job in ${dir} has a schedule${bad ? ` that loads (${bad} spec${bad === 1 ? '' : 's'} could not be loaded: fix what is said above)` : ''}`);
    for (const j of out) print(io.stdout, human(j));
    for (const u of loaded.unscheduled) print(io.stdout, `(${u.file}: job ${u.job} has no schedule; not scheduled)`);
  }
  return loaded.problems.length ? 2 : 0;
}

async function describe(job: ScheduledJob, now: number, state?: (job: string) => Promise<ScheduleState>): Promise<JobSchedule> {
  const s = job.spec.schedule;
  const next: JobSchedule['next'] = [];
  for (let t = job.cron.next(now); t !== undefined && next.length < NEXT_TICKS; t = job.cron.next(t)) next.push({ tick: isoInZone(s.timezone, t), logical_date: logicalDateOf(t, s.timezone, s.logicalDate) });
  const st: ScheduleState = state ? await state(job.spec.name) : { last_run: null, overlap_skips: 0, last_skipped_for: null, last_error: null, last_error_for: null };
  return {
    job: job.spec.name,
    file: job.spec.specLabel,
    cron: s.cron,
    timezone: s.timezone,
    logical_date: s.logicalDate,
    catchup: s.catchup,
    catchup_limit: s.catchupLimit,
    overlap: s.overlap,
    next,
    ...st,
  };
}

function human(j: JobSchedule): string {
  // Every tick as the next ticks show it: in the schedule's timezone (the ledger's are UTC).
  const zoned = (utc: string | null) => (utc === null ? '' : isoInZone(j.timezone, Date.parse(utc)));
  const lines = [
    `${j.job}  (${j.file})`,
    `  cron "${j.cron}" in ${j.timezone}; logical_date ${j.logical_date}; overlap ${j.overlap}; catchup ${j.catchup ? `on (at most ${j.catchup_limit})` : 'off'}`,
    `  next: ${j.next.map((n) => `${n.tick} (for ${n.logical_date})`).join(', ')}`,
    `  last scheduled run: ${j.last_run ? `${j.last_run.run_id} ${j.last_run.status} (tick ${zoned(j.last_run.scheduled_for)}, for ${j.last_run.logical_date})` : 'none yet'}`,
  ];
  if (j.overlap_skips > 0) lines.push(`  ticks skipped because the previous run was still active (overlap: skip): ${j.overlap_skips}, the last at ${zoned(j.last_skipped_for)}`);
  if (j.last_error && (!j.last_run || j.last_error_for! > j.last_run.scheduled_for)) lines.push(`  last tick that could not create its run: ${zoned(j.last_error_for)}: ${j.last_error}`);
  return lines.join('\n');
}
