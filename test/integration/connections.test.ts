import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { prepareRun } from '../../src/execute/prepare-run.js';
import { releaseRun } from '../../src/runs/claim-run.js';
import { runJob } from '../../src/execute/run-job.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// A run opens its planner's and its scoring connections ahead, while it checks the model and the input
// (a small run's start-up). Whatever way the run ends, none of them may stay open: a scheduler or a queue
// worker runs many runs in one process.
const ws = testWorkspace('connections');
let spec: JobSpec;
let broken: JobSpec;

/** this database's batchinfer connections, once those just closed have gone (a backend exits shortly after its client ends) */
async function openConnections(): Promise<string[]> {
  const list = async () =>
    (await query<{ app: string }>(ws.db.url, `SELECT application_name AS app FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'batchinfer%' ORDER BY 1`)).map((r) => r.app);
  const until = Date.now() + 3000;
  let apps = await list();
  while (apps.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    apps = await list();
  }
  return apps;
}

beforeAll(async () => {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < 3000; i++) lines.push(`${i},${i % 7},${(i % 13) / 4},${-(i % 5)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(ws.tmp.dir, 'no-c.csv'), 'id,a,b\n1,2,3\n');
  spec = loadSpec(writeSpec(ws.tmp.dir, 'conn.yaml', typedSpec({ name: 'conn', sink: { table: 'scores.conn' }, chunk_rows: 1000 })), ws.tmp.dir);
  broken = loadSpec(writeSpec(ws.tmp.dir, 'broken.yaml', typedSpec({ name: 'conn', source: { csv: { path: 'no-c.csv' } }, sink: { table: 'scores.conn' } })), ws.tmp.dir);
});

const base = () => ({ spec, trigger: 'manual' as const, databaseUrl: ws.db.url });

describe('connections a run opens ahead are all closed when it ends', () => {
  for (const threads of [0, 2]) {
    it(`--threads ${threads}: a run that succeeds, one whose input fails its check, one refused (another owns it), one resumed`, ws.track(async () => {
      const day = (d: number) => `2026-0${threads === 0 ? 1 : 2}-0${d}`;
      const ok = await runJob({ ...base(), logicalDate: day(1), threads });
      expect(ok).toMatchObject({ status: 'succeeded', rows_scored: 3000 });
      expect(await openConnections()).toEqual([]);

      await expect(runJob({ ...base(), spec: broken, logicalDate: day(2), threads })).rejects.toThrow(/column "c" is not in .*no-c\.csv/);
      expect(await openConnections()).toEqual([]);

      // planned, not scored, its owner still holding it: the next run is refused
      const held = await prepareRun({ ...base(), logicalDate: day(3) });
      await held.planned;
      await expect(runJob({ ...base(), logicalDate: day(3), threads })).rejects.toThrow(/is already running/);
      expect(await openConnections()).toEqual(['batchinfer run owner']); // the holder's own
      // released: the next run resumes it (planned already: its planner connection is not used)
      await releaseRun(held.ownerClient, held.run.runId);
      await held.ownerClient.end();
      const resumed = await runJob({ ...base(), logicalDate: day(3), threads });
      expect(resumed).toMatchObject({ run_id: held.run.runId, resumed: true, status: 'succeeded', rows_scored: 3000 });
      expect(await openConnections()).toEqual([]);
    }));
  }
});
