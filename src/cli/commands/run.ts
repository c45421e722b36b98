import { loadSpec } from '../../spec/load-spec.js';
import { latestViewSuffix, monitoringOf } from '../../spec/job-spec.js';
import { displayName } from '../../sql/identifiers.js';
import { parseLogicalDate, todayUtc } from '../../spec/template.js';
import { runJob } from '../../execute/run-job.js';
import { cliName, print, type CommandIO } from '../io.js';
import { ProgressLine } from '../progress.js';
import { resolveDatabaseUrl, resolveThreads, settingsOf } from '../settings.js';
import { threadsFor } from '../../execute/threads-for.js';
import { queueName, resolveQueue } from '../queue-settings.js';
import { runExitCode } from '../exit-code.js';
import { runSummary } from '../run-summary.js';
import { trace } from '../../trace.js';

export interface RunFlags {
  date?: string;
  json?: boolean;
  fresh?: boolean;
  threads?: string;
  databaseUrl?: string;
  redisUrl?: string;
  queue?: string;
  inline?: boolean;
  wait?: boolean;
  /** score this many rows and print them; write nothing */
  preview?: string;
}

/** batchinfer run <spec>: score in this process (inline executor), one thread per core. Exit 0 succeeded, 1 failed, 3 fewer rows than min_rows. */
export async function runCommand(specPath: string, flags: RunFlags, io: CommandIO): Promise<number> {
  if (flags.preview !== undefined) return (await import('./preview.js')).previewCommand(specPath, { ...flags, preview: flags.preview }, io);
  const spec = loadSpec(specPath, io.cwd, io.env);
  trace('run: spec loaded');
  if (settingsOf(io).BATCHINFER_PROFILE === false) spec.monitoring = { ...monitoringOf(spec), profile: false };
  const logicalDate = flags.date !== undefined ? parseLogicalDate(flags.date) : todayUtc();
  // Chosen (flag or BATCHINFER_THREADS) wins; otherwise a small CSV scores on the main thread.
  const chosen = flags.threads !== undefined || settingsOf(io).BATCHINFER_THREADS !== undefined;
  const threads = chosen ? resolveThreads(flags.threads, io) : threadsFor(spec, logicalDate, resolveThreads(undefined, io));
  const db = await resolveDatabaseUrl(flags.databaseUrl, io, specPath);
  const progress = new ProgressLine(io.stderr);
  const queue = flags.inline ? undefined : resolveQueue(flags, io, db.url);
  let outcome;
  if (queue) {
    const { enqueueRun } = await import('../../queue/enqueue-run.js');
    const q = await enqueueRun({ spec, logicalDate, trigger: 'manual', databaseUrl: db.url, queue, fresh: flags.fresh, queueName: queueName(io) });
    if (!flags.wait) {
      const exitCode = q.status === 'failed' ? runExitCode(q) : 0;
      if (flags.json) print(io.stdout, JSON.stringify({ ...q, exit_code: exitCode }));
      else {
        if (q.note) print(io.stderr, `batchinfer: ${q.note}`);
        print(io.stdout, `run ${q.run_id} of ${spec.name} for ${logicalDate} ${q.status}: ${q.chunks_queued} of ${q.chunks_total} chunks queued${q.resumed ? ' (resumed)' : ''}; follow it with: ${cliName(io.env)} status ${q.run_id}`);
        if (q.error) print(io.stdout, `error: ${q.error}`);
      }
      return exitCode;
    }
    if (!flags.json) print(io.stderr, `batchinfer: queued run ${q.run_id} of ${spec.name} for ${logicalDate}: ${q.chunks_queued} chunk${q.chunks_queued === 1 ? '' : 's'}; waiting for workers`);
    const { followRun } = await import('../../queue/follow-run.js');
    progress.start();
    try {
      outcome = await followRun(db.url, q.run_id, { resumed: q.resumed, onRows: (n) => progress.add(n), signal: io.signal });
    } finally {
      progress.stop();
    }
  } else try {
    outcome = await runJob({
      spec,
      logicalDate,
      trigger: 'manual',
      databaseUrl: db.url,
      threads,
      fresh: flags.fresh,
      signal: io.signal,
      onStart: (s) => {
        const todo = s.chunks === undefined ? '' : `: ${s.chunks} chunk${s.chunks === 1 ? '' : 's'} to score`;
        if (!flags.json && s.note) print(io.stderr, `batchinfer: ${s.note}`);
        if (!flags.json) print(io.stderr, `batchinfer: ${s.resumed ? 'resuming' : 'started'} run ${s.runId} of ${spec.name} for ${logicalDate}${todo}`);
        progress.start();
      },
      onPlanned: (p) => progress.setTotal(p.plannedRows),
      onRows: (n) => progress.add(n),
    });
  } finally {
    progress.stop();
  }
  // Stopped by a signal: the shell's codes (130 SIGINT, 143 SIGTERM), so a scheduler tells it from a failure.
  const exitCode = outcome.status === 'cancelled' && io.signal?.aborted ? (io.signal.reason === 'SIGTERM' ? 143 : 130) : runExitCode(outcome);
  if (flags.json) print(io.stdout, JSON.stringify({ ...outcome, exit_code: exitCode }));
  else {
    const o = outcome;
    print(io.stdout, runSummary(o, progress.rows));
    if (o.error) print(io.stdout, `error: ${o.error}`);
    for (const w of o.warnings) print(io.stdout, `warning: ${w}`);
    if (o.drift_status) print(io.stdout, `drift: max PSI ${o.max_psi?.toFixed(3)} (${o.drift_status}); profile: batchinfer report ${o.run_id}`);
    if (o.rows_rejected > 0) print(io.stdout, `rejects: SELECT line, key, reason FROM batchinfer.rejects WHERE run_id = ${o.run_id} ORDER BY chunk, line;`);
    if (o.status === 'succeeded') print(io.stdout, `results: SELECT * FROM ${displayName(spec.sink.schema, spec.sink.table)} WHERE run_id = ${o.run_id};  (newest per date: ${displayName(spec.sink.schema, spec.sink.table + latestViewSuffix)})${db.embedded ? `\n  psql "$(${cliName(io.env)} db url)"` : ''}`);
  }
  return exitCode;
}
