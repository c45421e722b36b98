import type pg from 'pg';
import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { errorMessage } from '../errors.js';
import { readyRun } from '../execute/prepare-run.js';
import { runJob } from '../execute/run-job.js';
import { releaseRun, tryHoldRun } from '../runs/claim-run.js';
import { migrate } from '../runs/migrations.js';
import { inlineOwner } from '../runs/owner.js';
import { cancelWaiting, claimTick, lastHandledTick, peekTick, recordTickError, unfinishedTicks, type TickClaim } from '../runs/schedule-ledger.js';
import { tickInterval } from '../schedule/logical-date.js';
import { isoInZone } from '../schedule/zoned-time.js';
import type { ScheduledJob, SchedulerBackend, SchedulerEvent, Tick, TickOutcome } from './scheduler.js';

interface Waiting {
  runId: number;
  tick: Tick;
}

/** One job's runs in this process: one at a time, in tick order. */
interface Lane {
  waiting: Waiting[];
  active?: { runId: number; done: Promise<void> };
}

/**
 * Ticks scored in this process (no queue): each tick's run is created in the ledger at once (so
 * replicas agree on it) and waits for its turn, one run at a time per job, while this process holds
 * its ownership lock. Stopping ends the run in flight as Ctrl-C ends `run` (chunks in flight commit,
 * the run is cancelled) and marks the waiting ones cancelled; the next start resumes them all.
 */
export class InlineBackend implements SchedulerBackend {
  private client?: pg.Client;
  private readonly owner = inlineOwner();
  private readonly lanes = new Map<string, Lane>();
  private readonly stopRuns = new AbortController();
  /** the ledger connection is shared: one statement sequence (a transaction) at a time */
  private serial: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: { databaseUrl: string; threads: number; log: (e: SchedulerEvent) => void }) {}

  async lastHandledTick(job: string): Promise<number | undefined> {
    return this.withLedger((c) => lastHandledTick(c, job));
  }

  async submit(tick: Tick): Promise<TickOutcome> {
    const { spec } = tick.job;
    const claim = await this.withLedger(async (c): Promise<TickClaim> => {
      const seen = await peekTick(c, spec.name, tick.scheduledFor, tick.logicalDate, spec.schedule.overlap, tick.catchUp);
      if (seen) return seen;
      const { want } = await readyRun(c, { spec, logicalDate: tick.logicalDate, trigger: 'schedule', databaseUrl: this.opts.databaseUrl, scheduledFor: tick.scheduledFor, interval: tick.interval });
      return claimTick(c, { ...want, scheduledFor: tick.scheduledFor }, { owner: this.owner, overlap: spec.schedule.overlap, catchUp: tick.catchUp, hold: true });
    });
    if (claim.kind === 'exists') return { action: 'exists', runId: claim.runId, why: `run ${claim.runId} of this tick was created already (${claim.status})` };
    if (claim.kind === 'skipped') return { action: 'skipped', blockedBy: claim.blockedBy, why: claim.why };
    const lane = this.lane(spec.name);
    const behind = lane.waiting.at(-1)?.runId ?? lane.active?.runId;
    lane.waiting.push({ runId: claim.run.runId, tick });
    this.pump(spec.name);
    const note = behind !== undefined ? `waits for run ${behind} (one run at a time per job in this process)` : claim.alongside !== undefined ? `created alongside run ${claim.alongside}, still active` : undefined;
    return { action: 'created', runId: claim.run.runId, note };
  }

  async recordError(tick: Tick, error: string): Promise<void> {
    await this.withLedger((c) => recordTickError(c, tick.job.spec.name, tick.scheduledFor, error));
  }

  async resumeUnfinished(job: ScheduledJob): Promise<number[]> {
    const { spec, cron } = job;
    const found = await this.withLedger((c) => unfinishedTicks(c, spec.name, spec.schedule.catchupLimit));
    const lane = this.lane(spec.name);
    const ids: number[] = [];
    for (const u of found) {
      if (lane.waiting.some((w) => w.runId === u.runId) || lane.active?.runId === u.runId) continue;
      // Held like a run waiting for its turn; another live process holding it keeps it.
      if (!(await this.withLedger((c) => tryHoldRun(c, u.runId)))) continue;
      const at = Date.parse(u.scheduledFor);
      lane.waiting.push({ runId: u.runId, tick: { job, at, scheduledFor: u.scheduledFor, logicalDate: u.logicalDate, interval: tickInterval(cron, at), catchUp: false } });
      ids.push(u.runId);
    }
    this.pump(spec.name);
    return ids;
  }

  /** Resolves once every run handed to this process has ended (tests; a clean hand-over). */
  async drained(): Promise<void> {
    for (;;) {
      const active = [...this.lanes.values()].map((l) => l.active?.done).filter(Boolean);
      if (active.length === 0) return;
      await Promise.all(active);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRuns.abort();
    await Promise.all([...this.lanes.values()].map((l) => l.active?.done));
    const waiting = [...this.lanes.values()].flatMap((l) => l.waiting.splice(0).map((w) => w.runId));
    if (waiting.length) {
      await this.withLedger((c) => cancelWaiting(c, waiting, 'cancelled: the scheduler stopped before its turn; the scheduler resumes it when it starts again')).catch(() => undefined);
      this.opts.log({ event: 'runs left for the next start', runs: waiting, why: 'the scheduler stopped before their turn' });
    }
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private lane(job: string): Lane {
    let lane = this.lanes.get(job);
    if (!lane) this.lanes.set(job, (lane = { waiting: [] }));
    return lane;
  }

  private pump(job: string): void {
    const lane = this.lane(job);
    if (lane.active || this.closed) return;
    const next = lane.waiting.shift();
    if (!next) return;
    const done = this.runOne(next).finally(() => {
      lane.active = undefined;
      this.pump(job);
    });
    lane.active = { runId: next.runId, done };
  }

  /** Score one tick's run here, through the same path as `batchinfer run`: it takes over the run this process held. */
  private async runOne({ runId, tick }: Waiting): Promise<void> {
    const { spec } = tick.job;
    // The tick as the `tick` line shows it (in the schedule's timezone), so one grep finds both.
    const about = { job: spec.name, run: runId, logical_date: tick.logicalDate, tick: isoInZone(spec.schedule.timezone, tick.at) };
    try {
      await this.withLedger((c) => releaseRun(c, runId));
      this.opts.log({ event: 'run start', ...about });
      const o = await runJob({
        spec,
        logicalDate: tick.logicalDate,
        trigger: 'schedule',
        databaseUrl: this.opts.databaseUrl,
        threads: this.opts.threads,
        signal: this.stopRuns.signal,
        scheduledFor: tick.scheduledFor,
        interval: tick.interval,
      });
      this.opts.log({ event: o.status === 'succeeded' ? 'run finished' : `run ${o.status}`, ...about, run: o.run_id, status: o.status, rows_read: o.rows_read, rows_scored: o.rows_scored, rows_rejected: o.rows_rejected, duration_s: o.duration_s, error: o.error, max_psi: o.max_psi, drift_status: o.drift_status, warnings: o.warnings });
    } catch (err) {
      this.opts.log({ event: 'run error', ...about, error: errorMessage(err) });
    }
  }

  /** Run fn on the ledger connection, one caller at a time; a lost connection is replaced on the next call. */
  private withLedger<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const run = this.serial.then(async () => fn(await this.ledger()));
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async ledger(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = await connectPg(this.opts.databaseUrl, { purpose: 'scheduler', queryTimeoutMs: defaults.dbQueryTimeoutMs });
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
    });
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await migrate(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }
}
