import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { testWorkspace, stackFrame, typedModel, typedSpec, writeSpec } from '../support/jobs.js';

// A database only so `run` never falls back to starting the embedded server; no case gets far enough to write.
const ws = testWorkspace('cli-errors');
beforeAll(async () => {
  fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), 'id,a,b,c\n1,1,2,3\n');
});

/** Each bad spec, the key path its message must name, and what else the message must say (the fix). */
const cases: { name: string; spec: Record<string, unknown>; path: string; says: RegExp[] }[] = [
  { name: 'unknown-key', spec: typedSpec({ colour: 'red' }), path: 'colour', says: [/unknown key/, /remove it or fix its spelling/] },
  { name: 'unknown-nested-key', spec: typedSpec({ model: { path: typedModel, verison: 'v1' } }), path: 'model.verison', says: [/unknown key/, /did you mean "version"/] },
  {
    name: 'missing-column',
    spec: typedSpec({ inputs: { x: ['a', 'b', 'zz'] } }),
    path: 'inputs.x[2]',
    says: [/column "zz" is not in/, /data\.csv/, /its columns: id, a, b, c/],
  },
  {
    name: 'input-size',
    spec: typedSpec({ inputs: { x: ['a', 'b'] } }),
    path: 'inputs.x',
    says: [/expects \[N, 3\]/, /3 features per row/, /gives 2 columns/, /list exactly 3 columns/],
  },
  { name: 'missing-model', spec: typedSpec({ model: { path: 'models/nope.onnx' } }), path: 'model.path', says: [/no such file/, /nope\.onnx/, /fix model\.path/, /relative to the spec file/] },
  { name: 'bad-cron', spec: typedSpec({ schedule: { cron: '61 25 * * *' } }), path: 'schedule.cron', says: [/not a valid cron expression/, /e\.g\. "0 2 \* \* \*"/] },
];

describe('CLI errors', () => {
  for (const c of cases) {
    for (const command of ['run', 'validate'] as const) {
      it(`${command} ${c.name}: exit 2, one line naming the spec file and ${c.path}, saying what to do, no stack`, ws.track(async () => {
        const file = `${c.name}.yaml`;
        writeSpec(ws.tmp.dir, file, c.spec);
        const args = command === 'run' ? ['run', file, '--threads', '1', '--date', '2026-11-07'] : ['validate', file, '--date', '2026-11-07'];
        const r = await runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
        expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(2);
        expect(r.stderr).not.toMatch(stackFrame);
        expect(r.stderr).not.toMatch(/DEBUG=1|Error:|UsageError/);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        const [line] = lines;
        // The message starts at the spec file, then the key path: "<file>: <path>..." (run prefixes "batchinfer: ").
        expect(line.replace(/^batchinfer: /, '')).toMatch(new RegExp(`^${file.replaceAll('.', '\\.')}: ${c.path.replace(/[.[\]]/g, (m) => `\\${m}`)}(?![\\w.[])`));
        for (const s of c.says) expect(line).toMatch(s);
        expect(r.stdout).toBe('');
      }));
    }
  }

  it('validate reports every bad spec of several, one line each, and exits 2', ws.track(async () => {
    for (const c of cases) writeSpec(ws.tmp.dir, `${c.name}.yaml`, c.spec);
    const r = await runCli(['validate', ...cases.map((c) => `${c.name}.yaml`), '--date', '2026-11-07'], { cwd: ws.tmp.dir, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(cases.length);
    cases.forEach((c, i) => expect(lines[i].startsWith(`${c.name}.yaml: ${c.path}`), lines[i]).toBe(true));
  }));

  it('validate on the demo spec exits 0', ws.track(async () => {
    const r = await runCli(['validate', 'jobs/wine.yaml', '--date', '2026-11-07'], { cwd: repoRoot, env: { DATABASE_URL: undefined }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^jobs\/wine\.yaml: ok \(job wine-quality, model [0-9a-f]{12}, 4 result columns -> scores\.wine\)\n  sample: the first 178 rows: 178 scorable, 0 rejected; keys: integers\n(  .*\n)*$/);
    expect(r.stderr).toBe('');
  }));

  it('inspect lists the demo model inputs and outputs with types and shapes', ws.track(async () => {
    const r = await runCli(['inspect', 'models/wine/model.onnx'], { cwd: repoRoot, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/sha256 [0-9a-f]{64}/);
    const inputs = out.slice(out.indexOf('inputs:'), out.indexOf('outputs:'));
    const outputs = out.slice(out.indexOf('outputs:'));
    expect(inputs).toMatch(/^ {2}float_input {2}float32 \[\S*, 13\]$/m);
    expect(outputs).toMatch(/^ {2}label {2}int64 \[/m);
    expect(outputs).toMatch(/^ {2}probabilities {2}float32 \[\S*, 3\]$/m);
    const json = await runCli(['inspect', 'models/wine/model.onnx', '--json'], { cwd: repoRoot, timeoutMs: 30_000 });
    expect(json.code).toBe(0);
    const sig = JSON.parse(json.stdout) as { inputs: { name: string }[]; outputs: { name: string }[] };
    expect(sig.inputs.map((i) => i.name)).toEqual(['float_input']);
    expect(sig.outputs.map((o) => o.name).sort()).toEqual(['label', 'probabilities']);
  }));

  it('inspect of a missing model file exits 2 without a stack', ws.track(async () => {
    const r = await runCli(['inspect', 'models/nope.onnx'], { cwd: repoRoot, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/models\/nope\.onnx/);
    expect(r.stderr).not.toMatch(stackFrame);
  }));

  it('--help lists run, validate, inspect and db', ws.track(async () => {
    const r = await runCli(['--help'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    for (const cmd of ['run', 'validate', 'inspect', 'db']) expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
  }));

  it('an unknown command exits 2 with a hint, no stack', ws.track(async () => {
    const r = await runCli(['frobnicate'], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
    expect(r.stderr).toMatch(/--help/);
    expect(r.stderr).not.toMatch(stackFrame);
  }));
});
