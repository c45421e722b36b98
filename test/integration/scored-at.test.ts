import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// scored_at is the time a chunk was written. A table batchinfer creates fills it itself (DEFAULT now(): the
// chunk's transaction start), so the COPY leaves it out; a table made before that has no default and keeps
// receiving it with every row. Either way every row has one, within its run.
const ws = testWorkspace('scored-at');
let spec: JobSpec;

beforeAll(() => {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < 2500; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  spec = loadSpec(writeSpec(ws.tmp.dir, 'scored.yaml', typedSpec({ name: 'scored', sink: { table: 'scores.scored' }, chunk_rows: 1000 })), ws.tmp.dir);
});

/** the run's rows: how many, how many without scored_at, and whether all lie within the run's start and finish */
const rowsOf = async (runId: number) =>
  (
    await query<{ n: number; missing: number; within: boolean }>(
      ws.db.url,
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE t.scored_at IS NULL)::int AS missing,
              bool_and(t.scored_at BETWEEN r.started_at - interval '1 second' AND r.finished_at) AS within
         FROM scores.scored t JOIN batchinfer.runs r USING (run_id) WHERE t.run_id = $1`,
      [runId],
    )
  )[0];

describe('scored_at', () => {
  it('a new table fills it (DEFAULT now()); a table without the default gets it from every row', ws.track(async () => {
    const first = await runJob({ spec, trigger: 'manual', databaseUrl: ws.db.url, logicalDate: '2026-01-01', threads: 2 });
    expect(first).toMatchObject({ status: 'succeeded', rows_scored: 2500 });
    const [col] = await query<{ def: string | null }>(
      ws.db.url,
      `SELECT pg_get_expr(d.adbin, d.adrelid) AS def FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = 'scores.scored'::regclass AND a.attname = 'scored_at'`,
    );
    expect(col.def).toBe('now()');
    expect(await rowsOf(first.run_id)).toEqual({ n: 2500, missing: 0, within: true });

    // a table as batchinfer made them before: no default (an insert that leaves scored_at out fails)
    await query(ws.db.url, `ALTER TABLE scores.scored ALTER COLUMN scored_at DROP DEFAULT`);
    for (const threads of [0, 2]) {
      const run = await runJob({ spec, trigger: 'manual', databaseUrl: ws.db.url, logicalDate: `2026-01-0${2 + threads}`, threads });
      expect(run).toMatchObject({ status: 'succeeded', rows_scored: 2500 });
      expect(await rowsOf(run.run_id)).toEqual({ n: 2500, missing: 0, within: true });
    }
  }));
});
