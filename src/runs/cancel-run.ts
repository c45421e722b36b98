import type pg from 'pg';
import { releaseRun, tryHoldRun } from './claim-run.js';
import type { RunStatus } from './ledger.js';
import { isActive } from './run-status.js';

export type CancelOutcome =
  /** the run had ended already: nothing changed */
  | { action: 'finished'; status: RunStatus }
  /** the cancel flag is set: the owner's heartbeat reads it and ends the run cancelled */
  | { action: 'requested'; status: RunStatus; owner: string | null; already: boolean }
  /** no live owner held it (killed): marked cancelled here */
  | { action: 'cancelled'; owner: string | null };

export const cancelledWithoutOwner = (owner: string | null) =>
  `cancelled by batchinfer cancel while its owner (${owner ?? 'unknown'}) was gone; run the same job and date again to resume`;

/**
 * Cancel a run: an active run's live owner (or the queue) is asked through the cancel flag and stops
 * it itself (chunks in flight commit); a run whose owner is gone is marked cancelled here, with its
 * done chunks' counts, while holding its ownership lock so no new owner claims it meanwhile.
 * Undefined when the ledger has no such run.
 */
export async function cancelRun(client: pg.ClientBase, runId: number): Promise<CancelOutcome | undefined> {
  const found = await client.query<{ status: RunStatus; owner: string | null; cancel_requested: boolean }>(`SELECT status, owner, cancel_requested FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  const run = found.rows[0];
  if (!run) return undefined;
  if (!isActive(run.status)) return { action: 'finished', status: run.status };
  if (run.owner !== 'queue' && (await tryHoldRun(client, runId))) {
    try {
      const { rows } = await client.query<{ owner: string | null }>(
        `UPDATE batchinfer.runs r SET status = 'cancelled', finished_at = now(), cancel_requested = true, source_snapshot = NULL, error = $2,
                rows_read = c.read, rows_scored = c.scored, rows_rejected = c.rejected
           FROM (SELECT coalesce(sum(rows_read), 0) AS read, coalesce(sum(rows_scored), 0) AS scored, coalesce(sum(rows_rejected), 0) AS rejected
                   FROM batchinfer.chunks WHERE run_id = $1 AND status = 'done') c
          WHERE r.run_id = $1 AND r.status IN ('queued', 'running') RETURNING r.owner`,
        [runId, cancelledWithoutOwner(run.owner)],
      );
      if (rows[0]) return { action: 'cancelled', owner: rows[0].owner };
    } finally {
      await releaseRun(client, runId);
    }
    return finishedMeanwhile(client, runId);
  }
  const { rows } = await client.query<{ status: RunStatus; owner: string | null }>(
    `UPDATE batchinfer.runs SET cancel_requested = true WHERE run_id = $1 AND status IN ('queued', 'running') RETURNING status, owner`,
    [runId],
  );
  if (!rows[0]) return finishedMeanwhile(client, runId);
  return { action: 'requested', status: rows[0].status, owner: rows[0].owner, already: run.cancel_requested };
}

/** The run ended between our read and our write: report how. */
async function finishedMeanwhile(client: pg.ClientBase, runId: number): Promise<CancelOutcome> {
  const { rows } = await client.query<{ status: RunStatus }>(`SELECT status FROM batchinfer.runs WHERE run_id = $1`, [runId]);
  return { action: 'finished', status: rows[0].status };
}

/**
 * Wait until a run is no longer active (polling): its final status, or undefined after timeoutMs.
 * A cancel asked of an owner that dies meanwhile would never be acted on: such a run is marked cancelled here.
 */
export async function waitForRunEnd(client: pg.ClientBase, runId: number, opts: { timeoutMs: number; pollMs?: number; signal?: AbortSignal }): Promise<RunStatus | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const { rows } = await client.query<{ status: RunStatus }>(`SELECT status FROM batchinfer.runs WHERE run_id = $1`, [runId]);
    if (!rows[0] || !isActive(rows[0].status)) return rows[0]?.status;
    const again = await cancelRun(client, runId);
    if (again && again.action !== 'requested') return again.action === 'cancelled' ? 'cancelled' : again.status;
    if (Date.now() >= deadline || opts.signal?.aborted) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 250, Math.max(0, deadline - Date.now()))));
  }
}
