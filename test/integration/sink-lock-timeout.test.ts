import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaults } from '../../src/defaults.js';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// Result-table DDL must not queue behind an analyst's open transaction (and block every reader meanwhile).
const ws = testWorkspace('sink-lock-timeout');
beforeAll(async () => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n2,4,5,6\n');
});

async function run(spec: Record<string, unknown>) {
  writeSpec(ws.tmp.dir, 'locked.yaml', spec);
  return runCli(['run', 'locked.yaml', '--threads', '0', '--date', '2026-11-21'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 40_000 });
}

async function connect(app: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: ws.db.url, application_name: app });
  await c.connect();
  return c;
}

const columns = async () => (await query<{ c: string }>(ws.db.url, `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'scores' AND table_name = 'locked' ORDER BY ordinal_position`)).map((r) => r.c);

describe('result-table DDL and analysts', () => {
  it('a run that must add a column fails after the lock timeout, naming the blocking session; readers and the analyst are never held up', ws.track(async () => {
    const base = typedSpec({ name: 'locked', sink: { table: 'scores.locked', on_schema_change: 'append_new_columns' } });
    const first = await run(base);
    expect(first.code, first.stderr).toBe(0);
    const before = await columns();

    const analyst = await connect('analyst');
    const reader = await connect('reader');
    const monitor = await connect('monitor');
    try {
      await analyst.query('BEGIN');
      await analyst.query('SELECT * FROM scores.locked');
      const analystPid = (await analyst.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

      const started = Date.now();
      let done = false;
      const finished = run({ ...base, outputs: { s: { output: 'sum' }, s2: { output: 'dbl' } } }).finally(() => (done = true));
      // Meanwhile: another reader keeps querying the table, the analyst keeps working in its transaction,
      // and the monitor sees the run's DDL waiting for its lock.
      const poll = async (fn: () => Promise<unknown>) => {
        let maxMs = 0;
        while (!done) {
          const t = Date.now();
          await fn();
          maxMs = Math.max(maxMs, Date.now() - t);
          await new Promise((r) => setTimeout(r, 20));
        }
        return maxMs;
      };
      let sawWait = false;
      const [readerMaxMs, analystMaxMs] = await Promise.all([
        poll(() => reader.query('SELECT count(*) FROM scores.locked')),
        poll(() => analyst.query('SELECT count(*) FROM scores.locked')),
        poll(async () => {
          const waits = await monitor.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'batchinfer run owner' AND wait_event_type = 'Lock'`);
          sawWait ||= waits.rowCount! > 0;
        }),
      ]);
      const r = await finished;
      const elapsedMs = Date.now() - started;

      expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(1);
      expect(r.stderr).not.toMatch(stackFrame);
      const line = r.stderr.split('\n')[0];
      expect(line).toMatch(new RegExp(`^batchinfer: locked\\.yaml: sink\\.table: could not add column s2 to scores\\.locked within ${defaults.ddlLockTimeoutMs} ms: the lock is held by pid ${analystPid} \\(user \\w+, application "analyst", (idle in transaction|active), query started \\d{4}-\\d\\d-\\d\\dT[^:]+:\\d\\d:[\\d.]+Z: "SELECT count\\(\\*\\) FROM scores\\.locked"\\); ask them to end their transaction \\(or SELECT pg_terminate_backend\\(pid\\) for ${analystPid}\\), then run again$`));
      // about the timeout: the DDL budget plus the command's start-up
      expect(elapsedMs).toBeGreaterThanOrEqual(defaults.ddlLockTimeoutMs);
      expect(elapsedMs).toBeLessThan(defaults.ddlLockTimeoutMs + 10_000);
      expect(readerMaxMs, 'a reader waited behind the DDL').toBeLessThan(1500);
      expect(analystMaxMs, 'the analyst was held up').toBeLessThan(1500);
      expect(sawWait, 'the DDL never waited for its lock').toBe(true);
      expect(await columns()).toEqual(before);
      expect(await query(ws.db.url, 'SELECT count(*)::int AS n FROM batchinfer.runs')).toEqual([{ n: 1 }]);

      // The analyst's transaction is intact; once it ends, the same run goes through.
      expect((await analyst.query('SELECT count(*)::int AS n FROM scores.locked')).rows).toEqual([{ n: 2 }]);
      await analyst.query('COMMIT');
      const again = await run({ ...base, outputs: { s: { output: 'sum' }, s2: { output: 'dbl' } } });
      expect(again.code, again.stderr).toBe(0);
      expect(await columns()).toEqual([...before, 's2']);
      expect((await query(ws.db.url, 'SELECT count(s2)::int AS n FROM scores.locked_latest')).at(0)).toEqual({ n: 2 });
    } finally {
      await analyst.query('ROLLBACK').catch(() => undefined);
      for (const c of [analyst, reader, monitor]) await c.end().catch(() => undefined);
    }
  }));
});
