import { loadSpec } from '../../spec/load-spec.js';
import { parseLogicalDate, todayUtc } from '../../spec/template.js';
import { runJob } from '../../execute/run-job.js';
import { print, type CommandIO } from '../io.js';
import { ProgressLine } from '../progress.js';
import { resolveDatabaseUrl, resolveThreads } from '../settings.js';

export interface RunFlags {
  date?: string;
  json?: boolean;
  fresh?: boolean;
  threads?: string;
  databaseUrl?: string;
}

/** batchinfer run <spec>: score in this process (inline executor), one thread per core. Exit 0 succeeded, 1 failed. */
export async function runCommand(specPath: string, flags: RunFlags, io: CommandIO): Promise<number> {
  const spec = loadSpec(specPath, io.cwd);
  const logicalDate = flags.date !== undefined ? parseLogicalDate(flags.date) : todayUtc();
  const threads = resolveThreads(flags.threads, io);
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const progress = new ProgressLine(io.stderr);
  let outcome;
  try {
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
        if (!flags.json) print(io.stderr, `batchinfer: ${s.resumed ? 'resuming' : 'started'} run ${s.runId} of ${spec.name} for ${logicalDate}${todo}`);
        progress.start();
      },
      onPlanned: (p) => progress.setTotal(p.plannedRows),
      onRows: (n) => progress.add(n),
    });
  } finally {
    progress.stop();
  }
  if (flags.json) print(io.stdout, JSON.stringify(outcome));
  else {
    const o = outcome;
    // rows/s of this attempt: a resumed run's rows_read includes what earlier attempts read
    const rate = o.duration_s > 0 ? Math.round(progress.rows / o.duration_s) : 0;
    print(io.stdout, `run ${o.run_id} ${o.status}: ${o.rows_read} rows read, ${o.rows_scored} scored, ${o.rows_rejected} rejected in ${o.duration_s}s (${rate} rows/s)`);
    if (o.error) print(io.stdout, `error: ${o.error}`);
    if (o.rows_rejected > 0) print(io.stdout, `rejects: SELECT line, key, reason FROM batchinfer.rejects WHERE run_id = ${o.run_id} ORDER BY chunk, line;`);
    if (o.status === 'succeeded') print(io.stdout, `results: SELECT * FROM ${o.result_table} WHERE run_id = ${o.run_id};  (newest per date: ${o.result_table}_latest)${db.embedded ? `\n  psql "$(npx batchinfer db url)"` : ''}`);
  }
  return outcome.status === 'succeeded' ? 0 : 1;
}
