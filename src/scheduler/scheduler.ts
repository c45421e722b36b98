import { errorMessage } from '../errors.js';
import { MISSED_COUNT_CAP, planCatchUp, splitDueTicks } from '../schedule/catch-up.js';
import type { CronSchedule } from '../schedule/cron-schedule.js';
import { logicalDateOf, tickInterval } from '../schedule/logical-date.js';
import { isoInZone } from '../schedule/zoned-time.js';
import type { JobSpec, ScheduleSpec } from '../spec/job-spec.js';
import { intervalInstant, type DataInterval } from '../spec/template.js';
import type { Clock } from './clock.js';

/** A job the scheduler runs: its spec (with a schedule) and the schedule's ticks. */
export interface ScheduledJob {
  spec: JobSpec & { schedule: ScheduleSpec };
  cron: CronSchedule;
}

/** One cron tick of a job, with what its run is for. */
export interface Tick {
  job: ScheduledJob;
  /** epoch ms */
  at: number;
  /** the tick as the ledger records it (runs.scheduled_for): ISO 8601, UTC */
  scheduledFor: string;
  logicalDate: string;
  interval: DataInterval;
  /** a tick missed while the scheduler was down (or asleep), made up now */
  catchUp: boolean;
}

export type TickOutcome =
  /** this scheduler created the tick's run (queued for workers, or waiting for its turn in this process) */
  | { action: 'created'; runId: number; note?: string }
  /** the tick's run was created already (another replica) */
  | { action: 'exists'; runId: number; why: string }
  /** overlap: skip: no run; counted in batchinfer.schedules */
  | { action: 'skipped'; blockedBy: number; why: string };

/** Where ticks go: the queue (workers score) or this process (inline). */
export interface SchedulerBackend {
  /** the newest tick the ledger shows handled for the job (a scheduled run's, or a skipped one's) */
  lastHandledTick(job: string): Promise<number | undefined>;
  /** create the tick's run (once, whichever replica comes first) or say why none */
  submit(tick: Tick): Promise<TickOutcome>;
  /** a tick that could not create its run (shown by `batchinfer schedule`) */
  recordError(tick: Tick, error: string): Promise<void>;
  /** take up again the runs this kind of scheduler left unfinished when it stopped; their ids */
  resumeUnfinished(job: ScheduledJob): Promise<number[]>;
  /** stop: runs in this process end as `run` does on Ctrl-C (chunks in flight commit), resumed by the next start */
  close(): Promise<void>;
}

export type SchedulerEvent = Record<string, unknown> & { event: string };

/** A spec the scheduler could not load (on start or reload). */
export interface SpecProblem {
  /** absolute path of the spec file */
  path: string;
  /** as the user knows it (relative to the working directory) */
  file: string;
  message: string;
}

interface JobState {
  job: ScheduledJob;
  /** ticks at or before this instant have been seen (handed on, or left to catch-up) */
  cursor: number;
  timer?: { cancel(): void };
  /** this job's ticks, handled one after another (oldest first) */
  chain: Promise<void>;
}

/**
 * The scheduler's core: for each job, sleep until its next tick on the injected clock, then hand the
 * tick to the backend and log one line for it. Starting, it resumes what it left unfinished and
 * makes up missed ticks as the job's catch-up policy says. The ledger, not this process, knows which
 * ticks have runs, so any number of replicas can run it.
 */
export class Scheduler {
  private readonly jobs = new Map<string, JobState>();
  private stopped = false;

  constructor(private readonly opts: { clock: Clock; backend: SchedulerBackend; log: (e: SchedulerEvent) => void }) {}

  /** Start every job: resume, catch up, arm its next tick. */
  async start(jobs: ScheduledJob[]): Promise<void> {
    for (const job of jobs) await this.add(job);
  }

  /** The jobs scheduled now, by name. */
  scheduled(): ScheduledJob[] {
    return [...this.jobs.values()].map((s) => s.job);
  }

  /**
   * Take a new set of specs (SIGHUP): jobs added are started (with their catch-up), removed ones
   * stop ticking (a run in flight goes on), changed ones tick on with the new spec. A spec that does
   * not load keeps its job's previous version running; the other jobs are not touched.
   */
  async reload(jobs: ScheduledJob[], problems: SpecProblem[]): Promise<{ added: string[]; removed: string[]; changed: string[]; kept: string[] }> {
    const next = new Map(jobs.map((j) => [j.spec.name, j]));
    const kept: string[] = [];
    for (const p of problems) {
      const old = [...this.jobs.values()].find((s) => s.job.spec.specPath === p.path);
      if (old && !next.has(old.job.spec.name)) {
        next.set(old.job.spec.name, old.job);
        kept.push(old.job.spec.name);
      }
      this.opts.log({ event: 'spec error', file: p.file, error: p.message, action: old ? `job ${old.job.spec.name} keeps its previous version until the spec is fixed` : 'skipped' });
    }
    const result = { added: [] as string[], removed: [] as string[], changed: [] as string[], kept };
    for (const [name, state] of this.jobs) {
      if (next.has(name)) continue;
      state.timer?.cancel();
      this.jobs.delete(name);
      result.removed.push(name);
      this.opts.log({ event: 'job removed', job: name });
    }
    for (const [name, job] of next) {
      const state = this.jobs.get(name);
      if (!state) {
        result.added.push(name);
        await this.add(job);
        continue;
      }
      const changes = specChanges(state.job.spec, job.spec);
      if (changes.length === 0) continue;
      result.changed.push(name);
      state.job = job;
      if (changes.some((c) => c === 'schedule.cron' || c === 'schedule.timezone')) {
        state.timer?.cancel();
        state.cursor = Math.max(state.cursor, this.opts.clock.now());
        this.arm(state);
      }
      this.opts.log({ event: 'job changed', job: name, changes, ...this.nextTick(state) });
    }
    this.opts.log({ event: 'reload', jobs: this.jobs.size, ...result });
    return result;
  }

  /** Stop ticking, let ticks being handled finish, close the backend (in-process runs stop as on Ctrl-C). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.jobs.values()) s.timer?.cancel();
    await this.idle();
    await this.opts.backend.close();
  }

  /** Resolves once no tick is being handled (tests: after moving the clock). */
  async idle(): Promise<void> {
    for (;;) {
      const chains = [...this.jobs.values()].map((s) => s.chain);
      await Promise.all(chains);
      if ([...this.jobs.values()].every((s, i) => s.chain === chains[i])) return;
    }
  }

  private async add(job: ScheduledJob): Promise<void> {
    const { spec } = job;
    const state: JobState = { job, cursor: this.opts.clock.now(), chain: Promise.resolve() };
    this.jobs.set(spec.name, state);
    try {
      const resumed = await this.opts.backend.resumeUnfinished(job);
      if (resumed.length) this.opts.log({ event: 'resuming runs', job: spec.name, runs: resumed, why: 'left unfinished when the scheduler stopped' });
    } catch (err) {
      this.opts.log({ event: 'resume error', job: spec.name, error: errorMessage(err) });
    }
    // Ticks up to the cursor are catch-up's to decide; later ones are live.
    try {
      const plan = planCatchUp({ schedule: job.cron, lastHandled: await this.opts.backend.lastHandledTick(spec.name), now: state.cursor, catchup: spec.schedule.catchup, limit: spec.schedule.catchupLimit });
      const missed = plan.run.length + plan.skipped.count;
      if (missed > 0) {
        const tz = spec.schedule.timezone;
        this.opts.log({
          event: 'catch-up',
          job: spec.name,
          catchup: spec.schedule.catchup,
          missed: plan.skipped.more ? `more than ${missed}` : missed,
          runs: plan.run.length,
          skipped: plan.skipped.count,
          ...(plan.skipped.count ? { skipped_from: isoInZone(tz, plan.skipped.oldest!), skipped_to: isoInZone(tz, plan.skipped.newest!) } : {}),
          why: spec.schedule.catchup ? `catchup_limit ${spec.schedule.catchupLimit}: the newest missed ticks get runs, older ones are skipped` : 'catchup is off: only future ticks run',
        });
      }
      for (const at of plan.run) this.enqueue(state, at, true);
    } catch (err) {
      this.opts.log({ event: 'catch-up error', job: spec.name, error: errorMessage(err) });
    }
    this.arm(state);
    this.opts.log({ event: 'job scheduled', job: spec.name, cron: spec.schedule.cron, timezone: spec.schedule.timezone, ...this.nextTick(state) });
  }

  private nextTick(state: JobState): Record<string, unknown> {
    const { cron, spec } = state.job;
    const next = cron.next(state.cursor);
    return next === undefined ? { next: null } : { next: isoInZone(spec.schedule.timezone, next), next_logical_date: logicalDateOf(next, spec.schedule.timezone, spec.schedule.logicalDate) };
  }

  private arm(state: JobState): void {
    if (this.stopped) return;
    const next = state.job.cron.next(state.cursor);
    if (next === undefined) return;
    state.timer = this.opts.clock.at(next, () => this.fire(state));
  }

  /** A timer fired: hand on every tick due since the cursor (one, unless the process slept). */
  private fire(state: JobState): void {
    if (this.stopped || this.jobs.get(state.job.spec.name) !== state) return;
    const { spec, cron } = state.job;
    const now = this.opts.clock.now();
    const due = cron.between(state.cursor, now, MISSED_COUNT_CAP);
    state.cursor = Math.max(state.cursor, now);
    const { live, catchUp, skipped } = splitDueTicks(due, spec.schedule.catchup, spec.schedule.catchupLimit);
    if (skipped.length) {
      const tz = spec.schedule.timezone;
      this.opts.log({
        event: 'ticks missed',
        job: spec.name,
        skipped: skipped.length,
        skipped_from: isoInZone(tz, skipped[0]),
        skipped_to: isoInZone(tz, skipped[skipped.length - 1]),
        why: `several ticks came due at once (the process was suspended, or the clock jumped); ${spec.schedule.catchup ? `catchup_limit ${spec.schedule.catchupLimit}` : 'catchup is off'}`,
      });
    }
    for (const at of catchUp) this.enqueue(state, at, true);
    if (live !== undefined) this.enqueue(state, live, false);
    this.arm(state);
  }

  private enqueue(state: JobState, at: number, catchUp: boolean): void {
    const { spec, cron } = state.job;
    const tz = spec.schedule.timezone;
    const tick: Tick = { job: state.job, at, scheduledFor: intervalInstant(at), logicalDate: logicalDateOf(at, tz, spec.schedule.logicalDate), interval: tickInterval(cron, at), catchUp };
    state.chain = state.chain.then(() => this.handle(tick));
  }

  /** Hand a tick to the backend and log its one line: job, tick, logical date, run id or why none. */
  private async handle(tick: Tick): Promise<void> {
    const { spec } = tick.job;
    const line = { event: 'tick', job: spec.name, tick: isoInZone(spec.schedule.timezone, tick.at), logical_date: tick.logicalDate, catch_up: tick.catchUp };
    try {
      const o = await this.opts.backend.submit(tick);
      if (o.action === 'created') this.opts.log({ ...line, action: 'created', run_id: o.runId, ...(o.note ? { note: o.note } : {}) });
      else if (o.action === 'exists') this.opts.log({ ...line, action: 'exists', run_id: o.runId, why: o.why });
      else this.opts.log({ ...line, action: 'skipped', run_id: null, blocked_by: o.blockedBy, why: o.why });
    } catch (err) {
      const error = errorMessage(err);
      this.opts.log({ ...line, action: 'error', run_id: null, error });
      await this.opts.backend.recordError(tick, error).catch(() => undefined);
    }
  }
}

/** The spec's keys as the YAML spells them (the normalized spec's names differ). */
const yamlKey: Record<string, string> = { keyType: 'key_type', batchSize: 'batch_size', chunkRows: 'chunk_rows', maxRejected: 'max_rejected', minRows: 'min_rows', logicalDate: 'logical_date', catchupLimit: 'catchup_limit', specPath: 'file' };

/** Which keys of a job's spec changed (schedule by sub-key), for the reload log. */
export function specChanges(a: JobSpec, b: JobSpec): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'specLabel') continue;
    const x = (a as unknown as Record<string, unknown>)[k];
    const y = (b as unknown as Record<string, unknown>)[k];
    if (k === 'schedule' && x && y) {
      for (const s of new Set([...Object.keys(x), ...Object.keys(y)])) if (JSON.stringify((x as Record<string, unknown>)[s]) !== JSON.stringify((y as Record<string, unknown>)[s])) out.push(`schedule.${yamlKey[s] ?? s}`);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(yamlKey[k] ?? k);
  }
  return out;
}
