import type pg from 'pg';
import { defaults } from '../defaults.js';
import { decideOverlap, type ActiveRun } from '../schedule/overlap.js';
import type { ScheduleSpec } from '../spec/job-spec.js';
import { runOwnerAlive, tryHoldRun } from './claim-run.js';
import { createRun, findTickRun, utcIso, type NewRun, type RunRecord, type RunStatus } from './ledger.js';

export type TickClaim =
  /** this scheduler created the tick's run */
  | { kind: 'created'; run: RunRecord; /** created while this active run of the job goes on (overlap: queue, or catch-up) */ alongside?: number }
  /** the tick's run exists already (another scheduler, or an earlier start, created it) */
  | { kind: 'exists'; runId: number; status: RunStatus }
  /** overlap: skip: nothing created; the tick is counted in batchinfer.schedules */
  | { kind: 'skipped'; blockedBy: number; why: string };

/**
 * Decide a tick and create its run, as one step under the job's scheduling lock, so replicas of the
 * scheduler agree: a tick that has its run (runs_one_per_tick) is never created twice, and one that
 * overlaps a live run of the job is skipped or created by whichever replica comes first, the same
 * way. `hold`: this session takes the new run's ownership lock (an in-process run waiting for its
 * turn is then not mistaken for one whose owner is gone).
 */
export async function claimTick(
  client: pg.ClientBase,
  want: NewRun & { scheduledFor: string },
  opts: { owner: string; overlap: ScheduleSpec['overlap']; catchUp: boolean; hold: boolean },
): Promise<TickClaim> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('batchinfer.schedule'), hashtext($1))`, [want.job]);
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('batchinfer.claim'), hashtext($1))`, [`${want.job}|${want.logicalDate}`]);
    const taken = await findTickRun(client, want.job, want.scheduledFor);
    if (taken) {
      await client.query('COMMIT');
      return { kind: 'exists', runId: taken.runId, status: taken.status };
    }
    const decision = decideOverlap(opts.overlap, await liveActiveRuns(client, want.job, want.logicalDate), opts.catchUp);
    if (!decision.create) {
      await countSkip(client, want.job, want.scheduledFor, decision.why);
      await client.query('COMMIT');
      return { kind: 'skipped', blockedBy: decision.blockedBy, why: decision.why };
    }
    const queued = opts.owner === 'queue';
    const run = await createRun(client, want, opts.owner, 'queued', { started: queued });
    if (opts.hold) await tryHoldRun(client, run.runId);
    await client.query('COMMIT');
    return { kind: 'created', run, alongside: decision.alongside };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The cheap look before a run's inputs are checked: a tick that has its run, or that overlaps a live
 * run under overlap: skip (counted here, once however many replicas see it), goes no further;
 * undefined: go on to claimTick, which decides again under the lock.
 */
export async function peekTick(client: pg.ClientBase, job: string, scheduledFor: string, logicalDate: string, overlap: ScheduleSpec['overlap'], catchUp: boolean): Promise<TickClaim | undefined> {
  const taken = await findTickRun(client, job, scheduledFor);
  if (taken) return { kind: 'exists', runId: taken.runId, status: taken.status };
  const decision = decideOverlap(overlap, await liveActiveRuns(client, job, logicalDate), catchUp);
  if (decision.create) return undefined;
  await countSkip(client, job, scheduledFor, decision.why);
  return { kind: 'skipped', blockedBy: decision.blockedBy, why: decision.why };
}

/**
 * The job's runs a new tick would overlap: its active scheduled runs, and any active run of the same
 * logical date, newest first; a run whose in-process owner is gone (killed) is no longer going on.
 */
async function liveActiveRuns(client: pg.ClientBase, job: string, logicalDate: string): Promise<ActiveRun[]> {
  // A queued run still unplanned long after its enqueuer's last sign of life: the enqueuer died midway, nobody will queue it.
  const { rows } = await client.query<{ run_id: string; status: 'queued' | 'running'; owner: string | null }>(
    `SELECT run_id, status, owner FROM batchinfer.runs
      WHERE job = $1 AND status IN ('queued', 'running') AND (scheduled_for IS NOT NULL OR logical_date = $2)
        AND NOT (owner = 'queue' AND NOT planned AND heartbeat_at < now() - make_interval(secs => $3))
      ORDER BY run_id DESC`,
    [job, logicalDate, defaults.runLeaseMs / 1000],
  );
  const live: ActiveRun[] = [];
  for (const r of rows) if (r.owner === 'queue' || (await runOwnerAlive(client, Number(r.run_id)))) live.push({ runId: Number(r.run_id), status: r.status });
  return live;
}

/** Count a skipped tick once, however many replicas skip it. */
async function countSkip(client: pg.ClientBase, job: string, tick: string, why: string): Promise<void> {
  await client.query(
    `INSERT INTO batchinfer.schedules AS s (job, overlap_skips, last_skipped_for, last_skip_reason) VALUES ($1, 1, $2, $3)
     ON CONFLICT (job) DO UPDATE SET overlap_skips = s.overlap_skips + 1, last_skipped_for = excluded.last_skipped_for, last_skip_reason = excluded.last_skip_reason, updated_at = now()
      WHERE s.last_skipped_for IS NULL OR s.last_skipped_for < excluded.last_skipped_for`,
    [job, tick, why],
  );
}

/** A tick that could not create its run (a missing input file, a model that does not fit): shown by `batchinfer schedule`. */
export async function recordTickError(client: pg.ClientBase, job: string, tick: string, error: string): Promise<void> {
  await client.query(
    `INSERT INTO batchinfer.schedules AS s (job, last_error_for, last_error) VALUES ($1, $2, $3)
     ON CONFLICT (job) DO UPDATE SET last_error_for = excluded.last_error_for, last_error = excluded.last_error, updated_at = now()`,
    [job, tick, error],
  );
}

/** The newest tick the ledger shows handled for the job (a scheduled run's, or a skipped one), as epoch ms. */
export async function lastHandledTick(client: pg.ClientBase, job: string): Promise<number | undefined> {
  const { rows } = await client.query<{ t: Date | null }>(
    `SELECT greatest((SELECT max(scheduled_for) FROM batchinfer.runs WHERE job = $1 AND scheduled_for IS NOT NULL),
                     (SELECT last_skipped_for FROM batchinfer.schedules WHERE job = $1)) AS t`,
    [job],
  );
  return rows[0].t?.getTime();
}

/** A scheduled run the scheduler left unfinished: resumed when it starts again. */
export interface UnfinishedTick {
  runId: number;
  scheduledFor: string;
  logicalDate: string;
  status: RunStatus;
}

/**
 * Among the job's newest `limit` scheduled runs, those an in-process scheduler left unfinished: active
 * with their owner gone (killed), or cancelled by a signal (stopped) rather than by `batchinfer
 * cancel`. Oldest first. Queued runs belong to the queue's workers and are not here.
 */
export async function unfinishedTicks(client: pg.ClientBase, job: string, limit: number): Promise<UnfinishedTick[]> {
  const { rows } = await client.query<{ run_id: string; scheduled_for: string; logical_date: string; status: RunStatus; owner: string | null }>(
    `SELECT run_id, ${utcIso('scheduled_for')} AS scheduled_for, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, status, owner FROM (
       SELECT * FROM batchinfer.runs WHERE job = $1 AND scheduled_for IS NOT NULL ORDER BY scheduled_for DESC LIMIT $2) r
      WHERE owner IS DISTINCT FROM 'queue' AND (status IN ('queued', 'running') OR (status = 'cancelled' AND NOT cancel_requested))
      ORDER BY scheduled_for`,
    [job, limit],
  );
  const out: UnfinishedTick[] = [];
  for (const r of rows) {
    const runId = Number(r.run_id);
    if (r.status !== 'cancelled' && (await runOwnerAlive(client, runId))) continue;
    out.push({ runId, scheduledFor: r.scheduled_for, logicalDate: r.logical_date, status: r.status });
  }
  return out;
}

/** Mark runs this scheduler created that never started (it is stopping): the next start resumes them. */
export async function cancelWaiting(client: pg.ClientBase, runIds: number[], why: string): Promise<void> {
  if (runIds.length === 0) return;
  await client.query(`UPDATE batchinfer.runs SET status = 'cancelled', finished_at = now(), error = $2 WHERE run_id = ANY($1::bigint[]) AND status = 'queued'`, [runIds, why]);
}

/** What `batchinfer schedule` shows of a job besides its ticks. */
export interface ScheduleState {
  last_run: { run_id: number; scheduled_for: string; logical_date: string; status: RunStatus; finished_at: string | null } | null;
  overlap_skips: number;
  last_skipped_for: string | null;
  last_error: string | null;
  last_error_for: string | null;
}

export async function scheduleState(client: pg.ClientBase, job: string): Promise<ScheduleState> {
  const run = await client.query<{ run_id: string; scheduled_for: string; logical_date: string; status: RunStatus; finished_at: string | null }>(
    `SELECT run_id, ${utcIso('scheduled_for')} AS scheduled_for, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, status, ${utcIso('finished_at')} AS finished_at
       FROM batchinfer.runs WHERE job = $1 AND scheduled_for IS NOT NULL ORDER BY scheduled_for DESC LIMIT 1`,
    [job],
  );
  const s = await client.query<{ overlap_skips: string; last_skipped_for: string | null; last_error: string | null; last_error_for: string | null }>(
    `SELECT overlap_skips, ${utcIso('last_skipped_for')} AS last_skipped_for, last_error, ${utcIso('last_error_for')} AS last_error_for FROM batchinfer.schedules WHERE job = $1`,
    [job],
  );
  const r = run.rows[0];
  const k = s.rows[0];
  return {
    last_run: r ? { run_id: Number(r.run_id), scheduled_for: r.scheduled_for, logical_date: r.logical_date, status: r.status, finished_at: r.finished_at } : null,
    overlap_skips: k ? Number(k.overlap_skips) : 0,
    last_skipped_for: k?.last_skipped_for ?? null,
    last_error: k?.last_error ?? null,
    last_error_for: k?.last_error_for ?? null,
  };
}
