import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { staleReason } from '../support/build.js';

/** A fake project: src/ with two files, dist/ with their builds, every file at a given time (seconds). */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-build-freshness-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
function file(rel: string, at: number) {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '');
  fs.utimesSync(p, at, at);
}
function project(times: { src: number; dist: number; tsconfig: number; built?: string[]; bundle?: number | null }) {
  fs.rmSync(path.join(root, 'src'), { recursive: true, force: true });
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  file('tsconfig.json', times.tsconfig);
  for (const f of ['main.ts', 'execute/thread.ts', 'types.d.ts']) file(`src/${f}`, times.src);
  for (const f of times.built ?? ['main.js', 'execute/thread.js']) file(`dist/${f}`, times.dist);
  if (times.bundle !== null) file('dist/bundle/main.js', times.bundle ?? times.dist);
}

describe('the build before the suite', () => {
  it('is current when every source has an older-or-same build', () => {
    project({ src: 1000, dist: 2000, tsconfig: 500 });
    expect(staleReason(root)).toBeUndefined();
  });

  it('is stale when a source (also in a subfolder) is newer than its build', () => {
    project({ src: 1000, dist: 2000, tsconfig: 500 });
    file('src/execute/thread.ts', 3000);
    expect(staleReason(root)).toBe(`src/${path.join('execute', 'thread.ts')} changed since the last build`);
  });

  it('is stale when a source has no build, or tsconfig.json changed', () => {
    project({ src: 1000, dist: 2000, tsconfig: 500, built: ['main.js'] });
    expect(staleReason(root)).toBe(`dist/ has no build of src/${path.join('execute', 'thread.ts')}`);
    project({ src: 1000, dist: 2000, tsconfig: 2500 });
    expect(staleReason(root)).toBe('tsconfig.json changed since the last build');
  });

  it('is stale when the bundle the bin runs is missing or older than a source', () => {
    project({ src: 1000, dist: 2000, tsconfig: 500, bundle: null });
    expect(staleReason(root)).toBe('dist/bundle/ has no bundle');
    project({ src: 1000, dist: 2000, tsconfig: 500, bundle: 900 });
    expect(staleReason(root)).toBe('a source changed since the bundle was built');
  });
});
