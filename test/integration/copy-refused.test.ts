import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

// A COPY the server refuses before it starts (its table dropped while the run waited for the lock)
// must fail the run with the server's message, on the main thread and on scoring threads: it used
// to hang forever, waiting for a COPY stream that had already ended to close.
const ws = testWorkspace('copy-refused');
beforeAll(async () => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n2,4,5,6\n');
});

describe('a result table dropped under a run', () => {
  for (const threads of ['0', '1'])
    it(`fails the run with the server's message, does not hang (--threads ${threads})`, ws.track(async () => {
      const spec = typedSpec({ name: `refused${threads}`, sink: { table: `scores.refused${threads}` } });
      writeSpec(ws.tmp.dir, 'refused.yaml', spec);
      const run = (date: string) => runCli(['run', 'refused.yaml', '--threads', threads, '--date', date], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
      expect((await run('2026-11-20')).code).toBe(0);

      const dba = new pg.Client({ connectionString: ws.db.url });
      await dba.connect();
      // The suite's own connection sees every session's query and wait (the test database's may not).
      const monitor = new pg.Client({ connectionString: inject('databaseUrl') });
      await monitor.connect();
      try {
        await dba.query('BEGIN');
        await dba.query(`LOCK TABLE scores.refused${threads} IN ACCESS EXCLUSIVE MODE`);
        const started = Date.now();
        const finished = run('2026-11-21');
        // The run's COPY waits for the lock; then the table goes away.
        let waiting = false;
        for (let i = 0; i < 200 && !waiting; i++) {
          const { rowCount } = await monitor.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %refused${threads}%' AND wait_event_type = 'Lock'`);
          waiting = rowCount! > 0;
          if (!waiting) await new Promise((r) => setTimeout(r, 50));
        }
        expect(waiting, "the run's COPY never waited for the table's lock").toBe(true);
        await dba.query(`DROP TABLE scores.refused${threads} CASCADE`);
        await dba.query('COMMIT');
        const r = await finished;
        expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(1);
        expect(r.stdout + r.stderr).toMatch(/relation "scores\.refused\d" does not exist/);
        expect(r.stderr).not.toMatch(stackFrame);
        expect(Date.now() - started).toBeLessThan(20_000);
      } finally {
        await dba.query('ROLLBACK').catch(() => undefined);
        await dba.end();
        await monitor.end();
      }
    }));
});
