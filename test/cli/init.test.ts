import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot, runCli } from '../support/cli.js';
import { stackFrame, tempDir, twoInputsModel, typedModel } from '../support/jobs.js';

const wineModel = path.join(repoRoot, 'models/wine/model.onnx');
const batch1Model = path.join(repoRoot, 'test/fixtures/models/batch1.onnx');

let tmp: ReturnType<typeof tempDir>;
let failed = false;
beforeAll(() => {
  tmp = tempDir('cli-init');
  fs.mkdirSync(path.join(tmp.dir, 'data'));
  fs.copyFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), path.join(tmp.dir, 'data/wine.csv'));
});
afterAll(() => (failed ? console.error(`left ${tmp.dir} for inspection`) : tmp.remove()));
const track = (fn: () => Promise<void>) => async () => {
  failed = true;
  await fn();
  failed = false;
};

// init and validate need no database (CSV sources); DATABASE_URL unset would only matter to run.
const cli = (args: string[]) => runCli(args, { cwd: tmp.dir, env: { DEBUG: undefined }, timeoutMs: 30_000 });
const write = (file: string, text: string) => fs.writeFileSync(path.join(tmp.dir, file), text);
const specOf = (file: string) => parse(fs.readFileSync(path.join(tmp.dir, file), 'utf8')) as Record<string, any>;

describe('batchinfer init', () => {
  it('drafts a spec for the demo model and CSV that validate passes: key, inputs by width, one column per output value, comments', track(async () => {
    const r = await cli(['init', '--model', wineModel, '--csv', 'data/wine.csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('wrote jobs/wine.yaml');
    expect(r.stdout).toContain('next: batchinfer validate jobs/wine.yaml && batchinfer run jobs/wine.yaml --preview 5');
    const text = fs.readFileSync(path.join(tmp.dir, 'jobs/wine.yaml'), 'utf8');
    const spec = specOf('jobs/wine.yaml');
    expect(spec).toMatchObject({
      name: 'wine',
      model: { path: path.relative(path.join(tmp.dir, 'jobs'), wineModel) },
      source: { csv: { path: '../data/wine.csv' } },
      key: 'id',
      key_type: 'bigint',
      inputs: { float_input: ['alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids', 'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue', 'od280_od315', 'proline'] },
      outputs: {
        probabilities_0: { output: 'probabilities', index: 0 },
        probabilities_1: { output: 'probabilities', index: 1 },
        probabilities_2: { output: 'probabilities', index: 2 },
        label: { output: 'label' },
      },
      sink: { table: 'scores.wine' },
    });
    // Every key a newcomer may change has a comment just above it; the column left out is named.
    for (const key of ['name:', 'key:', 'key_type:', 'inputs:', 'outputs:', 'sink:', 'source:']) {
      const lines = text.split('\n');
      expect(lines[lines.findIndex((l) => l.startsWith(key)) - 1], key).toMatch(/^#/);
    }
    expect(text).toMatch(/# Left out: cultivar \(not numeric\)/);
    expect(text).toMatch(/# passthrough: \[cultivar\]/);
    const v = await cli(['validate', 'jobs/wine.yaml']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('jobs/wine.yaml: ok');
  }));

  it('refuses to overwrite an existing spec (exit 2) unless --force', track(async () => {
    const out = 'jobs/keep.yaml';
    fs.mkdirSync(path.join(tmp.dir, 'jobs'), { recursive: true });
    write(out, '# mine\n');
    const r = await cli(['init', '--model', wineModel, '--csv', 'data/wine.csv', '--out', out]);
    expect(r.code).toBe(2);
    // The way out that keeps the file comes first: on the demo, --force would overwrite jobs/wine.yaml.
    expect(r.stderr).toMatch(/jobs\/keep\.yaml: already exists; pass --name NAME \(writes jobs\/NAME\.yaml\) or --out PATH for a new spec, or --force to overwrite this one/);
    expect(r.stderr).not.toMatch(stackFrame);
    expect(fs.readFileSync(path.join(tmp.dir, out), 'utf8')).toBe('# mine\n');
    const forced = await cli(['init', '--model', wineModel, '--csv', 'data/wine.csv', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(specOf(out)).toMatchObject({ name: 'keep', sink: { table: 'scores.keep' } });
  }));

  it('keys that are UUIDs (in any spelling PostgreSQL reads) draft key_type: uuid; one that is not drafts text', track(async () => {
    write('uuids.csv', 'id,a,b,c\na0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,1,2,3\n{B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12},4,5,6\n');
    const r = await cli(['init', '--model', typedModel, '--csv', 'uuids.csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(specOf('jobs/uuids.yaml')).toMatchObject({ key: 'id', key_type: 'uuid' });
    expect(fs.readFileSync(path.join(tmp.dir, 'jobs/uuids.yaml'), 'utf8')).toContain('# SQL type of the key in the result table: bigint, uuid or text. The first keys are UUIDs.');
    write('mixed.csv', 'id,a,b,c\na0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,1,2,3\ncustomer-7,4,5,6\n');
    const m = await cli(['init', '--model', typedModel, '--csv', 'mixed.csv']);
    expect(m.code, m.stderr).toBe(0);
    expect(specOf('jobs/mixed.yaml')).toMatchObject({ key: 'id', key_type: 'text' });
  }));

  it('without a usable key column asks for --key; with --key a text key', track(async () => {
    write('nokey.csv', 'a,b,c,who\n1,2,3,ann\n4,5,6,bob\n');
    const r = await cli(['init', '--model', typedModel, '--csv', 'nokey.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nokey\.csv: no key column found.*pass --key COLUMN/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(tmp.dir, 'jobs/nokey.yaml'))).toBe(false);
    const bad = await cli(['init', '--model', typedModel, '--csv', 'nokey.csv', '--key', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--key nope: no such column in nokey\.csv \(its columns: a, b, c, who\)/);
    const ok = await cli(['init', '--model', typedModel, '--csv', 'nokey.csv', '--key', 'who']);
    expect(ok.code, ok.stderr).toBe(0);
    const spec = specOf('jobs/nokey.yaml');
    expect(spec).toMatchObject({ key: 'who', key_type: 'text', inputs: { x: ['a', 'b', 'c'] } });
    // typed.onnx: [N] and [N,1] outputs one column each, [N,2] two indexed columns, every storable type.
    expect(spec.outputs).toEqual({
      sum: { output: 'sum' },
      sum2d: { output: 'sum2d' },
      dbl: { output: 'dbl' },
      cls: { output: 'cls' },
      name: { output: 'name' },
      pair_0: { output: 'pair', index: 0 },
      pair_1: { output: 'pair', index: 1 },
    });
    const v = await cli(['validate', 'jobs/nokey.yaml']);
    expect(v.code, v.stderr).toBe(0);
  }));

  it('several inputs take the numeric columns in the model input order; a *_id column is the key; a fixed batch of 1 gets batch_size 1', track(async () => {
    write('two.csv', 'row_id,note,a1,a2,b1,extra\n7,x,1,2,3,4\n8,y,5,6,7,8\n');
    const r = await cli(['init', '--model', twoInputsModel, '--csv', 'two.csv', '--name', 'two-in']);
    expect(r.code, r.stderr).toBe(0);
    const spec = specOf('jobs/two-in.yaml');
    expect(spec).toMatchObject({ name: 'two-in', key: 'row_id', key_type: 'bigint', inputs: { a: ['a1', 'a2'], b: ['b1'] }, outputs: { y: { output: 'y' } }, sink: { table: 'scores.two_in' } });
    expect(fs.readFileSync(path.join(tmp.dir, 'jobs/two-in.yaml'), 'utf8')).toMatch(/# Left out: note \(not numeric\), extra \(more numeric columns than the model takes\)/);
    expect((await cli(['validate', 'jobs/two-in.yaml'])).code).toBe(0);

    write('b1.csv', 'id,p,q\n1,2,3\n');
    const one = await cli(['init', '--model', batch1Model, '--csv', 'b1.csv']);
    expect(one.code, one.stderr).toBe(0);
    expect(specOf('jobs/b1.yaml')).toMatchObject({ batch_size: 1, inputs: { x: ['p', 'q'] }, outputs: { y: { output: 'y' } } });
    const v = await cli(['validate', 'jobs/b1.yaml']);
    expect(v.code, v.stderr).toBe(0);
  }));

  it('too few numeric columns for the model: exit 2 naming the input, its width and the columns', track(async () => {
    write('narrow.csv', 'id,a,b,label\n1,2,3,x\n');
    const r = await cli(['init', '--model', typedModel, '--csv', 'narrow.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/input "x" \[N, 3\] needs 3 numeric columns but narrow\.csv has 2 left \(besides the key "id"\): a, b; not usable: label \(not numeric\)/);
    expect(r.stderr).not.toMatch(stackFrame);
  }));

  it('started by npx (a clone, where batchinfer is not on PATH), the next commands it suggests start with npx', track(async () => {
    const r = await runCli(['init', '--model', wineModel, '--csv', 'data/wine.csv', '--name', 'via-npx'], { cwd: tmp.dir, env: { DEBUG: undefined, npm_command: 'exec' }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('next: npx batchinfer validate jobs/via-npx.yaml && npx batchinfer run jobs/via-npx.yaml --preview 5');
    const usage = await runCli(['init', '--csv', 'data/wine.csv'], { cwd: tmp.dir, env: { npm_command: 'exec' }, timeoutMs: 30_000 });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('(run npx batchinfer --help for usage)');
  }));
});
