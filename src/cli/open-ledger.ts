import path from 'node:path';
import type pg from 'pg';
import { connectPg, describeServer } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { UsageError } from '../errors.js';
import { migrate } from '../runs/migrations.js';
import { ledgerExists } from '../runs/run-status.js';
import { cliName, type CommandIO } from './io.js';
import { configuredDatabaseUrl, embeddedServer, resolveDatabaseUrl } from './settings.js';

/** `exists` false: no run has used this database yet (no schema batchinfer), or there is no database yet. */
export type LedgerConnection = (
  | { exists: true; client: pg.Client }
  | { exists: false; /** undefined: no embedded database was ever created here, so none was started */ client?: pg.Client }
) & {
  /** host:port/database, for messages */
  where: string;
  /** what to say when there are no runs: `no runs yet (in host:port/database)`, or that there is no database yet */
  noRuns: string;
  close(): Promise<void>;
};

/**
 * The ledger the lifecycle commands read and write: the database `run` uses (--database-url,
 * DATABASE_URL, else the embedded server). An older ledger is migrated first (these commands read
 * the columns of the newest schema); a database without one is left alone.
 */
export async function openLedger(flag: string | undefined, io: CommandIO, purpose: string): Promise<LedgerConnection> {
  // Reading the runs of a project that has no embedded database (often: run from outside the project)
  // creates none: initialising and starting a server would only show an empty one.
  const none = noDatabaseYet(flag, io);
  if (none) return { exists: false, where: none.home, noRuns: none.noRuns, close: async () => undefined };
  const db = await resolveDatabaseUrl(flag, io);
  const client = await connectPg(db.url, { purpose, queryTimeoutMs: defaults.dbQueryTimeoutMs });
  const close = () => client.end().catch(() => undefined);
  try {
    const exists = await ledgerExists(client);
    if (exists) await migrate(client);
    const where = describeServer(db.url);
    const noRuns = `no runs yet (in ${where})`;
    return exists ? { client, exists, where, noRuns, close } : { client, exists, where, noRuns, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * No DATABASE_URL and no embedded database created in this project yet: what to say instead of
 * initialising and starting a server only to show that it is empty. undefined when there is a database.
 */
export function noDatabaseYet(flag: string | undefined, io: CommandIO): { home: string; noRuns: string } | undefined {
  if (configuredDatabaseUrl(flag, io)) return undefined;
  const server = embeddedServer(io, false);
  if (server.readState()) return undefined;
  const home = path.relative(io.cwd, server.home) || server.home;
  return { home, noRuns: `no runs yet: no embedded database in ${home} (the first \`${cliName(io.env)} run\` creates it); run commands from the project, the folder holding jobs/, or set DATABASE_URL` };
}

/** A run id as typed by the user: a positive whole number. */
export function parseRunId(raw: string): number {
  const id = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new UsageError(`run id "${raw}": not a run id (a positive whole number; \`batchinfer runs\` lists them)`);
  return id;
}

/** The one line for a run id the ledger does not hold. */
export function notInLedger(runId: number, ledger: LedgerConnection): UsageError {
  return new UsageError(
    ledger.exists ? `run ${runId} is not in the ledger (batchinfer.runs)` : ledger.client ? `run ${runId} is not in the ledger: no runs yet (${ledger.where} has no schema batchinfer)` : `run ${runId} is not in the ledger: ${ledger.noRuns}`,
  );
}
