import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bin, runCli, cliEnv } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('hangs');

describe('no hang', () => {
  it('a server that accepts the connection and never answers fails the run within the connect timeout, naming the host', ws.track(async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,1,1\n');
      const spec = writeSpec(ws.tmp.dir, 'silent.yaml', typedSpec({ name: 'silent' }));
      const t0 = Date.now();
      const r = await runCli(['run', spec], { cwd: ws.tmp.dir, env: { DATABASE_URL: `postgres://u@127.0.0.1:${port}/db` } });
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`batchinfer: cannot connect to PostgreSQL at 127.0.0.1:${port}/db: timeout expired`);
    } finally {
      silent.close();
    }
  }));

  it('one SIGTERM always leads to an exit: a chunk that never ends gets the grace period, then the process exits 143', ws.track(async () => {
    const lines = ['id,a,b,c'];
    for (let i = 0; i < 1000; i++) lines.push(`${i},1,1,1`);
    fs.writeFileSync(path.join(ws.tmp.dir, 'stuck.csv'), lines.join('\n') + '\n');
    const spec = writeSpec(ws.tmp.dir, 'stuck.yaml', typedSpec({ name: 'stuck', source: { csv: { path: 'stuck.csv' } }, sink: { table: 'scores.stuck' } }));
    const env = cliEnv({ DATABASE_URL: ws.db.url, BATCHINFER_SHUTDOWN_GRACE_MS: '2000' });
    expect((await runCli(['run', spec, '--date', '2026-07-01'], { cwd: ws.tmp.dir, env })).code).toBe(0);
    // Every COPY into the table now takes 10 minutes: the chunk in flight will not end by itself.
    await query(ws.db.url, `CREATE FUNCTION public.forever() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(600); RETURN NULL; END $$`);
    await query(ws.db.url, `CREATE TRIGGER forever AFTER INSERT ON scores.stuck FOR EACH STATEMENT EXECUTE FUNCTION public.forever()`);
    const child = spawn(process.execPath, [bin, 'run', spec, '--date', '2026-07-02', '--threads', '1'], { cwd: ws.tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // Wait until the chunk's COPY is stuck in the trigger.
    for (let i = 0; i < 400; i++) {
      const rows = await query(ws.db.url, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND wait_event = 'PgSleep'`);
      if (rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(stderr).toMatch(/SIGTERM: finishing the chunks in flight \(at most 2 s\), then stopping/);
    expect(stderr).toMatch(/still not stopped 2 s after SIGTERM: exiting now; chunks in flight roll back/);
    await query(ws.db.url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`);
    await query(ws.db.url, `DROP TRIGGER forever ON scores.stuck`);
  }));
});
