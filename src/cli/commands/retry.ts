import { exitCodeOf } from '../../runs/finish-run.js';
import { UsageError } from '../../errors.js';
import { connectPg } from '../../db/connect.js';
import { loadRun } from '../../runs/ledger.js';
import { localSpec } from '../../spec/portable.js';
import { print, type CommandIO } from '../io.js';
import { resolveDatabaseUrl, resolveThreads } from '../settings.js';
import { queueName, resolveQueue } from '../queue-settings.js';

/**
 * batchinfer retry <run-id>: with a queue, put every chunk that is not done back on it; without one,
 * resume the run in this process. A succeeded run is left alone (exit 0).
 */
export async function retryCommand(id: string, flags: { json?: boolean; wait?: boolean; redisUrl?: string; queue?: string; databaseUrl?: string; threads?: string }, io: CommandIO): Promise<number> {
  const runId = Number(id);
  if (!Number.isInteger(runId) || runId < 1) throw new UsageError(`retry ${id}: a run id is a whole number (see batchinfer runs)`);
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const queue = resolveQueue(flags, io, db.url);
  if (queue) {
    const { retryQueuedRun } = await import('../../queue/retry-run.js');
    const r = await retryQueuedRun({ databaseUrl: db.url, queue, runId, queueName: queueName(io) });
    if (flags.json) print(io.stdout, JSON.stringify(r));
    else print(io.stdout, r.message);
    if (!flags.wait || r.status !== 'queued') return r.status === 'failed' ? 1 : 0;
    const { followRun } = await import('../../queue/follow-run.js');
    const o = await followRun(db.url, runId, { resumed: true, signal: io.signal });
    print(io.stdout, flags.json ? JSON.stringify(o) : `run ${o.run_id} ${o.status}: ${o.rows_read} rows read, ${o.rows_scored} scored, ${o.rows_rejected} rejected${o.error ? `\nerror: ${o.error}` : ''}`);
    return exitCodeOf(o);
  }
  // No queue: resume the run here, from the spec the ledger holds.
  const client = await connectPg(db.url, { purpose: 'retry' });
  let run;
  try {
    run = await loadRun(client, runId).catch(() => {
      throw new UsageError(`run ${runId} is not in the ledger (batchinfer.runs)`);
    });
  } finally {
    await client.end();
  }
  if (run.status === 'succeeded') {
    print(io.stdout, flags.json ? JSON.stringify({ run_id: runId, job: run.job, status: run.status, message: `run ${runId} already succeeded; nothing to retry` }) : `run ${runId} already succeeded; nothing to retry`);
    return 0;
  }
  const spec = localSpec(run.spec, run.projectRoot ?? io.cwd, io.env);
  const { runJob } = await import('../../execute/run-job.js');
  const o = await runJob({ spec, logicalDate: run.logicalDate, trigger: run.trigger, databaseUrl: db.url, threads: resolveThreads(flags.threads, io), signal: io.signal });
  if (o.run_id !== runId) print(io.stderr, `batchinfer: run ${runId} could not be resumed (its model, spec or input changed); scored as run ${o.run_id}`);
  print(io.stdout, flags.json ? JSON.stringify(o) : `run ${o.run_id} ${o.status}: ${o.rows_read} rows read, ${o.rows_scored} scored, ${o.rows_rejected} rejected${o.error ? `\nerror: ${o.error}` : ''}`);
  return exitCodeOf(o);
}
