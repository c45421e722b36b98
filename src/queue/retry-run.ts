import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { UsageError } from '../errors.js';
import { finishRun } from '../runs/finish-run.js';
import { loadRun, pendingChunks } from '../runs/ledger.js';
import { enqueueChunks, openChunkQueue, type QueueBackend } from './chunk-queue.js';

export interface Retried {
  run_id: number;
  job: string;
  status: string;
  chunks_queued: number;
  message: string;
}

/**
 * Put every chunk of a run that is not done back on the queue (failed ones, and ones the queue lost:
 * Redis flushed, a job removed), from what the ledger holds. The run is queued again and finishes as
 * usual when they pass. A succeeded run is left alone.
 */
export async function retryQueuedRun(opts: { databaseUrl: string; queue: QueueBackend; runId: number; queueName?: string }): Promise<Retried> {
  const client = await connectPg(opts.databaseUrl, { purpose: 'retry', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  const q = openChunkQueue(opts.queue, opts.queueName);
  const queue = q.queue;
  try {
    await q.ping();
    const run = await loadRun(client, opts.runId).catch(() => {
      throw new UsageError(`run ${opts.runId} is not in the ledger (batchinfer.runs)`);
    });
    if (run.status === 'succeeded') return { run_id: run.runId, job: run.job, status: run.status, chunks_queued: 0, message: `run ${run.runId} already succeeded; nothing to retry` };
    if (!run.planned) throw new UsageError(`run ${run.runId} was never fully planned; run the job again for ${run.logicalDate} to plan and resume it`);
    await client.query(
      `UPDATE batchinfer.runs SET status = 'queued', owner = 'queue', cancel_requested = false, error = NULL, finished_at = NULL, heartbeat_at = now() WHERE run_id = $1`,
      [run.runId],
    );
    await client.query(`UPDATE batchinfer.chunks SET status = 'pending' WHERE run_id = $1 AND status = 'failed'`, [run.runId]);
    const pending = await pendingChunks(client, run.runId);
    await enqueueChunks(queue, run.runId, run.job, pending, run.trigger, run.spec.retries ?? { attempts: defaults.chunkAttempts, backoffMs: defaults.chunkBackoffMs });
    if (pending.length === 0) {
      const o = await finishRun(client, await loadRun(client, run.runId), { resumed: true });
      return { run_id: run.runId, job: run.job, status: o.status, chunks_queued: 0, message: `run ${run.runId}: every chunk was done; finished ${o.status}` };
    }
    return { run_id: run.runId, job: run.job, status: 'queued', chunks_queued: pending.length, message: `run ${run.runId}: ${pending.length} chunk${pending.length === 1 ? '' : 's'} queued again` };
  } finally {
    await q.close();
    await client.end().catch(() => undefined);
  }
}
