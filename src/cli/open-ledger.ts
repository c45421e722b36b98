import type pg from 'pg';
import { connectPg, describeServer } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { UsageError } from '../errors.js';
import { migrate } from '../runs/migrations.js';
import { ledgerExists } from '../runs/run-status.js';
import type { CommandIO } from './io.js';
import { resolveDatabaseUrl } from './settings.js';

export interface LedgerConnection {
  client: pg.Client;
  /** false: no run has used this database yet (no schema batchinfer) */
  exists: boolean;
  /** host:port/database, for messages */
  where: string;
  close(): Promise<void>;
}

/**
 * The ledger the lifecycle commands read and write: the database `run` uses (--database-url,
 * DATABASE_URL, else the embedded server). An older ledger is migrated first (these commands read
 * the columns of the newest schema); a database without one is left alone.
 */
export async function openLedger(flag: string | undefined, io: CommandIO, purpose: string): Promise<LedgerConnection> {
  const db = await resolveDatabaseUrl(flag, io);
  const client = await connectPg(db.url, { purpose, queryTimeoutMs: defaults.dbQueryTimeoutMs });
  const close = () => client.end().catch(() => undefined);
  try {
    const exists = await ledgerExists(client);
    if (exists) await migrate(client);
    return { client, exists, where: describeServer(db.url), close };
  } catch (err) {
    await close();
    throw err;
  }
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
    ledger.exists ? `run ${runId} is not in the ledger (batchinfer.runs)` : `run ${runId} is not in the ledger: no runs yet (${ledger.where} has no schema batchinfer)`,
  );
}
