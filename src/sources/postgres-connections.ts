import pg from 'pg';
import { connectPg } from '../db/connect.js';
import { sqlState } from '../errors.js';
import { snapshotLiteral } from './postgres-query.js';

/**
 * SQLSTATEs of SET TRANSACTION SNAPSHOT when the exporting transaction is gone (ended, another server):
 * PostgreSQL 15 says 22023 (invalid snapshot identifier), 18 says 42704 ("snapshot ... does not exist").
 */
const snapshotGone = new Set(['22023', '55000', '42704']);

/**
 * The connections of one Postgres source: one per active plan or read (so reads may run concurrently
 * on one source), kept in a small idle pool between reads, and the snapshot exporter's own.
 * close() ends them all; connections busy at that moment are ended too (their read fails) and
 * anything acquired afterwards belongs to the next generation.
 */
export class SourceConnections {
  private idle: pg.Client[] = [];
  /** busy connections and the generation they were acquired in */
  private busy = new Map<pg.Client, number>();
  private generation = 0;
  private exporter?: Promise<{ client: pg.Client; id: string }>;
  /** snapshots found gone: later transactions skip them at once */
  private readonly goneSnapshots = new Set<string>();

  constructor(
    private readonly url: string,
    /** idle connections kept for the next read */
    private readonly maxIdle = 2,
  ) {}

  async acquire(): Promise<pg.Client> {
    const generation = this.generation;
    let c = this.idle.pop();
    if (!c) {
      const fresh = await connectPg(this.url, { purpose: 'source' });
      // A pooled connection the server closed (restart, idle timeout) leaves the pool at once.
      fresh.on('end', () => {
        const i = this.idle.indexOf(fresh);
        if (i >= 0) this.idle.splice(i, 1);
      });
      c = fresh;
    }
    this.busy.set(c, generation);
    return c;
  }

  /** Give a connection back: pooled when its transaction ended cleanly (reusable), else closed. */
  async release(c: pg.Client, reusable: boolean): Promise<void> {
    const generation = this.busy.get(c);
    this.busy.delete(c);
    if (reusable && generation === this.generation && this.idle.length < this.maxIdle) {
      this.idle.push(c);
      return;
    }
    await c.end().catch(() => undefined);
  }

  /**
   * BEGIN a read-only transaction, inside `snapshot` when given (REPEATABLE READ, SET TRANSACTION
   * SNAPSHOT first, as PostgreSQL requires). A snapshot whose exporter is gone (a resumed run,
   * another machine, a restarted server) is skipped: the transaction reads the data as it is now, and
   * the caller's rows-read vs planned-rows check catches rows that changed. True when the snapshot is in use.
   *
   * RESET ALL: a pooled connection carries whatever session settings the user's query set last time
   * (set_config(..., false) runs fine in a read-only transaction). standard_conforming_strings or
   * client_encoding changed that way would make the server read the next statement's copy of the
   * query differently from the probe that checked it was one statement; a changed search_path or
   * DateStyle would change its results. Each transaction starts from the connection's defaults.
   */
  async begin(c: pg.Client, snapshot: string | undefined): Promise<boolean> {
    if (snapshot !== undefined && !this.goneSnapshots.has(snapshot)) {
      try {
        await c.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${snapshotLiteral(snapshot)}; RESET ALL`);
        return true;
      } catch (err) {
        if (!snapshotGone.has(sqlState(err) ?? '')) throw err;
        await c.query('ROLLBACK');
        this.goneSnapshots.add(snapshot);
      }
    }
    await c.query('BEGIN READ ONLY; RESET ALL');
    return false;
  }

  /** See PostgresSource.exportSnapshot. */
  exportSnapshot(): Promise<string> {
    if (!this.exporter) {
      const exporting = (async () => {
        const client = await connectPg(this.url, { purpose: 'source snapshot' });
        try {
          // Idle in its transaction for the whole run by design: a server-wide idle timeout must not end it.
          await client.query('SET idle_in_transaction_session_timeout = 0');
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
          return { client, id: rows[0].id };
        } catch (err) {
          await client.end().catch(() => undefined);
          throw err;
        }
      })();
      this.exporter = exporting;
      exporting.catch(() => {
        if (this.exporter === exporting) this.exporter = undefined; // a later call tries again
      });
    }
    return this.exporter.then((e) => e.id);
  }

  /** The snapshot this source exported, if it holds one. */
  async heldSnapshot(): Promise<string | undefined> {
    return this.exporter ? (await this.exporter).id : undefined;
  }

  /** End every connection (idle, busy, the exporter's); all are tried, the first failure is re-thrown. Safe to call twice. */
  async close(): Promise<void> {
    this.generation++;
    const clients = [...this.idle, ...this.busy.keys()];
    this.idle = [];
    this.busy.clear();
    const exporter = this.exporter;
    this.exporter = undefined;
    if (exporter) {
      const e = await exporter.catch(() => undefined);
      if (e) clients.push(e.client);
    }
    const ends = await Promise.allSettled(clients.map((c) => c.end()));
    const failed = ends.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
