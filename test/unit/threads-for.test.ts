import { afterAll, describe, expect, it } from 'vitest';
import { defaults } from '../../src/defaults.js';
import { threadsFor } from '../../src/execute/threads-for.js';
import { cleanupTmp, makeSpec, writeCsv } from './csv-helpers.js';

afterAll(cleanupTmp);

/** A CSV of about `bytes` bytes in rows of `rowBytes` bytes (header included). */
const csvOf = (bytes: number, rowBytes: number) => {
  const row = `1,${'9'.repeat(rowBytes - 3)}\n`;
  return writeCsv('id,a\n' + row.repeat(Math.ceil(bytes / rowBytes)));
};

describe('threadsFor: scoring threads from the planned work', () => {
  it('scores a CSV of one chunk or less on the main thread, a bigger one on every core', () => {
    const spec = (path: string) => makeSpec({ source: { kind: 'csv', path }, chunkRows: 50_000 });
    expect(threadsFor(spec(csvOf(100_000, 100)), '2026-01-01', 2)).toBe(0); // small file
    // over the small-file size, but one chunk of long rows (40,000 rows of 150 bytes)
    expect(defaults.smallInputBytes).toBeLessThan(6_000_000);
    expect(threadsFor(spec(csvOf(6_000_000, 150)), '2026-01-01', 2)).toBe(0);
    // the same size in short rows: 200,000 rows, four chunks
    expect(threadsFor(spec(csvOf(6_000_000, 30)), '2026-01-01', 2)).toBe(2);
  });

  it('leaves Postgres sources and missing files to every core (the run reports a missing file)', () => {
    expect(threadsFor(makeSpec({ source: { kind: 'csv', path: '/nowhere/missing.csv' } }), '2026-01-01', 2)).toBe(2);
    expect(threadsFor(makeSpec({ source: { kind: 'postgres', query: 'SELECT 1' } as never }), '2026-01-01', 2)).toBe(2);
  });
});
