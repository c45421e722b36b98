import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import type { RunOutcome } from '../runs/finish-run.js';

/**
 * Follow a queued run in the ledger until it ends: `onRows` gets the rows of chunks done since the
 * last poll. Returns the run's outcome as the ledger recorded it (the same shape as an inline run's).
 */
export async function followRun(databaseUrl: string, runId: number, opts: { resumed: boolean; onRows?: (rows: number) => void; signal?: AbortSignal; pollMs?: number }): Promise<RunOutcome> {
  const client = await connectPg(databaseUrl, { purpose: 'follow', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  try {
    let seen = -1;
    for (;;) {
      const { rows } = await client.query<{
        job: string; logical_date: string; trigger: string; status: RunOutcome['status']; rows_read: string; rows_scored: string; rows_rejected: string;
        model_version: string; result_table: string; error: string | null; duration_s: number | null; total: string; done: string; done_rows: string;
        max_psi: number | null; drift_status: RunOutcome['drift_status']; warnings: string[] | null;
      }>(
        `SELECT r.job, to_char(r.logical_date, 'YYYY-MM-DD') AS logical_date, r.trigger, r.status, r.rows_read, r.rows_scored, r.rows_rejected, r.model_version, r.result_table, r.error, r.max_psi, r.drift_status, r.warnings,
                extract(epoch FROM r.finished_at - r.started_at)::float8 AS duration_s,
                (SELECT count(*) FROM batchinfer.chunks c WHERE c.run_id = r.run_id) AS total,
                (SELECT count(*) FROM batchinfer.chunks c WHERE c.run_id = r.run_id AND c.status = 'done') AS done,
                (SELECT coalesce(sum(rows_read), 0) FROM batchinfer.chunks c WHERE c.run_id = r.run_id AND c.status = 'done') AS done_rows
           FROM batchinfer.runs r WHERE r.run_id = $1`,
        [runId],
      );
      const r = rows[0];
      if (!r) throw new Error(`run ${runId} is not in the ledger (batchinfer.runs)`);
      const doneRows = Number(r.done_rows);
      if (seen >= 0 && doneRows > seen) opts.onRows?.(doneRows - seen);
      seen = doneRows;
      if (r.status !== 'queued' && r.status !== 'running') {
        return {
          run_id: runId, job: r.job, logical_date: r.logical_date, trigger: r.trigger, status: r.status,
          rows_read: Number(r.rows_read), rows_scored: Number(r.rows_scored), rows_rejected: Number(r.rows_rejected),
          chunks_total: Number(r.total), chunks_done: Number(r.done), resumed: opts.resumed, model_version: r.model_version,
          result_table: r.result_table, duration_s: Math.round((r.duration_s ?? 0) * 1000) / 1000, error: r.error, peak_rss_mb: null,
          max_psi: r.max_psi, drift_status: r.drift_status, warnings: r.warnings ?? [],
        };
      }
      if (opts.signal?.aborted) throw new Error(`stopped following run ${runId}; it goes on in the workers (batchinfer status ${runId}, batchinfer cancel ${runId})`);
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 200));
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
