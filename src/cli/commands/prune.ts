import { connectPg } from '../../db/connect.js';
import { migrate } from '../../runs/migrations.js';
import { keptWithoutRetention, prune } from '../../runs/prune.js';
import { unknownJobNote } from '../../runs/job-names.js';
import { print, type CommandIO } from '../io.js';
import { noDatabaseYet } from '../open-ledger.js';
import { resolveDatabaseUrl } from '../settings.js';

/** batchinfer prune [--job J] [--dry-run] [--json]: delete what retention says (see runs/prune.ts) and report it. */
export async function pruneCommand(flags: { job?: string; dryRun?: boolean; json?: boolean; databaseUrl?: string }, io: CommandIO): Promise<number> {
  const none = noDatabaseYet(flags.databaseUrl, io);
  if (none) {
    print(io.stdout, flags.json ? JSON.stringify({ dry_run: Boolean(flags.dryRun), runs: [], rows_deleted: 0, rejects_deleted: 0 }) : `${none.noRuns}: nothing to prune`);
    return 0;
  }
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  const client = await connectPg(db.url, { purpose: 'prune' });
  try {
    const hasLedger = (await client.query(`SELECT to_regclass('batchinfer.runs') AS t`)).rows[0].t !== null;
    if (!hasLedger) {
      print(io.stdout, flags.json ? JSON.stringify({ dry_run: Boolean(flags.dryRun), runs: [], rows_deleted: 0, rejects_deleted: 0 }) : 'no runs yet: nothing to prune');
      return 0;
    }
    await migrate(client);
    const r = await prune(client, { job: flags.job, dryRun: flags.dryRun });
    if (flags.json) {
      print(io.stdout, JSON.stringify(r));
      return 0;
    }
    const verb = r.dry_run ? 'would delete' : 'deleted';
    for (const run of r.runs) print(io.stdout, `run ${run.run_id} ${run.job} ${run.logical_date} ${run.status}: ${verb} ${run.rows.toLocaleString('en-US')} rows (${run.why})`);
    print(io.stdout, `${r.dry_run ? 'dry run: ' : ''}${verb} ${r.rows_deleted.toLocaleString('en-US')} result rows of ${r.runs.length} run${r.runs.length === 1 ? '' : 's'} and ${r.rejects_deleted.toLocaleString('en-US')} rejects; runs _latest shows are kept${await unknownJobNote(client, flags.job)}`);
    // Superseded runs of jobs without retention stay: say so, and how to change it.
    const kept = await keptWithoutRetention(client, flags.job);
    if (kept.length)
      print(io.stdout, `kept: ${kept.map((k) => `${k.runs} superseded run${k.runs === 1 ? '' : 's'} of ${k.job}`).join(', ')} (no retention in the spec; add e.g. retention: { keep_runs_per_date: 2 } to prune them)`);
    return 0;
  } finally {
    await client.end();
  }
}
