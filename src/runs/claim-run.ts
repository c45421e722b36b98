import type pg from 'pg';
import { errorMessage } from '../errors.js';
import { failedNotReady } from './finish-run.js';
import { createRun, findLastRun, findTickRun, hasChunks, sameRunInput, type NewRun, type RunRecord } from './ledger.js';

/** The advisory-lock class of run ownership locks (pg_advisory_lock(class, run_id)): the owner's connection holds it. */
const RUN_LOCK_CLASS = 0x62690001;

/** A run of the same job and date is active and its owner is alive: a second owner is refused. */
export class RunBusyError extends Error {
  override name = 'RunBusyError';
}

/** A scheduled tick already has its run, finished: a tick is run once (its date can be run again with run or backfill). */
export class TickTakenError extends Error {
  override name = 'TickTakenError';
  constructor(
    message: string,
    readonly runId: number,
  ) {
    super(message);
  }
}

export interface Claim {
  run: RunRecord;
  /** an unfinished run taken up again (its done chunks stay done) */
  resumed: boolean;
  /** why an earlier unfinished run was not resumed, or whose run was taken over */
  note?: string;
}

/**
 * Make `client`'s session the owner of the run for (job, logical date): resume the unfinished run of
 * the same input and model (unless fresh), or create one. Ownership is a session-level advisory lock
 * on the run id held by the owner's connection for the run's life: when the owner dies (kill -9, a
 * lost machine) Postgres drops its connection and the lock with it, so the next claim takes the run
 * over at once, without waiting for a lease to expire. Claims of one (job, date) are serialised by a
 * transaction lock; the unique index runs_one_active is the backstop for one active run per job and date.
 */
export async function claimRun(client: pg.ClientBase, want: NewRun, opts: { owner: string; fresh?: boolean; /** a run for the queue: status queued, owner "queue", no session lock (workers drive it) */ queued?: boolean }): Promise<Claim> {
  const lock = async (runId: number) => {
    if (!opts.queued) await client.query(`SELECT pg_advisory_lock($1, $2::int)`, [RUN_LOCK_CLASS, runId]);
  };
  const status = opts.queued ? 'queued' : 'running';
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('batchinfer.claim'), hashtext($1))`, [`${want.job}|${want.logicalDate}`]);
    if (want.scheduledFor !== null) {
      const claim = await claimTickRun(client, want, opts, status, lock);
      await client.query('COMMIT');
      return claim;
    }
    const last = await findLastRun(client, want.job, want.logicalDate);
    let note: string | undefined;
    if (last && (last.status === 'running' || last.status === 'queued')) {
      const { rows } = await client.query<{ got: boolean }>(`SELECT pg_try_advisory_lock($1, $2::int) AS got`, [RUN_LOCK_CLASS, last.runId]);
      if (!rows[0].got || last.owner === 'queue') {
        if (rows[0].got) await unlock(client, last.runId);
        throw new RunBusyError(
          `run ${last.runId} of job ${want.job} for ${want.logicalDate} is already ${last.status} (owner: ${last.owner ?? 'unknown'}${last.heartbeatAgeS !== null ? `, last heartbeat ${Math.round(last.heartbeatAgeS)} s ago` : ''}); wait for it to end, or cancel it with \`batchinfer cancel ${last.runId}\``,
        );
      }
      // Its owner is gone (the lock was free): take it over, or close it if it can't be resumed.
      if (!opts.fresh && sameRunInput(last, want)) {
        if (opts.queued) await unlock(client, last.runId);
        await takeOwnership(client, last.runId, opts.owner, status);
        await client.query('COMMIT');
        return { run: { ...last, status, owner: opts.owner }, resumed: true, note: `taking over run ${last.runId}: its owner (${last.owner ?? 'unknown'}) is gone` };
      }
      await client.query(`UPDATE batchinfer.runs SET status = 'failed', finished_at = now(), error = $2 WHERE run_id = $1`, [
        last.runId,
        `abandoned: its owner (${last.owner ?? 'unknown'}) stopped, and run ${opts.fresh ? 'again with --fresh' : 'again with a different model, spec or input'}`,
      ]);
      await unlock(client, last.runId);
      note = `run ${last.runId} was left unfinished by an owner that is gone; it is marked failed and a new run starts`;
    } else if (last && last.status !== 'succeeded' && !opts.fresh && sameRunInput(last, want) && !(await endedNotReady(client, last.runId))) {
      await lock(last.runId);
      await takeOwnership(client, last.runId, opts.owner, status);
      await client.query('COMMIT');
      return { run: { ...last, status, owner: opts.owner }, resumed: true };
    }
    const run = await createRun(client, want, opts.owner, status);
    await lock(run.runId);
    await client.query('COMMIT');
    return { run, resumed: false, note };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * A scheduled run is the run of its tick, not of its date: the tick's run is created once (the
 * scheduler usually created it already, queued, waiting for its turn), taken up by its owner, taken
 * over when its owner is gone, resumed when it was left unfinished; a tick whose run is done is not
 * run again.
 */
async function claimTickRun(client: pg.ClientBase, want: NewRun, opts: { owner: string; fresh?: boolean }, status: 'running' | 'queued', lock: (runId: number) => Promise<void>): Promise<Claim> {
  const tick = await findTickRun(client, want.job, want.scheduledFor!);
  if (!tick) {
    const run = await createRun(client, want, opts.owner, status);
    await lock(run.runId);
    return { run, resumed: false };
  }
  if (tick.status === 'running' || tick.status === 'queued') {
    const { rows } = await client.query<{ got: boolean }>(`SELECT pg_try_advisory_lock($1, $2::int) AS got`, [RUN_LOCK_CLASS, tick.runId]);
    if (!rows[0].got || tick.owner === 'queue') {
      if (rows[0].got) await unlock(client, tick.runId);
      throw new RunBusyError(`run ${tick.runId} of job ${want.job} for the tick ${want.scheduledFor} is already ${tick.status} (owner: ${tick.owner ?? 'unknown'}); wait for it to end, or cancel it with \`batchinfer cancel ${tick.runId}\``);
    }
    if (status === 'queued') await unlock(client, tick.runId);
    // Created ahead of its turn (no chunk planned yet): a new run to plan, not a resumed one.
    const resumed = tick.planned || (await hasChunks(client, tick.runId));
    await takeOwnership(client, tick.runId, opts.owner, status);
    const note = tick.owner !== opts.owner ? `taking over run ${tick.runId}: its owner (${tick.owner ?? 'unknown'}) is gone` : undefined;
    return { run: { ...tick, status, owner: opts.owner }, resumed, note };
  }
  if (tick.status !== 'succeeded' && !opts.fresh && sameRunInput(tick, want)) {
    // Another scheduler may hold it (waiting for its turn there): never wait for that inside this transaction.
    if (status === 'running') {
      const { rows } = await client.query<{ got: boolean }>(`SELECT pg_try_advisory_lock($1, $2::int) AS got`, [RUN_LOCK_CLASS, tick.runId]);
      if (!rows[0].got) throw new RunBusyError(`run ${tick.runId} of job ${want.job} for the tick ${want.scheduledFor} is held by another process (a scheduler resuming it); let it finish`);
    }
    await takeOwnership(client, tick.runId, opts.owner, status);
    return { run: { ...tick, status, owner: opts.owner }, resumed: true };
  }
  throw new TickTakenError(`the tick ${want.scheduledFor} of job ${want.job} already has run ${tick.runId} (${tick.status}); run the date again with \`batchinfer run --date ${want.logicalDate}\``, tick.runId);
}

/** A run that failed for too few rows is not resumed: its plan counted the rows that were there then; a new run reads the source afresh. */
async function endedNotReady(client: pg.ClientBase, runId: number): Promise<boolean> {
  const { rows } = await client.query<{ status: RunRecord['status']; error: string | null }>(`SELECT status, error FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  return rows[0] !== undefined && failedNotReady(rows[0]);
}

async function takeOwnership(client: pg.ClientBase, runId: number, owner: string, status: 'running' | 'queued'): Promise<void> {
  await client.query(
    `UPDATE batchinfer.runs SET status = $3, owner = $2, heartbeat_at = now(), cancel_requested = false, error = NULL, finished_at = NULL, started_at = coalesce(started_at, now()) WHERE run_id = $1`,
    [runId, owner, status],
  );
}

/** Give up ownership (the run is finished, or the owner stops); the connection may stay open. */
export async function releaseRun(client: pg.ClientBase, runId: number): Promise<void> {
  await unlock(client, runId).catch(() => undefined);
}

async function unlock(client: pg.ClientBase, runId: number): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock($1, $2::int)`, [RUN_LOCK_CLASS, runId]);
}

/**
 * Take the ownership lock of a run no live session owns (true), so nobody claims it meanwhile; give it
 * back with releaseRun. False when a live owner holds it.
 */
export async function tryHoldRun(client: pg.ClientBase, runId: number): Promise<boolean> {
  const { rows } = await client.query<{ got: boolean }>(`SELECT pg_try_advisory_lock($1, $2::int) AS got`, [RUN_LOCK_CLASS, runId]);
  return rows[0].got;
}

/** Whether some live session owns the run (holds its ownership lock). */
export async function runOwnerAlive(client: pg.ClientBase, runId: number): Promise<boolean> {
  // Advisory locks are per database, pg_locks is per cluster: another database's run of the same id is not this one.
  const { rows } = await client.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2 AND granted) AS held`,
    [RUN_LOCK_CLASS, runId],
  );
  return rows[0].held;
}

export interface Heartbeat {
  /** stop beating (idempotent) */
  stop(): void;
}

/**
 * The owner's sign of life: every `everyMs` it stamps runs.heartbeat_at and reads the cancel flag;
 * onCancel fires once when `batchinfer cancel` (any process) set it, or when the run was taken from
 * this owner. A failed beat is retried on the next tick (the ownership lock, not the stamp, decides).
 */
export function startHeartbeat(client: pg.ClientBase, runId: number, owner: string, everyMs: number, onCancel: (why: string) => void): Heartbeat {
  let stopped = false;
  let busy = false;
  let fired = false;
  const beat = async () => {
    if (stopped || busy) return;
    busy = true;
    try {
      const { rows } = await client.query<{ cancel_requested: boolean; owner: string | null }>(
        `UPDATE batchinfer.runs SET heartbeat_at = now() WHERE run_id = $1 RETURNING cancel_requested, owner`,
        [runId],
      );
      const r = rows[0];
      if (!fired && !stopped && r && (r.cancel_requested || r.owner !== owner)) {
        fired = true;
        onCancel(r.cancel_requested ? 'cancelled by batchinfer cancel' : `run taken over by ${r.owner}`);
      }
    } catch (err) {
      void errorMessage(err); // the next tick tries again
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), everyMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
