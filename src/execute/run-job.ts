import { UsageError, errorMessage } from '../errors.js';
import { finishRun, type RunOutcome } from '../runs/finish-run.js';
import type { RunTrigger } from '../runs/ledger.js';
import type { JobSpec } from '../spec/job-spec.js';
import pg from 'pg';
import { startInlineExecutor } from './inline-executor.js';
import { prepareRun, type PlanSummary } from './prepare-run.js';
import { trace, traceMemory } from '../trace.js';

export interface RunJobOptions {
  spec: JobSpec;
  logicalDate: string;
  trigger: RunTrigger;
  databaseUrl: string;
  /** scoring threads (default: one per core, chosen by the CLI); 0 = this thread */
  threads: number;
  fresh?: boolean;
  /** called when scoring starts; chunks is known up front only for a resumed run */
  onStart?: (info: { runId: number; resumed: boolean; chunks: number | undefined }) => void;
  /** called once the run is fully planned (new runs are planned while their first chunks score) */
  onPlanned?: (info: PlanSummary) => void;
  onRows?: (rows: number) => void;
  signal?: AbortSignal;
}

/** Plan (or resume) a run, score its chunks in-process, and record the outcome. */
export async function runJob(opts: RunJobOptions): Promise<RunOutcome> {
  const started = Date.now();
  trace('run: start');
  const executor = startInlineExecutor({ databaseUrl: opts.databaseUrl, threads: opts.threads, modelPath: opts.spec.model.path });
  // Planning stops when the run is cancelled or a chunk fails (a rerun resumes and plans again).
  const planAbort = new AbortController();
  const stopPlanning = () => planAbort.abort(new Error('planning stopped'));
  opts.signal?.addEventListener('abort', stopPlanning, { once: true });
  let prepared;
  try {
    prepared = await prepareRun({ ...opts, planSignal: planAbort.signal });
  } catch (err) {
    await executor.close();
    throw err;
  }
  opts.onStart?.({ runId: prepared.run.runId, resumed: prepared.resumed, chunks: prepared.pendingChunks });
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
    result = await executor.run({ runId: prepared.run.runId, chunks: prepared.feed, onRows: opts.onRows, signal: opts.signal, onFirstError: stopPlanning });
  } finally {
    // However scoring ended, planning ends before the run is finished: stopped if scoring failed.
    if (!result || result.firstError) stopPlanning();
    planError = await planned.then(
      () => undefined,
      (err: unknown) => (err === planAbort.signal.reason ? undefined : (err as Error)), // stopped on purpose: the run's status says why
    );
    opts.signal?.removeEventListener('abort', stopPlanning);
  }
  traceMemory('run: chunks done');
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'batchinfer finish' });
  await client.connect();
  try {
    const outcome = await finishRun(client, prepared.run, {
      resumed: prepared.resumed,
      durationS: (Date.now() - started) / 1000,
      ...(opts.signal?.aborted
        ? { status: 'cancelled' as const, error: 'cancelled: interrupted before all chunks were done; run again to resume' }
        : planError
          ? { status: 'failed' as const, error: `planning failed: ${errorMessage(planError)}` }
          : {}),
    });
    // A spec or model mismatch found while scoring is the user's to fix, not a run failure to retry.
    if (planError instanceof UsageError) throw planError;
    if (result.firstError instanceof UsageError) throw result.firstError;
    traceMemory('run: finished');
    return { ...outcome, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
  } finally {
    await client.end();
  }
}
