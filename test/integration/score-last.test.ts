import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { prepareRun } from '../../src/execute/prepare-run.js';
import { runJob } from '../../src/execute/run-job.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * Ids in order as text keys: the chunks holding the shorter ids are scored after the others (the
 * planner's scoreLast hint), so the result table's B-tree gets the rest appended in order. The order
 * changes nothing else: every row once, duplicates and counts as ever.
 */
const ROWS = 100_000;
const CHUNK_ROWS = 5000;
const ws = testWorkspace('score-last');
beforeAll(async () => {
  // the same ids in a Postgres table (with its primary key: the hint's lookup is an index read)
  await query(ws.db.url, `CREATE TABLE public.ids AS SELECT g AS id, (g % 7)::real AS a, ((g % 13) / 4.0)::real AS b, (-(g % 5))::real AS c FROM generate_series(1, ${ROWS}) g`);
  await query(ws.db.url, 'ALTER TABLE public.ids ADD PRIMARY KEY (id)');
  const lines = ['id,a,b,c'];
  for (let i = 1; i <= ROWS; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  lines.push('77,1,1,1'); // a duplicate of a key in a chunk scored last: the first occurrence (line 78) still wins
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
});

const spec = (name: string, over: Record<string, unknown> = {}) =>
  loadSpec(writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, sink: { table: `scores.${name.replaceAll('-', '_')}` }, batch_size: 500, chunk_rows: CHUNK_ROWS, ...over })), ws.tmp.dir);

async function feedOrder(s: ReturnType<typeof spec>): Promise<number[]> {
  const prepared = await prepareRun({ spec: s, logicalDate: '2026-12-04', trigger: 'manual', databaseUrl: ws.db.url, fresh: true });
  try {
    const order: number[] = [];
    for (let c = await prepared.feed.next(); c !== undefined; c = await prepared.feed.next()) order.push(c);
    await prepared.planned;
    return order;
  } finally {
    await prepared.closePlanner();
    await prepared.ownerClient.end();
  }
}

describe('chunks of short ids scored last', () => {
  it('text keys: the chunks starting with ids shorter than the last ones come after the others; bigint keys: file order', ws.track(async () => {
    const chunks = Math.ceil((ROWS + 1) / CHUNK_ROWS);
    // chunks 0 and 1 start with ids of 1 and 4 digits, so does the last one (the duplicate "77"); the file ends with 5
    const later = [0, 1, chunks - 1];
    const rest = Array.from({ length: chunks - 3 }, (_, i) => i + 2);
    expect(await feedOrder(spec('ids-text'))).toEqual([...rest, ...later]);
    expect(await feedOrder(spec('ids-bigint', { key_type: 'bigint' }))).toEqual(Array.from({ length: chunks }, (_, i) => i));
  }));

  it('a Postgres source: integer ids read into text keys, likewise; bigint keys in key order', ws.track(async () => {
    const pg = (name: string, over: Record<string, unknown> = {}) => spec(name, { source: { postgres: { query: 'SELECT * FROM public.ids' } }, ...over });
    const chunks = ROWS / CHUNK_ROWS;
    expect(await feedOrder(pg('pg-ids-text'))).toEqual([...Array.from({ length: chunks - 2 }, (_, i) => i + 2), 0, 1]);
    // the hint's time limit ends with it: a plan whose pass takes longer (0.1 s asleep over the smallest
    // ids, which the hint's lookup near the largest never reads) still plans, with the hint
    const slowStart = pg('pg-ids-slow-start', { source: { postgres: { query: 'SELECT * FROM public.ids WHERE CASE WHEN id < 100 THEN pg_sleep(0.001) IS NOT NULL ELSE true END' } } });
    expect(await feedOrder(slowStart)).toEqual([...Array.from({ length: chunks - 2 }, (_, i) => i + 2), 0, 1]);
    expect(await feedOrder(pg('pg-ids-bigint', { key_type: 'bigint' }))).toEqual(Array.from({ length: chunks }, (_, i) => i));
  }));

  it('a query the hint cannot read at once: no hint, and the plan itself is not cut short by the hint\'s time limit', ws.track(async () => {
    // every statement over this query takes 0.3 s: the hint's lookup gives up (defaults.planHintMs), the plan's own pass must not
    const slow = spec('pg-ids-slow', { chunk_rows: 40_000, source: { postgres: { query: 'SELECT i.* FROM public.ids i, (SELECT pg_sleep(0.3)) s' } } });
    expect(await feedOrder(slow)).toEqual([0, 1, 2]);
  }));

  it('a whole run scores every row once, and the first occurrence of a duplicate wins', ws.track(async () => {
    const outcome = await runJob({ spec: spec('ids-run', { max_rejected: 1 }), logicalDate: '2026-12-04', trigger: 'manual', databaseUrl: ws.db.url, threads: 2, fresh: true });
    expect(outcome, outcome.error ?? '').toMatchObject({ status: 'succeeded', rows_read: ROWS + 1, rows_scored: ROWS, rows_rejected: 1 });
    const [r] = await query<{ n: string; distinct: string }>(ws.db.url, 'SELECT count(*) AS n, count(DISTINCT id) AS distinct FROM scores.ids_run WHERE run_id = $1', [outcome.run_id]);
    expect([Number(r.n), Number(r.distinct)]).toEqual([ROWS, ROWS]);
    const rejects = await query<{ line: string; reason: string }>(ws.db.url, 'SELECT line, reason FROM batchinfer.rejects WHERE run_id = $1', [outcome.run_id]);
    expect(rejects).toEqual([{ line: String(ROWS + 2), reason: 'duplicate key "77" (already seen in this run)' }]);
  }));
});
