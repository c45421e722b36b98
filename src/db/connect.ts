import pg from 'pg';
import { defaults } from '../defaults.js';
import { UnavailableError, errorMessage } from '../errors.js';

export interface ConnectOptions {
  /** shows in pg_stat_activity: "batchinfer <purpose>" */
  purpose: string;
  /** give up connecting after this long (a server that accepts and never answers) */
  connectTimeoutMs?: number;
  /** client-side limit on each query; not for COPY or lock waits that may rightly take long */
  queryTimeoutMs?: number;
  /** server-side lock_timeout for DDL that must not queue behind analysts' queries */
  lockTimeoutMs?: number;
  /** server-side idle_in_transaction_session_timeout: a client that dies mid-transaction releases its locks */
  idleInTransactionTimeoutMs?: number;
}

/**
 * Every PostgreSQL connection batchinfer opens goes through here: a connect timeout, TCP keepalive
 * (a dead peer is noticed), an 'error' listener (a connection lost while idle must not crash the
 * process with an unhandled 'error' event: the next query fails instead), and a failure message
 * that names the server.
 */
export async function connectPg(url: string, opts: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: `batchinfer ${opts.purpose}`.slice(0, 63),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? defaults.dbConnectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: defaults.dbKeepAliveMs,
    query_timeout: opts.queryTimeoutMs,
    lock_timeout: opts.lockTimeoutMs,
    idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs,
  });
  client.on('error', () => undefined); // surfaces as the failure of the next query on this client
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const e = new UnavailableError(`cannot connect to PostgreSQL at ${describeServer(url)}: ${errorMessage(err)}`);
    (e as { code?: unknown }).code = (err as { code?: unknown }).code ?? 'ECONNREFUSED';
    throw e;
  }
  return client;
}

/** host:port/database of a connection URL, for messages (never the password). */
export function describeServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** The URL with its password replaced by ***: what logs, errors and the ledger may show. */
export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}
