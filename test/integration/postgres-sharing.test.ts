import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { PostgresSource } from '../../src/sources/postgres-source.js';
import { keyOf, type ChunkRange, type RowBatch } from '../../src/sources/source.js';
import type { Key } from '../../src/sources/keys.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('pg-sharing');

beforeAll(async () => {
  // Wide enough rows (a 200-byte note) that one chunk's COPY does not fit in the socket buffers.
  await query(ws.db.url, `CREATE TABLE public.big AS SELECT i::bigint AS id, i * 0.5 AS a, 1.0::real AS b, '2' AS c, repeat('n', 200) AS note FROM generate_series(1, 60000) i`);
  await query(ws.db.url, `CREATE TABLE public.moving AS SELECT i::bigint AS id, 1.0::float8 AS a, 1.0::real AS b, '2' AS c FROM generate_series(1, 1000) i`);
});

const sourceOf = (file: string, q: string, over: Record<string, unknown> = {}) => {
  const spec = loadSpec(writeSpec(ws.tmp.dir, file, typedSpec({ name: file.replace('.yaml', ''), source: { postgres: { query: q } }, key_type: 'bigint', sink: { table: 'scores.x' }, ...over })), ws.tmp.dir);
  return new PostgresSource(spec, { url: ws.db.url, logicalDate: '2026-03-01' });
};

/** next() of an iterator, failing (instead of hanging the file) when it takes longer than ms. */
async function nextWithin<T>(it: AsyncIterator<T>, ms: number, what: string): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no batch within ${ms} ms`)), ms)));
  try {
    return await Promise.race([it.next(), late]);
  } finally {
    clearTimeout(timer);
  }
}

const keysOf = (b: RowBatch) => Array.from({ length: b.n }, (_, r) => keyOf(b, r));

describe('Postgres source shared by concurrent readers', () => {
  it('three chunk reads advanced in turn on one source each get exactly their own keys and counts', ws.track(async () => {
    const source = sourceOf('big.yaml', 'SELECT * FROM public.big', { chunk_rows: 20000, batch_size: 64, passthrough: ['note'] });
    try {
      const chunks = await source.plan();
      expect(chunks.map((c) => c.plannedRows)).toEqual([20000, 20000, 20000]);
      const its = chunks.map((c) => source.read(c)[Symbol.asyncIterator]());
      const keys: Key[][] = chunks.map(() => []);
      const done = chunks.map(() => false);
      // Round robin, one batch at a time, so all three COPYs are open at once.
      while (done.includes(false)) {
        for (let i = 0; i < its.length; i++) {
          if (done[i]) continue;
          const r = await nextWithin(its[i], 10_000, `chunk ${i}`);
          if (r.done) done[i] = true;
          else {
            expect(r.value.rejects).toEqual([]);
            expect(r.value.passthrough[0][0]).toBe('n'.repeat(200));
            keys[i].push(...keysOf(r.value));
          }
        }
      }
      chunks.forEach((c, i) => {
        // Rows of a chunk come in no particular order (concurrent scans of one table may synchronise).
        const sorted = (keys[i] as number[]).sort((a, b) => a - b);
        const lo = i * 20000 + 1;
        expect(sorted.length).toBe(c.plannedRows);
        expect(sorted[0]).toBe(lo);
        expect(sorted.every((k, j) => k === lo + j)).toBe(true);
      });
    } finally {
      await source.close();
    }
  }));

  it('plan and reads inside an exported snapshot see the rows as they were, whatever is written meanwhile', ws.track(async () => {
    const source = sourceOf('moving.yaml', 'SELECT * FROM public.moving', { chunk_rows: 300 });
    const reader = sourceOf('moving.yaml', 'SELECT * FROM public.moving', { chunk_rows: 300 });
    try {
      const snapshot = await source.exportSnapshot();
      expect(snapshot).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
      expect(await source.exportSnapshot()).toBe(snapshot); // one per source
      // Written after the export and before planning: the plan must not see it either.
      await query(ws.db.url, `DELETE FROM public.moving WHERE id % 10 = 0`);
      const chunks = await source.plan();
      expect(chunks.reduce((n, c) => n + c.plannedRows!, 0)).toBe(1000);
      await query(ws.db.url, `INSERT INTO public.moving SELECT i, 1, 1, '2' FROM generate_series(1001, 1500) i`);
      await query(ws.db.url, `DELETE FROM public.moving WHERE id < 200`);
      // Another source instance (another worker) reads in the exporter's snapshot.
      const readAll = async (src: PostgresSource, c: ChunkRange, snap?: string) => {
        const keys: Key[] = [];
        for await (const b of src.read(c, { snapshot: snap })) keys.push(...keysOf(b));
        return keys;
      };
      const all: Key[] = [];
      for (const c of chunks) {
        const keys = await readAll(reader, c, snapshot);
        expect(keys.length).toBe(c.plannedRows);
        all.push(...keys);
      }
      expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));

      // Once the exporter is gone (a resumed run, another machine): read the table as it is now.
      await source.close();
      const now = await readAll(reader, chunks[0], snapshot);
      expect((chunks[0].range as { hi: string }).hi).toBe('301');
      expect(now).toEqual(Array.from({ length: 101 }, (_, i) => i + 200).filter((k) => k % 10 !== 0));
    } finally {
      await source.close();
      await reader.close();
    }
  }));
});
