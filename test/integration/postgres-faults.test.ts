import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { PostgresSource } from '../../src/sources/postgres-source.js';
import { classifyError, SourceError, UsageError } from '../../src/errors.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('pg-faults');

beforeAll(async () => {
  await query(ws.db.url, `CREATE TABLE public.small AS SELECT i::bigint AS id, 1.0::float8 AS a, 1.0::real AS b, '2' AS c FROM generate_series(1, 100) i`);
});

/** Rows that come slowly (pg_sleep's minimum, about 1 ms a row), so a COPY is still running when its backend is killed. */
const slowQuery = `SELECT i::bigint AS id, 1.0::float8 AS a, 1.0::real AS b, '2' AS c FROM generate_series(1, 100000) i WHERE pg_sleep(0.0001) IS NOT NULL`;

const sourceOf = (file: string, q: string, over: Record<string, unknown> = {}) => {
  const spec = loadSpec(writeSpec(ws.tmp.dir, file, typedSpec({ name: 'faults', source: { postgres: { query: q } }, key_type: 'bigint', sink: { table: 'scores.x' }, ...over })), ws.tmp.dir);
  return new PostgresSource(spec, { url: ws.db.url, logicalDate: '2026-03-01' });
};

/** Terminate this database's backend of a batchinfer source running a COPY; resolves with its application_name. */
async function killCopyBackend(): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const rows = await query<{ pid: number; app: string }>(
      ws.db.url,
      `SELECT pid, application_name AS app FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'batchinfer source%' AND state = 'active' AND query LIKE 'COPY%'`,
    );
    if (rows.length === 1) {
      await query(ws.db.url, `SELECT pg_terminate_backend($1)`, [rows[0].pid]);
      return rows[0].app;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no source backend running a COPY found');
}

const server = () => {
  const u = new URL(ws.db.url);
  return `${u.hostname}:${u.port || 5432}`;
};

function expectTransient(err: unknown) {
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(UsageError);
  expect(err).not.toBeInstanceOf(SourceError);
  expect(classifyError(err), String(err)).toBe('transient');
  expect((err as Error).message).toContain(server());
  expect((err as Error).message).toMatch(/terminating connection/);
  expect((err as Error).message.split('\n')).toHaveLength(1);
}

describe('Postgres source when its connection is killed', () => {
  it('during planning: plan() rejects with one transient error naming the server; the process and the source live on', ws.track(async () => {
    const source = sourceOf('slow-plan.yaml', slowQuery);
    try {
      const planned = source.plan();
      planned.catch(() => undefined);
      expect(await killCopyBackend()).toBe('batchinfer source plan');
      expectTransient(await planned.then(() => 'planned', (e: unknown) => e));
      await new Promise((r) => setTimeout(r, 200)); // an unhandled 'error' event would surface here
    } finally {
      await source.close();
    }
    // A new source on the same process still works.
    const again = sourceOf('small.yaml', 'SELECT * FROM public.small', { chunk_rows: 40 });
    try {
      expect((await again.plan()).length).toBe(3);
    } finally {
      await again.close();
    }
  }));

  it('during a read: the read rejects with one transient error; the process and other sources live on', ws.track(async () => {
    const source = sourceOf('slow-read.yaml', slowQuery, { batch_size: 16 });
    const chunk = { chunk: 0, range: { lo: null, hi: null, keyType: 'bigint' }, plannedRows: 100000 };
    try {
      const it = source.read(chunk)[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      expect(await killCopyBackend()).toBe('batchinfer source read');
      let err: unknown;
      try {
        for (;;) if ((await it.next()).done) break;
      } catch (e) {
        err = e;
      }
      expectTransient(err);
      await new Promise((r) => setTimeout(r, 200));
      const other = sourceOf('small2.yaml', 'SELECT * FROM public.small');
      try {
        let rows = 0;
        for await (const b of other.read({ chunk: 0, range: { lo: null, hi: null, keyType: 'bigint' } })) rows += b.n;
        expect(rows).toBe(100);
      } finally {
        await other.close();
      }
    } finally {
      await source.close();
    }
  }));
});
