import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bin, runCli, cliEnv } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('exit-codes');
const env = () => ({ DATABASE_URL: ws.db.url });

describe('exit codes a scheduler can act on', () => {
  it('--version prints the version', ws.track(async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  }));

  it("the day's CSV not there yet exits 3 (input not ready), and --json still prints one object", ws.track(async () => {
    const spec = writeSpec(ws.tmp.dir, 'dated.yaml', typedSpec({ name: 'dated', source: { csv: { path: 'in-{{ds}}.csv' } } }));
    const r = await runCli(['run', spec, '--date', '2026-08-01', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ status: 'error', exit_code: 3, error: expect.stringMatching(/in-2026-08-01\.csv does not exist \(yet\): the input for this date is not ready/) });
    // validate says it as run does: 3, not a spec error
    const v = await runCli(['validate', spec, '--date', '2026-08-01'], { cwd: ws.tmp.dir, env: env() });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(/in-2026-08-01\.csv does not exist \(yet\)/);
  }));

  it('a spec typo with --json prints one JSON object and exits 2; an unquoted {{ds}} gets one line saying to quote it', ws.track(async () => {
    const typo = writeSpec(ws.tmp.dir, 'typo.yaml', { ...typedSpec(), sinc: { table: 'x.y' } });
    const r = await runCli(['run', typo, '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'error', exit_code: 2, error: expect.stringMatching(/sinc: unknown key/) });
    fs.writeFileSync(path.join(ws.tmp.dir, 'unquoted.yaml'), fs.readFileSync(typo, 'utf8').replace(/^sinc:.*$/m, 'sink: { table: s.t }').replace(/^source:[\s\S]*?(?=^key:)/m, 'source:\n  csv: { path: data-{{ds}}.csv }\n'));
    const u = await runCli(['validate', 'unquoted.yaml'], { cwd: ws.tmp.dir, env: env() });
    expect(u.code).toBe(2);
    expect(u.stderr.trim()).toMatch(/^unquoted\.yaml:\d+: YAML syntax: a template like \{\{ds\}\} must be inside quotes in YAML/);
    expect(u.stderr.trim().split('\n')).toHaveLength(1);
  }));

  it('a run stopped by SIGINT ends cancelled and exits 130', ws.track(async () => {
    const lines = ['id,a,b,c'];
    for (let i = 0; i < 300_000; i++) lines.push(`${i},1,2,3`);
    fs.writeFileSync(path.join(ws.tmp.dir, 'big.csv'), lines.join('\n') + '\n');
    const spec = writeSpec(ws.tmp.dir, 'big.yaml', typedSpec({ name: 'big', source: { csv: { path: 'big.csv' } }, sink: { table: 'scores.big' }, chunk_rows: 5000 }));
    const child = spawn(process.execPath, [bin, 'run', spec, '--threads', '1'], { cwd: ws.tmp.dir, env: cliEnv(env()), stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 600; i++) {
      const done = await query(ws.db.url, `SELECT 1 FROM batchinfer.chunks WHERE status = 'done' LIMIT 1`).catch(() => []);
      if (done.length) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const [run] = await query<{ status: string }>(ws.db.url, `SELECT status FROM batchinfer.runs WHERE job = 'big'`);
    expect(run.status).toBe('cancelled');
  }));
});
