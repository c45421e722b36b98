import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { FinalError, InputNotReadyError, SourceError, UnavailableError, UsageError, classifyError, errorMessage } from '../errors.js';
import { RunBusyError } from '../runs/claim-run.js';
import { setTrace, trace } from '../trace.js';
import { defaults } from '../defaults.js';
import { cliName, type CommandIO } from './io.js';
import { settingsOf, type EnvSettings } from './settings.js';

// bin/batchinfer.js hands the scoring thread it started ahead to the run (src/execute/spare-thread.ts).
export { offerSpareThread } from '../execute/spare-thread.js';

/**
 * The one exit point's logic: returns the exit code (0 ok, 1 run failed or unexpected error,
 * 2 usage or spec error, 3 input not ready, 4 run failed by the drift guard only). Only bin/batchinfer.js calls process.exit. Signals are handled here.
 */
export async function main(argv: string[], io: Partial<CommandIO> = {}): Promise<number> {
  const controller = new AbortController();
  const full: CommandIO = { cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr, signal: controller.signal, ...io };
  // onnxruntime's telemetry leaves an empty mat-debug-<pid>.log in the temp folder of every process that loads
  // it; it reads this when its first session is created, from the process environment (so: this process's,
  // set before any thread starts; threads inherit it).
  if (!io.env) process.env.ORT_DISABLE_TELEMETRY ??= '1';
  let code = 0;
  let settings: EnvSettings | undefined;
  /** undone when main returns (handlers a command installed) */
  const cleanups: (() => void)[] = [];
  const program = new Command('batchinfer')
    .description('Scheduled batch inference: CSV or Postgres rows through an ONNX model, exactly-once results in Postgres')
    .exitOverride()
    .configureOutput({ writeOut: (s) => full.stdout.write(s), writeErr: (s) => full.stderr.write(s) })
    .showHelpAfterError(`(run ${cliName(full.env)} --help for usage)`)
    .version((createRequire(import.meta.url)('../../package.json') as { version: string }).version, '-V, --version', 'print the version')
    // The environment is checked before any command runs (not for --help): a bad variable is named at once.
    .hook('preAction', () => {
      settings = settingsOf(full);
      setTrace(settings.BATCHINFER_TRACE);
      trace(`cli: command starts, ${(process.uptime() * 1000).toFixed(0)} ms after the process`);
    });

  program
    .command('run')
    .description('score a job now, in this process (one scoring thread per core)')
    .argument('<spec>', 'job spec, e.g. jobs/wine.yaml')
    .option('--date <YYYY-MM-DD>', 'logical date of the run ({{ds}}); default: today (UTC)')
    .option('--json', 'print the outcome as one JSON object on stdout')
    .option('--fresh', 'start a new run even if an unfinished one for this date could be resumed')
    .option('--threads <n>', 'scoring threads (env BATCHINFER_THREADS; default: one per core; 0 = main thread)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .option('--redis-url <url>', 'queue the run for workers (env REDIS_URL); without one the run scores in this process')
    .option('--queue <kind>', 'redis | postgres (the queue in the results database) | inline (env BATCHINFER_QUEUE; default: redis when REDIS_URL is set)')
    .option('--inline', 'score in this process even when a queue is configured')
    .option('--wait', 'with a queue: follow the run to its end (progress, outcome and exit code as an inline run)')
    .option('--preview <n>', 'score the first n rows and print them; writes nothing (no ledger, no result table)')
    .action(async (spec: string, flags) => {
      code = await (await import('./commands/run.js')).runCommand(spec, flags, full);
    });

  program
    .command('retry')
    .description('score again every chunk of a run that is not done (with a queue: re-enqueue them; without: resume here)')
    .argument('<run-id>', 'the run (see batchinfer runs)')
    .option('--wait', 'with a queue: follow the run to its end')
    .option('--json', 'print the outcome as one JSON object')
    .option('--threads <n>', 'without a queue: scoring threads')
    .option('--redis-url <url>', 'the queue (env REDIS_URL)')
    .option('--queue <kind>', 'redis | postgres | inline (env BATCHINFER_QUEUE)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (id: string, flags) => {
      code = await (await import('./commands/retry.js')).retryCommand(id, flags, full);
    });

  program
    .command('prune')
    .description("delete failed and cancelled runs' rows, superseded runs' rows and old rejects per each job's retention; never a run _latest shows")
    .option('--job <name>', 'only this job')
    .option('--dry-run', 'say what would go; change nothing')
    .option('--json', 'print the report as one JSON object')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (flags) => {
      code = await (await import('./commands/prune.js')).pruneCommand(flags, full);
    });

  program
    .command('worker')
    .description('score queued chunks of any job (needs REDIS_URL, or --queue postgres) until SIGTERM; one JSON log line per event')
    .option('--concurrency <n>', 'scoring threads = chunks at once (default: one per core)')
    .option('--grace-ms <ms>', 'on SIGTERM, how long chunks in hand may take to commit before they are handed back (default 30000)')
    .option('--redis-url <url>', 'the queue (env REDIS_URL)')
    .option('--queue <kind>', 'redis | postgres (env BATCHINFER_QUEUE; default: redis when REDIS_URL is set)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://<host>:<port>/metrics')
    .option('--root <dir>', 'project root the runs\' model and input paths are relative to (env BATCHINFER_ROOT; default: the working directory)')
    .action(async (flags) => {
      code = await (await import('./commands/worker.js')).workerCommand(flags, full);
    });

  program
    .command('scheduler')
    .description('run every job in --jobs that has a schedule on its cron ticks, until SIGTERM; SIGHUP re-reads the specs; one JSON log line per tick')
    .option('--jobs <dir>', 'folder of job specs (default jobs/); specs without schedule: are skipped with a note')
    .option('--threads <n>', 'without a queue: scoring threads per run (env BATCHINFER_THREADS; default: one per core)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .option('--redis-url <url>', 'queue each tick\'s run for workers (env REDIS_URL); without one, runs score in this process, one at a time per job')
    .option('--inline', 'score in this process even when a queue is configured')
    .action(async (flags) => {
      const onReload =
        io.onReload ??
        ((listener: () => void) => {
          process.on('SIGHUP', listener);
          cleanups.push(() => process.off('SIGHUP', listener));
        });
      code = await (await import('./commands/scheduler.js')).schedulerCommand(flags, { ...full, onReload });
    });

  program
    .command('schedule')
    .description("each scheduled job's cron, timezone, next three ticks with their logical dates, and its last scheduled run")
    .option('--jobs <dir>', 'folder of job specs (default jobs/)')
    .option('--json', 'print as a JSON array')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (flags) => {
      code = await (await import('./commands/schedule.js')).scheduleCommand(flags, full);
    });

  program
    .command('backfill')
    .description('one run per logical date from --from to --to (trigger backfill), a few at a time; exit 0 only when every date ended succeeded')
    .argument('<spec>', 'job spec, e.g. jobs/wine.yaml')
    .option('--from <YYYY-MM-DD>', 'first logical date (inclusive)')
    .option('--to <YYYY-MM-DD>', 'last logical date (inclusive)')
    .option('--reprocess <policy>', 'none (default): only dates with no run; failed: also dates whose latest run failed or was cancelled; completed: every date')
    .option('--max-active <n>', 'runs active at once (default 2)')
    .option('--run-backwards', 'newest date first')
    .option('--dry-run', 'print each date and what would happen to it; change nothing')
    .option('--json', 'print the outcome (every date) as one JSON object at the end')
    .option('--yes', 'run a range of more than 1000 dates')
    .option('--threads <n>', 'without a queue: scoring threads in all, shared by the active runs (env BATCHINFER_THREADS)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .option('--redis-url <url>', 'queue the runs for workers (env REDIS_URL); their chunks yield to scheduled and manual runs')
    .option('--inline', 'score in this process even when a queue is configured')
    .action(async (spec: string, flags) => {
      code = await (await import('./commands/backfill.js')).backfillCommand(spec, flags, full);
    });

  program
    .command('status')
    .description("a run's status, progress and first errors; without a run id, the newest run of each job")
    .argument('[run-id]', 'run id (see batchinfer runs)')
    .option('--json', 'print as JSON (one object, or an array without a run id)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (runId: string | undefined, flags) => {
      code = await (await import('./commands/status.js')).statusCommand(runId, flags, full);
    });

  program
    .command('runs')
    .description('run history, newest first')
    .option('--job <name>', 'only runs of this job')
    .option('--status <status>', 'only runs with this status: queued, running, succeeded, failed, cancelled')
    .option('--limit <n>', 'at most this many runs (default 20)')
    .option('--json', 'print as a JSON array')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (flags) => {
      code = await (await import('./commands/runs.js')).runsCommand(flags, full);
    });

  program
    .command('ui')
    .description('a read-only web dashboard: runs, a run\'s chunks, rejects and profile, a job over its dates')
    .option('--port <port>', 'port to serve on (default 8080; 0: any free port)')
    .option('--host <address>', 'address to bind (default 127.0.0.1); any other needs BATCHINFER_UI_TOKEN')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (flags) => {
      code = await (await import('./commands/ui.js')).uiCommand(flags, full);
    });

  program
    .command('report')
    .description("a run's profile (count, min, mean, max, histogram per input and output column) and its drift against the reference, worst column first")
    .argument('<run-id>', 'run id (see batchinfer runs)')
    .option('--json', 'print as one JSON object')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (runId: string, flags) => {
      code = await (await import('./commands/report.js')).reportCommand(runId, flags, full);
    });

  program
    .command('accept')
    .description('publish a run the drift guard failed, after looking at it (batchinfer report): it becomes succeeded and _latest shows it')
    .argument('<run-id>', 'run id (see batchinfer runs)')
    .option('--by <name>', 'who accepts it, recorded in batchinfer.runs.accepted_by (default: user@host)')
    .option('--json', 'print what was done as one JSON object')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (runId: string, flags) => {
      code = await (await import('./commands/accept.js')).acceptCommand(runId, flags, full);
    });

  program
    .command('cancel')
    .description('stop an active run: its owner ends it cancelled (a run whose owner is gone is marked cancelled at once)')
    .argument('<run-id>', 'run id (see batchinfer runs)')
    .option('--wait', 'wait until the run is no longer active')
    .option('--timeout-ms <ms>', 'with --wait: give up (exit 1) after this long (default 60000)')
    .option('--database-url <url>', 'results database (env DATABASE_URL; default: the embedded server)')
    .action(async (runId: string, flags) => {
      code = await (await import('./commands/cancel.js')).cancelCommand(runId, flags, full);
    });

  program
    .command('validate')
    .description('check specs, model signatures, source headers, the first 1,000 input rows and the existing result table; writes nothing')
    .argument('<spec...>', 'job specs')
    .option('--date <YYYY-MM-DD>', 'logical date used to resolve {{ds}} in paths; default: today (UTC)')
    .option('--database-url <url>', 'database for Postgres sources without source.postgres.url (env DATABASE_URL)')
    .option('--show-sql', 'print a Postgres source query as it is sent, with its bound parameters')
    .option('--json', 'print the findings as one JSON object { ok, specs: [...] }')
    .action(async (specs: string[], flags) => {
      code = await (await import('./commands/validate.js')).validateCommand(specs, flags, full);
    });

  program
    .command('init')
    .description('write a starting job spec for a model and a CSV file (then: validate, run --preview 5)')
    .requiredOption('--model <path>', 'ONNX model file')
    .requiredOption('--csv <path>', 'CSV file with a header row')
    .option('--key <column>', 'column identifying a row (default: id, key or *_id)')
    .option('--out <path>', 'spec file to write (default: jobs/<name>.yaml)')
    .option('--name <name>', 'job name (default: the CSV file name)')
    .option('--force', 'overwrite an existing spec file')
    .action(async (flags) => {
      code = await (await import('./commands/init.js')).initCommand(flags, full);
    });

  program
    .command('inspect')
    .description("show a model's inputs and outputs with types and shapes")
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print as JSON')
    .action(async (model: string, flags) => {
      code = await (await import('./commands/inspect.js')).inspectCommand(model, flags, full);
    });

  program
    .command('db')
    .description('manage the embedded PostgreSQL server (used when DATABASE_URL is unset)')
    .argument('<action>', 'start | stop | status | url (url prints the database in use, for psql; exit 3 when the embedded server is not running)')
    .option('--start', 'with url: start the embedded server when it is not running')
    .option('--database-url <url>', 'results database (env DATABASE_URL)')
    .action(async (action: string, flags) => {
      code = await (await import('./commands/db.js')).dbCommand(action, flags, full);
    });

  let signals = 0;
  // The commands that score chunks say what a stop does to them; the others (ui, status, ...) just stop.
  const command = argv.slice(2).find((a) => !a.startsWith('-'));
  const scoring = command !== undefined && ['run', 'retry', 'backfill', 'worker', 'schedule'].includes(command);
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      // One signal always leads to an exit: chunks in flight get the grace period (a hung server or a
      // chunk that won't end must not keep the process forever), then it exits as if signalled twice.
      const graceMs = settings?.BATCHINFER_SHUTDOWN_GRACE_MS ?? defaults.shutdownGraceMs;
      full.stderr.write(`\nbatchinfer: ${sig}: ${scoring ? `finishing the chunks in flight (at most ${Math.round(graceMs / 1000)} s), then stopping` : 'stopping'} (again to force)\n`);
      controller.abort(sig);
      setTimeout(() => {
        full.stderr.write(`batchinfer: still not stopped ${Math.round(graceMs / 1000)} s after ${sig}: exiting now${scoring ? '; chunks in flight roll back and are redone on resume' : ''}\n`);
        process.exit(sig === 'SIGTERM' ? 143 : 130);
      }, graceMs).unref();
    } else {
      full.stderr.write(`batchinfer: ${sig} again: exiting now; run again to resume\n`);
      process.exit(130);
    }
  };
  if (!io.signal) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  // --json promises one JSON object on stdout whatever happens: a failure before the command's own output prints one too.
  const json = argv.includes('--json');
  const failed = (exitCode: number, err: unknown) => {
    if (json) full.stdout.write(JSON.stringify({ status: 'error', exit_code: exitCode, error: errorMessage(err) }) + '\n');
    return exitCode;
  };
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : failed(2, err);
    const debug = settings?.DEBUG ?? false;
    if (err instanceof UsageError) {
      full.stderr.write(`batchinfer: ${err.message}\n`);
      if (debug) full.stderr.write(`${err.stack}\n`);
      return failed(err instanceof InputNotReadyError ? 3 : 2, err);
    }
    full.stderr.write(`batchinfer: ${errorMessage(err)}\n`);
    // Expected failures (a busy run, a changed model, a lost connection) say all there is in one line.
    const expected = err instanceof FinalError || err instanceof SourceError || err instanceof RunBusyError || err instanceof UnavailableError || classifyError(err) !== 'transient';
    if (debug) full.stderr.write(`${(err as Error)?.stack}\n`);
    else if (!expected) full.stderr.write('batchinfer: (set DEBUG=1 for the stack trace)\n');
    return failed(1, err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const undo of cleanups) undo();
  }
}
