import os from 'node:os';
import path from 'node:path';
import { defaults } from '../defaults.js';
import { EmbeddedPostgres } from '../db/embedded.js';
import { UsageError } from '../errors.js';
import type { CommandIO } from './io.js';

/** Settings resolve here and only here: flag > environment > default. */
export function resolveThreads(flag: string | undefined, io: CommandIO): number {
  const raw = flag ?? io.env.BATCHINFER_THREADS;
  if (raw === undefined) return os.availableParallelism();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`threads ${raw}: not a whole number; pass --threads N or set BATCHINFER_THREADS (0 = score on the main thread)`);
  return n;
}

export function embeddedServer(io: CommandIO, log = true): EmbeddedPostgres {
  const home = path.resolve(io.cwd, io.env.BATCHINFER_HOME ?? '.batchinfer');
  const port = io.env.BATCHINFER_PG_PORT ? Number(io.env.BATCHINFER_PG_PORT) : defaults.embeddedPgPort;
  return new EmbeddedPostgres(home, port, log ? (line) => io.stderr.write(`batchinfer: ${line}\n`) : undefined);
}

/** The results database: --database-url, else DATABASE_URL, else the embedded server (started when needed). */
export async function resolveDatabaseUrl(flag: string | undefined, io: CommandIO): Promise<{ url: string; embedded: boolean }> {
  const url = flag ?? io.env.DATABASE_URL;
  if (url) return { url, embedded: false };
  return { url: await embeddedServer(io).start(), embedded: true };
}
