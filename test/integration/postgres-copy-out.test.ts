import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { to as stockCopyTo } from 'pg-copy-streams';
import { copyOut } from '../../src/sources/copy-out.js';
import { connectPg } from '../../src/db/connect.js';
import { sqlState } from '../../src/errors.js';
import { query } from '../support/database.js';
import { testWorkspace } from '../support/jobs.js';

/**
 * copy-out.ts subclasses pg-copy-streams' `to` stream and reaches into its private members: these
 * cases pin that it still gives exactly the stock stream's bytes, and leaves the connection as usable.
 */
const ws = testWorkspace('pg-copy-out');

beforeAll(async () => {
  await query(
    ws.db.url,
    `CREATE FUNCTION public.noisy(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'row % %', i, repeat('n', i % 300); RETURN i; END $$`,
  );
});

interface Outcome {
  bytes: Buffer;
  pieces: number;
  state?: string;
  /** the connection answered a query after the COPY */
  usable: boolean;
  /** most bytes the stream held unread at once */
  maxBuffered: number;
}

async function collect(make: (sql: string) => NodeJS.ReadableStream, sql: string, opts: { slow?: boolean } = {}): Promise<Outcome> {
  const c = await connectPg(ws.db.url, { purpose: 'copy-out test' });
  // A stream that stops delivering fails the case in seconds (the connection is dropped), not at the test timeout.
  const deadline = setTimeout(() => void c.end().catch(() => undefined), 20_000);
  try {
    const readable = make(sql);
    const stream = c.query(readable as never) as unknown as AsyncIterable<Buffer>;
    const parts: Buffer[] = [];
    let state: string | undefined;
    let maxBuffered = 0;
    try {
      for await (const d of stream) {
        parts.push(d);
        if (opts.slow) await sleep(3);
        maxBuffered = Math.max(maxBuffered, (readable as unknown as { readableLength: number }).readableLength);
      }
    } catch (err) {
      state = sqlState(err) ?? String(err);
    }
    const usable = (await c.query('SELECT 1 AS one').catch(() => ({ rows: [{ one: 0 }] }))).rows[0].one === 1;
    return { bytes: Buffer.concat(parts), pieces: parts.length, state, usable, maxBuffered };
  } finally {
    clearTimeout(deadline);
    await c.end().catch(() => undefined);
  }
}

const both = async (sql: string, opts: { slow?: boolean } = {}) => ({
  ours: await collect(copyOut, sql, opts),
  stock: await collect((s) => stockCopyTo(s), sql, opts),
});

describe('copyOut equals pg-copy-streams `to`', () => {
  it('NOTICEs raised mid-COPY (one per row, some long): same bytes, no notice text in the data', ws.track(async () => {
    for (const format of ['binary', 'text']) {
      const { ours, stock } = await both(`COPY (SELECT public.noisy(i), i * 2 FROM generate_series(1, 3000) i) TO STDOUT (FORMAT ${format})`);
      expect(stock.state).toBeUndefined();
      expect(ours.state).toBeUndefined();
      expect(ours.bytes.length).toBeGreaterThan(3000 * 8);
      expect(ours.bytes.equals(stock.bytes)).toBe(true);
      expect(ours.bytes.includes('row 1')).toBe(false);
      expect(ours.usable && stock.usable).toBe(true);
    }
  }));

  it('a slow consumer (backpressure on a ~6 MB COPY): same bytes', ws.track(async () => {
    const sql = `COPY (SELECT i, md5(i::text), repeat('x', 100) FROM generate_series(1, 40000) i) TO STDOUT (FORMAT binary)`;
    const { ours, stock } = await both(sql, { slow: true });
    expect(ours.state).toBeUndefined();
    expect(ours.bytes.length).toBeGreaterThan(5e6);
    expect(ours.pieces).toBeGreaterThan(20);
    // Backpressure holds: the stream never holds more than a few socket reads unread.
    expect(stock.maxBuffered).toBeLessThan(1 << 20);
    expect(ours.maxBuffered).toBeLessThan(1 << 20);
    expect(ours.bytes.equals(stock.bytes)).toBe(true);
    expect(ours.usable && stock.usable).toBe(true);
    // and the same as an eager consumer gets
    const eager = await collect(copyOut, sql);
    expect(eager.bytes.equals(ours.bytes)).toBe(true);
  }));

  it('200 KB rows (messages spanning many socket reads): same bytes', ws.track(async () => {
    const { ours, stock } = await both(`COPY (SELECT i, repeat(md5(i::text), 6400) FROM generate_series(1, 30) i) TO STDOUT (FORMAT binary)`, { slow: true });
    expect(ours.bytes.length).toBeGreaterThan(30 * 204_800);
    expect(ours.bytes.equals(stock.bytes)).toBe(true);
    expect(ours.usable && stock.usable).toBe(true);
  }));

  it('an error mid-stream (division by zero at row 3000 of 1 KB rows): both reject with the same SQLSTATE, connection usable', ws.track(async () => {
    const { ours, stock } = await both(`COPY (SELECT 1 / (3000 - i), repeat('y', 1000) FROM generate_series(1, 5000) i) TO STDOUT (FORMAT binary)`);
    expect(stock.state).toBe('22012');
    expect(ours.state).toBe('22012');
    expect(ours.bytes.length).toBeGreaterThan(1000 * 1000);
    // The stock stream drops the rows of the socket read that carried the error; ours passes them on.
    expect(ours.bytes.subarray(0, stock.bytes.length).equals(stock.bytes)).toBe(true);
    expect(ours.usable && stock.usable).toBe(true);
  }));
});
