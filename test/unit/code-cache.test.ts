import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';

/** bin/code-cache.cjs: what the CLI and its scoring threads load their bundles through. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-code-cache-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const bundle = path.join(dir, 'bundle.js');
const cache = `${bundle}.cmd.cache`;
fs.writeFileSync(bundle, "'use strict';\nexports.answer = () => [41, 1].reduce((a, b) => a + b) + ':' + require('node:path').basename(__filename);\n");

/** A fresh process loading the bundle through the cache, as bin/batchinfer.js does. */
const load = () =>
  execFileSync(process.execPath, ['-e', `const { load } = require(${JSON.stringify(path.join(repoRoot, 'bin/code-cache.cjs'))}); process.stdout.write(load(${JSON.stringify(bundle)}, 'cmd').answer())`], { encoding: 'utf8' });

describe('the code cache', () => {
  it('is written by the first run, then used as it is; one V8 rejects is written anew', () => {
    expect(load()).toBe('42:bundle.js');
    const first = fs.readFileSync(cache);
    expect(first.length).toBeGreaterThan(0);
    const written = fs.statSync(cache).mtimeMs;

    expect(load()).toBe('42:bundle.js');
    expect(fs.statSync(cache).mtimeMs, 'a cache V8 accepted is not rewritten').toBe(written);

    fs.writeFileSync(cache, 'not a code cache');
    expect(load()).toBe('42:bundle.js');
    expect(fs.readFileSync(cache, 'utf8')).not.toBe('not a code cache');
    const rewritten = fs.statSync(cache).mtimeMs;
    expect(load()).toBe('42:bundle.js');
    expect(fs.statSync(cache).mtimeMs, 'the cache written in place of a rejected one is accepted').toBe(rewritten);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.cache.')), 'no temporary file left').toEqual([]);
  });

  it('is skipped when it cannot be written', () => {
    fs.rmSync(cache, { force: true });
    fs.mkdirSync(cache); // a directory where the file would go: the rename fails
    expect(load()).toBe('42:bundle.js');
    expect(fs.readdirSync(dir).filter((f) => f.includes('.cache.')), 'no temporary file left').toEqual([]);
    fs.rmSync(cache, { recursive: true });
  });

  it('is not used for import(): the built bundles hold none (a script from a code cache loses its loader in Node 20)', () => {
    const bundles = path.join(repoRoot, 'dist/bundle');
    for (const f of fs.readdirSync(bundles).filter((f) => f.endsWith('.js'))) {
      const code = fs
        .readFileSync(path.join(bundles, f), 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('//'));
      expect(code.filter((line) => /(^|[^\w$.])import\s*\(/.test(line)), f).toEqual([]);
    }
  });

  it('the built bundles are ASCII (read without decoding UTF-8, one byte per character in V8)', () => {
    const bundles = path.join(repoRoot, 'dist/bundle');
    for (const f of fs.readdirSync(bundles).filter((f) => f.endsWith('.js'))) {
      const lines = fs.readFileSync(path.join(bundles, f), 'utf8').split('\n');
      expect(lines.filter((line) => /[^\x00-\x7f]/.test(line)).map((line) => line.trim().slice(0, 80)), f).toEqual([]);
    }
  });
});
