import client from 'prom-client';
import type pg from 'pg';

/** What the gauges read the ledger with: a pg.Pool or a connected pg.Client. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

interface LastRun {
  job: string;
  run_id: string;
  max_psi: number | null;
  drift_status: string | null;
  rows_read: string;
  rows_rejected: string;
}

/** Scrapes within this long of each other share one ledger read (the gauges are collected one by one). */
const SHARE_MS = 1000;

/**
 * Per-job gauges of each job's last finished run (succeeded or failed), read from the ledger on every
 * scrape, so any process serving metrics (a worker, the dashboard) shows the same numbers and an alert
 * rule can fire on drift: batchinfer_job_last_run_max_psi, _reject_rate, _rows, _drift_failed.
 * A ledger that is not there (yet) gives no series, not a failed scrape.
 */
export function registerJobGauges(registry: client.Registry, ledger: Queryable): void {
  let last: { at: number; rows: Promise<LastRun[]> } | undefined;
  const lastRuns = (): Promise<LastRun[]> => {
    if (!last || Date.now() - last.at > SHARE_MS) {
      const rows = ledger
        .query<LastRun>(
          `SELECT DISTINCT ON (job) job, run_id, max_psi, drift_status, rows_read, rows_rejected FROM batchinfer.runs
            WHERE status IN ('succeeded', 'failed') AND finished_at IS NOT NULL ORDER BY job, finished_at DESC, run_id DESC`,
        )
        .then((r) => r.rows, () => []);
      last = { at: Date.now(), rows };
    }
    return last.rows;
  };
  const gauge = (name: string, help: string, value: (r: LastRun) => number | null) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['job'],
      registers: [registry],
      async collect() {
        const rows = await lastRuns();
        this.reset();
        for (const r of rows) {
          const v = value(r);
          if (v !== null) this.set({ job: r.job }, v);
        }
      },
    });
  gauge('batchinfer_job_last_run_max_psi', "largest population stability index of the job's last finished run against its reference (no series: no reference yet)", (r) => r.max_psi);
  gauge('batchinfer_job_last_run_reject_rate', "rows rejected / rows read of the job's last finished run", (r) => (Number(r.rows_read) > 0 ? Number(r.rows_rejected) / Number(r.rows_read) : 0));
  gauge('batchinfer_job_last_run_rows', "rows read by the job's last finished run", (r) => Number(r.rows_read));
  gauge('batchinfer_job_last_run_drift_failed', "1 when the job's last finished run was failed by the drift guard (publish it with batchinfer accept), else 0", (r) => (r.drift_status === 'fail' ? 1 : 0));
}
