import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { readyRun, replan } from '../execute/prepare-run.js';
import { claimRun } from '../runs/claim-run.js';
import { finishRun } from '../runs/finish-run.js';
import { addChunks, loadRun, pendingChunks, planDone, type RunTrigger } from '../runs/ledger.js';
import { openSource } from '../sources/open-source.js';
import type { JobSpec } from '../spec/job-spec.js';
import { enqueueChunks, openChunkQueue, type QueueBackend, type RetryPolicy } from './chunk-queue.js';

export interface EnqueueOptions {
  spec: JobSpec;
  logicalDate: string;
  trigger: RunTrigger;
  databaseUrl: string;
  queue: QueueBackend;
  fresh?: boolean;
  retry?: RetryPolicy;
  /** the queue's name (default QUEUE_NAME) */
  queueName?: string;
}

export interface Enqueued {
  run_id: number;
  job: string;
  logical_date: string;
  status: 'queued' | 'succeeded' | 'failed';
  resumed: boolean;
  chunks_total: number;
  chunks_queued: number;
  note?: string;
}

/**
 * Create (or resume) a run for the queue: check everything, plan all its chunks into the ledger, and
 * add the chunks that are not done to the queue. Enqueuing the same run twice adds no work (job ids
 * come from run and chunk). Workers score them; whichever ends the last chunk finishes the run.
 */
export async function enqueueRun(opts: EnqueueOptions): Promise<Enqueued> {
  const client = await connectPg(opts.databaseUrl, { purpose: 'enqueue', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  const q = openChunkQueue(opts.queue, opts.queueName);
  const queue = q.queue;
  try {
    await q.ping(); // fail fast, with one line, before the ledger changes
    const { want } = await readyRun(client, opts);
    let claim = await claimRun(client, want, { owner: 'queue', fresh: opts.fresh, queued: true });
    const source = () => openSource(opts.spec, opts.logicalDate, { databaseUrl: opts.databaseUrl });
    let total: number | undefined = claim.run.planned ? claim.run.chunksTotal : undefined;
    if (claim.resumed && !claim.run.planned) {
      total = await replan(client, claim.run.runId, source(), undefined);
      if (total === undefined) {
        await client.query(`UPDATE batchinfer.runs SET status = 'failed', finished_at = now(), error = 'abandoned: its input changed while it was being planned; a new run replaces it' WHERE run_id = $1`, [claim.run.runId]);
        claim = await claimRun(client, want, { owner: 'queue', fresh: true, queued: true });
      }
    }
    if (total === undefined) {
      const s = source();
      try {
        const chunks = await s.plan();
        await addChunks(client, claim.run.runId, chunks);
        await planDone(client, claim.run.runId, chunks.length);
        total = chunks.length;
      } finally {
        await s.close();
      }
    }
    const pending = await pendingChunks(client, claim.run.runId);
    await enqueueChunks(queue, claim.run.runId, opts.spec.name, pending, opts.trigger, opts.retry ?? { attempts: defaults.chunkAttempts, backoffMs: defaults.chunkBackoffMs });
    let status: Enqueued['status'] = 'queued';
    if (pending.length === 0) status = (await finishRun(client, await loadRun(client, claim.run.runId), { resumed: claim.resumed })).status as 'succeeded' | 'failed';
    return { run_id: claim.run.runId, job: opts.spec.name, logical_date: opts.logicalDate, status, resumed: claim.resumed, chunks_total: total, chunks_queued: pending.length, note: claim.note };
  } finally {
    await q.close();
    await client.end().catch(() => undefined);
  }
}

