import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * onnxruntime left an empty mat-debug-<pid>.log in the temp folder of every process that loaded it (its
 * telemetry), and its log lines reached the terminal with ANSI colours. noisy.onnx has an initializer no node
 * uses, so onnxruntime warns while loading it.
 */
const noisyModel = path.join(repoRoot, 'test/fixtures/models/noisy.onnx');
const ws = testWorkspace('noise');
let tmpdir: string;
beforeAll(() => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n2,4,5,6\n3,7,8,9\n');
  tmpdir = path.join(ws.tmp.dir, 'TMPDIR');
  fs.mkdirSync(tmpdir);
});

const ansi = /\x1b\[/;
const matDebug = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('mat-debug-'));

describe('onnxruntime noise', () => {
  it('control: onnxruntime on its own writes a coloured warning for this model (and, in most environments, a mat-debug-<pid>.log)', ws.track(async () => {
    const control = path.join(ws.tmp.dir, 'control');
    fs.mkdirSync(control);
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: control };
    delete env.ORT_DISABLE_TELEMETRY;
    const r = spawnSync(process.execPath, ['-e', `require('onnxruntime-node').InferenceSession.create(${JSON.stringify(noisyModel)}).then(() => console.log('loaded'))`], { cwd: repoRoot, env, encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('loaded');
    expect(r.stderr).toMatch(ansi);
    expect(r.stderr).toMatch(/Removing initializer 'unused'/);
    // The telemetry file depends on the environment onnxruntime finds (it did not appear under CI=true on
    // this machine): when it appears, it is this process's; the runs below must never leave one.
    expect(matDebug(control).every((f) => f === `mat-debug-${r.pid}.log`)).toBe(true);
  }));

  it('a scoring run on threads leaves no mat-debug file in its temp folder and writes no ANSI escapes', ws.track(async () => {
    const spec = writeSpec(ws.tmp.dir, 'noisy.yaml', typedSpec({ name: 'noisy', model: { path: noisyModel }, sink: { table: 'scores.noisy' }, chunk_rows: 1 }));
    const r = await runCli(['run', spec, '--threads', '2', '--date', '2026-11-10'], {
      cwd: ws.tmp.dir,
      env: { DATABASE_URL: ws.db.url, TMPDIR: tmpdir, ORT_DISABLE_TELEMETRY: undefined, DEBUG: undefined },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/succeeded: 3 rows read, 3 scored, 0 rejected/);
    expect(r.stderr).not.toMatch(ansi);
    expect(r.stderr).not.toMatch(/onnxruntime/);
    expect(matDebug(tmpdir)).toEqual([]);
  }));
});
