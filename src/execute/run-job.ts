import { defaults } from '../defaults.js';
import { UsageError, errorMessage } from '../errors.js';
import { releaseRun, startHeartbeat } from '../runs/claim-run.js';
import { finishRun, type RunOutcome } from '../runs/finish-run.js';
import { prune } from '../runs/prune.js';
import type { RunTrigger } from '../runs/ledger.js';
import type { JobSpec } from '../spec/job-spec.js';
import { projectRoot } from '../spec/portable.js';
import { inlineOwner } from '../runs/owner.js';
import { startInlineExecutor } from './inline-executor.js';
import { prepareRun, type PlanSummary } from './prepare-run.js';
import { trace, traceMemory } from '../trace.js';
import type { DataInterval } from '../spec/template.js';

export interface RunJobOptions {
  spec: JobSpec;
  logicalDate: string;
  trigger: RunTrigger;
  databaseUrl: string;
  /** scoring threads (default: one per core, chosen by the CLI); 0 = this thread */
  threads: number;
  fresh?: boolean;
  /** called when scoring starts; chunks is known up front only for a resumed run; note says what happened to an earlier run */
  onStart?: (info: { runId: number; resumed: boolean; chunks: number | undefined; note?: string }) => void;
  /** called once the run is fully planned (new runs are planned while their first chunks score) */
  onPlanned?: (info: PlanSummary) => void;
  onRows?: (rows: number) => void;
  /** stop: no new chunk starts, chunks in flight commit, the run ends cancelled */
  signal?: AbortSignal;
  /** how often the owner stamps its heartbeat and reads the cancel flag (default defaults.runHeartbeatMs) */
  heartbeatMs?: number;
  /** a scheduled run: its cron tick (ISO 8601, UTC); the run is the tick's (see claimRun) */
  scheduledFor?: string;
  /** the span the run's data covers; default: what the schedule's ticks of the date cover */
  interval?: DataInterval;
}

/** Plan (or resume) a run, score its chunks in-process, and record the outcome. */
export async function runJob(opts: RunJobOptions): Promise<RunOutcome> {
  const started = Date.now();
  trace('run: start');
  const root = projectRoot(opts.spec.specPath);
  const owner = inlineOwner();
  const executor = startInlineExecutor({
    databaseUrl: opts.databaseUrl,
    threads: opts.threads,
    modelPath: opts.spec.model.path,
    root,
    sourceUrl: opts.spec.source.kind === 'postgres' ? opts.spec.source.url : undefined,
  });
  // Stopping: the caller's signal, or the cancel flag any process can set in the ledger.
  const stop = new AbortController();
  let cancelledBy = 'interrupted';
  const onSignal = () => stop.abort();
  opts.signal?.addEventListener('abort', onSignal, { once: true });
  if (opts.signal?.aborted) stop.abort();
  // Planning stops when the run is stopped or a chunk fails (a rerun resumes and plans again).
  const planAbort = new AbortController();
  const stopPlanning = () => planAbort.abort(new Error('planning stopped'));
  stop.signal.addEventListener('abort', stopPlanning, { once: true });
  let prepared;
  try {
    prepared = await prepareRun({ ...opts, root, owner, planSignal: planAbort.signal });
  } catch (err) {
    opts.signal?.removeEventListener('abort', onSignal);
    await executor.close();
    throw err;
  }
  const { run, ownerClient } = prepared;
  const heartbeat = startHeartbeat(ownerClient, run.runId, owner, opts.heartbeatMs ?? defaults.runHeartbeatMs, (why) => {
    cancelledBy = why;
    stop.abort();
  });
  try {
    opts.onStart?.({ runId: run.runId, resumed: prepared.resumed, chunks: prepared.pendingChunks, note: prepared.note });
    const planned = prepared.planned;
    planned.then((p) => {
      try {
        opts.onPlanned?.(p);
      } catch {
        // a progress display's problem must not fail the run
      }
    }, () => undefined);
    let result;
    let planError: Error | undefined;
    try {
      result = await executor.run({ runId: run.runId, chunks: prepared.feed, onRows: opts.onRows, signal: stop.signal, onFirstError: stopPlanning });
    } finally {
      // However scoring ended, planning ends before the run is finished: stopped if scoring failed.
      if (!result || result.firstError) stopPlanning();
      planError = await planned.then(
        () => undefined,
        (err: unknown) => (err === planAbort.signal.reason ? undefined : (err as Error)), // stopped on purpose: the run's status says why
      );
      await prepared.closePlanner().catch(() => undefined);
    }
    traceMemory('run: chunks done');
    heartbeat.stop();
    const outcome = await finishRun(ownerClient, run, {
      resumed: prepared.resumed,
      durationS: (Date.now() - started) / 1000,
      ...(stop.signal.aborted
        ? { status: 'cancelled' as const, error: `cancelled (${cancelledBy}) before all chunks were done; run again to resume` }
        : planError
          ? { status: 'failed' as const, error: `planning failed: ${errorMessage(planError)}` }
          : {}),
    });
    // Retention applies after every succeeded run of a job that declares it.
    if (outcome.status === 'succeeded' && opts.spec.retention) {
      const pruned = await prune(ownerClient, { job: opts.spec.name }).catch(() => undefined); // the run succeeded either way
      if (pruned) outcome.pruned_rows = pruned.rows_deleted;
    }
    // A spec or model mismatch found while scoring is the user's to fix, not a run failure to retry.
    if (planError instanceof UsageError) throw planError;
    if (result.firstError instanceof UsageError) throw result.firstError;
    traceMemory('run: finished');
    return { ...outcome, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
  } finally {
    heartbeat.stop();
    await executor.close(); // its threads' exits (or, when run() was not called, its connection made ahead)
    opts.signal?.removeEventListener('abort', onSignal);
    await releaseRun(ownerClient, run.runId);
    await ownerClient.end().catch(() => undefined);
  }
}
