import { loadSpec } from '../../spec/load-spec.js';
import { parseLogicalDate, templateVars, todayUtc } from '../../spec/template.js';
import { bindTemplate } from '../../sources/postgres-query.js';
import { errorMessage, InputNotReadyError } from '../../errors.js';
import { describeReject, validateJob, type JobFindings } from '../../validate/validate-job.js';
import { print, type CommandIO } from '../io.js';
import { configuredDatabaseUrl, embeddedServer, resolveDatabaseUrl } from '../settings.js';

/**
 * batchinfer validate <spec...>: spec, model signature and source checked, the first rows of the input
 * read and scored as a run would, the existing result table checked against what the job writes;
 * nothing written. `--json`: one object { ok, specs: [...] }.
 */
export async function validateCommand(specPaths: string[], flags: { date?: string; databaseUrl?: string; showSql?: boolean; json?: boolean }, io: CommandIO): Promise<number> {
  const logicalDate = flags.date !== undefined ? parseLogicalDate(flags.date) : todayUtc();
  const all: JobFindings[] = [];
  /** specs whose only problem is that the day's input is not there yet (exit 3, as run) */
  let notReady = 0;
  for (const p of specPaths) {
    let found: JobFindings;
    try {
      const spec = loadSpec(p, io.cwd, io.env);
      // A Postgres source reading from the results database needs it (started when embedded); the
      // result table is checked where a results database is at hand: configured, or the embedded one when it runs.
      const needsDb = spec.source.kind === 'postgres' && !spec.source.url;
      const configured = needsDb ? (await resolveDatabaseUrl(flags.databaseUrl, io, p)).url : configuredDatabaseUrl(flags.databaseUrl, io);
      const results = configured !== undefined ? { url: configured } : await embeddedResults(io, p);
      found = await validateJob(spec, { logicalDate, sourceDatabaseUrl: needsDb ? configured! : '', results, signal: io.signal });
      if (!flags.json) {
        if (found.ok) print(io.stdout, `${spec.specLabel}: ok (job ${spec.name}, model ${found.modelVersion}, ${found.resultColumns} result columns -> ${found.resultTable})`);
        printFindings(found, io);
      }
      if (flags.showSql && !flags.json && spec.source.kind === 'postgres') {
        // What the server receives: each {{name}} read from a setting bound with a parameter, never spliced.
        const { sql, names } = bindTemplate(spec.source.query, `${spec.specLabel}: source.postgres.query`);
        const vars = templateVars(logicalDate);
        print(io.stdout, `  SQL as sent:\n    ${sql.split('\n').join('\n    ')}`);
        print(io.stdout, `  bound: ${names.length ? names.map((n) => `{{${n}}} = ${vars[n]}`).join(', ') : '(no template variables)'}`);
      }
    } catch (err) {
      if (err instanceof InputNotReadyError) notReady++;
      found = { spec: p, ok: false, notes: [], errors: [errorMessage(err)] };
      if (!flags.json) print(io.stderr, errorMessage(err));
    }
    all.push(found);
  }
  const ok = all.every((f) => f.ok);
  if (flags.json) print(io.stdout, JSON.stringify({ ok, specs: all }));
  // Input not ready (the day's CSV not there yet) is 3, as `run` says it: wait and try again; any other problem 2.
  return ok ? 0 : all.filter((f) => !f.ok).length === notReady ? 3 : 2;
}

/** What the sample and the table check found, below the spec's ok line; errors on stderr. */
function printFindings(f: JobFindings, io: CommandIO): void {
  const s = f.sample;
  if (s) {
    const keys = s.keysLookLike === 'none' ? '' : `; keys: ${s.keysLookLike}`;
    print(io.stdout, `  sample: the first ${s.rows.toLocaleString('en-US')} row${s.rows === 1 ? '' : 's'}: ${s.scorable.toLocaleString('en-US')} scorable, ${s.rejected.toLocaleString('en-US')} rejected${keys}`);
    for (const r of s.firstRejects) print(io.stdout, `    rejected: ${describeReject(r)}`);
    if (s.rejected > s.firstRejects.length) print(io.stdout, `    … and ${s.rejected - s.firstRejects.length} more`);
  }
  if (f.table && !f.table.checked && f.errors.length === 0) print(io.stdout, `  result table ${f.resultTable}: not checked (the embedded server is stopped: batchinfer db start, then validate again)`);
  else if (f.table?.checked && f.table.exists === false) print(io.stdout, `  result table ${f.resultTable}: does not exist yet; a run creates it`);
  for (const n of f.notes) print(io.stdout, `  note: ${n}`);
  for (const e of f.errors) print(io.stderr, e);
}

/**
 * The embedded server as validate sees it, never started just to look: its URL when it runs; 'none'
 * when it was never created (so no result table exists yet); 'unknown' when it exists but is stopped.
 */
async function embeddedResults(io: CommandIO, specPath: string): Promise<{ url: string } | 'none' | 'unknown'> {
  const status = await embeddedServer(io, false, specPath)
    .status()
    .catch(() => null);
  if (status === undefined) return 'none';
  return status?.running ? { url: status.url } : 'unknown';
}
