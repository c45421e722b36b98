import { errorMessage } from '../errors.js';
import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { readyRun, replan } from '../execute/prepare-run.js';
import { claimRun, type Claim } from '../runs/claim-run.js';
import { finishRun } from '../runs/finish-run.js';
import { addChunks, loadRun, pendingChunks, planDone, type RunTrigger } from '../runs/ledger.js';
import { claimTick, peekTick } from '../runs/schedule-ledger.js';
import type { ScheduleSpec } from '../spec/job-spec.js';
import type { DataInterval } from '../spec/template.js';
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
  /** the span the run's data covers; default: what the schedule's ticks of the date cover */
  interval?: DataInterval;
  /** a scheduled run: created once per tick (replicas agree), or not at all when it overlaps (see claimTick) */
  tick?: { scheduledFor: string; overlap: ScheduleSpec['overlap']; catchUp: boolean };
}

export interface Enqueued {
  /** the run queued, or the tick's existing run (exists), or the run a skipped tick overlapped (skipped) */
  run_id: number;
  job: string;
  logical_date: string;
  /** exists: the tick's run was created already (another scheduler); skipped: overlap: skip */
  status: 'queued' | 'succeeded' | 'failed' | 'exists' | 'skipped';
  /** why a tick created no run */
  why?: string;
  /** why the run failed, when it ended already (no chunk to queue) */
  error?: string;
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
    const tick = opts.tick;
    const none = (c: { kind: 'exists'; runId: number; status: string } | { kind: 'skipped'; blockedBy: number; why: string }): Enqueued => ({
      run_id: c.kind === 'exists' ? c.runId : c.blockedBy, job: opts.spec.name, logical_date: opts.logicalDate, status: c.kind, resumed: false, chunks_total: 0, chunks_queued: 0,
      why: c.kind === 'exists' ? `run ${c.runId} of this tick was created already (${c.status})` : c.why,
    });
    if (tick) {
      // Most replicas stop here, before checking model and source again.
      const seen = await peekTick(client, opts.spec.name, tick.scheduledFor, opts.logicalDate, tick.overlap, tick.catchUp);
      if (seen && seen.kind !== 'created') return none(seen);
    }
    const { want } = await readyRun(client, { ...opts, scheduledFor: tick?.scheduledFor });
    let claim: Claim;
    if (tick) {
      const c = await claimTick(client, { ...want, scheduledFor: tick.scheduledFor }, { owner: 'queue', overlap: tick.overlap, catchUp: tick.catchUp, hold: false });
      if (c.kind !== 'created') return none(c);
      claim = { run: c.run, resumed: false, note: c.alongside ? `created alongside run ${c.alongside}, still active` : undefined };
    } else claim = await claimRun(client, want, { owner: 'queue', fresh: opts.fresh, queued: true });
    const source = () => openSource(opts.spec, opts.logicalDate, { databaseUrl: opts.databaseUrl, interval: claim.run.dataInterval ?? want.dataInterval ?? undefined });
    try {
      return await planAndEnqueue();
    } catch (err) {
      // A run nobody will ever plan or queue must not stay queued (an overlap: skip schedule would wait on it forever).
      await client
        .query(`UPDATE batchinfer.runs SET status = 'failed', finished_at = now(), error = $2 WHERE run_id = $1 AND status = 'queued' AND NOT planned`, [claim.run.runId, `planning failed: ${errorMessage(err)}`])
        .catch(() => undefined);
      throw err;
    }
    async function planAndEnqueue(): Promise<Enqueued> {
      let total: number | undefined = claim.run.planned ? claim.run.chunksTotal : undefined;
      if (claim.resumed && !claim.run.planned) {
        total = await replan(client, claim.run.runId, source(), undefined);
        if (total === undefined) {
          await client.query(`UPDATE batchinfer.runs SET status = 'failed', finished_at = now(), error = 'abandoned: its input changed while it was being planned; a new run replaces it' WHERE run_id = $1`, [claim.run.runId]);
          claim = await claimRun(client, want, { owner: 'queue', fresh: true, queued: true });
        }
      }
      /** chunks the planner asks to score after the others (ChunkRange.scoreLast): enqueued last */
      const last = new Set<number>();
      if (total === undefined) {
        const s = source();
        try {
          const chunks = await s.plan();
          for (const c of chunks) if (c.scoreLast) last.add(c.chunk);
          await addChunks(client, claim.run.runId, chunks);
          await planDone(client, claim.run.runId, chunks.length);
          total = chunks.length;
        } finally {
          await s.close();
        }
      }
      const pending = await pendingChunks(client, claim.run.runId);
      if (last.size) pending.sort((a, b) => Number(last.has(a)) - Number(last.has(b)) || a - b);
      await enqueueChunks(queue, claim.run.runId, opts.spec.name, pending, opts.trigger, opts.retry ?? opts.spec.retries ?? { attempts: defaults.chunkAttempts, backoffMs: defaults.chunkBackoffMs });
      let status: Enqueued['status'] = 'queued';
      let error: string | undefined;
      if (pending.length === 0) {
        // Nothing to queue (every chunk done, or an empty input): the run ends here.
        const o = await finishRun(client, await loadRun(client, claim.run.runId), { resumed: claim.resumed });
        status = o.status as 'succeeded' | 'failed';
        error = o.error ?? undefined;
      }
      return { run_id: claim.run.runId, job: opts.spec.name, logical_date: opts.logicalDate, status, resumed: claim.resumed, chunks_total: total, chunks_queued: pending.length, note: claim.note, ...(error ? { error } : {}) };
    }
  } finally {
    await q.close();
    await client.end().catch(() => undefined);
  }
}

