import pg from 'pg';
import { defaults } from '../../defaults.js';
import { UsageError } from '../../errors.js';
import { isLoopback } from '../../ui/access.js';
import { createUiServer, listen } from '../../ui/ui-server.js';
import { print, type CommandIO } from '../io.js';
import { openLedger } from '../open-ledger.js';
import { resolveDatabaseUrl, settingsOf } from '../settings.js';

export interface UiFlags {
  port?: string;
  host?: string;
  databaseUrl?: string;
}

/** batchinfer ui: the read-only dashboard until SIGINT/SIGTERM. Exit 2 for a network address without BATCHINFER_UI_TOKEN. */
export async function uiCommand(flags: UiFlags, io: CommandIO): Promise<number> {
  const host = flags.host ?? defaults.uiHost;
  const port = parsePort(flags.port);
  const token = settingsOf(io).BATCHINFER_UI_TOKEN;
  if (!isLoopback(host) && token === undefined)
    throw new UsageError(`--host ${host} serves the ledger beyond this machine: set BATCHINFER_UI_TOKEN to a secret of 16+ characters (every request must then send it), or omit --host to bind 127.0.0.1`);
  // An older ledger is migrated first (the pages read the newest columns); the dashboard itself only reads.
  const db = await resolveDatabaseUrl(flags.databaseUrl, io);
  await (await openLedger(db.url, io, 'ui')).close();
  const pool = new pg.Pool({
    connectionString: db.url,
    application_name: 'batchinfer ui',
    max: defaults.uiPoolSize,
    connectionTimeoutMillis: defaults.dbConnectTimeoutMs,
    query_timeout: defaults.dbQueryTimeoutMs,
    // Read-only sessions: whatever a request could make a query do, it cannot write.
    options: '-c default_transaction_read_only=on',
  });
  pool.on('error', () => undefined); // an idle connection lost: the next query reconnects
  const server = createUiServer({ pool, token, log: (line) => io.stderr.write(`batchinfer ui: ${line}\n`) });
  try {
    const url = await listen(server, port, host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') throw new UsageError(`--port ${port}: ${host}:${port} is in use; pass another --port`);
      if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new UsageError(`--host ${host}: not an address of this machine`);
      throw err;
    });
    print(io.stdout, `batchinfer ui: ${url} (read-only${token ? '; token required' : ''}; Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) return resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    return 0;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await pool.end().catch(() => undefined);
  }
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return defaults.uiPort;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new UsageError(`--port ${raw}: not a port; write a whole number from 1 to 65535 (0: any free port)`);
  return n;
}
