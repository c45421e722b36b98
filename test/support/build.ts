import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './cli.js';

/**
 * Why dist/ must be rebuilt, or undefined when it is current: a source file newer than its compiled file (or
 * without one), tsconfig.json newer than the oldest compiled file, or the bundle (dist/bundle/, which the bin and
 * the scoring threads run) missing or older than a source. Scoring threads and the bin run from the build even
 * under vitest, so a bare `vitest` after an edit would otherwise test the old code.
 */
export function staleReason(root = repoRoot): string | undefined {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  let oldest = Infinity;
  let newestSource = 0;
  for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    const js = fs.statSync(path.join(dist, rel.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
    if (!js) return `dist/ has no build of src/${rel}`;
    const changed = fs.statSync(path.join(src, rel)).mtimeMs;
    if (changed > js.mtimeMs) return `src/${rel} changed since the last build`;
    oldest = Math.min(oldest, js.mtimeMs);
    newestSource = Math.max(newestSource, changed);
  }
  if (fs.statSync(path.join(root, 'tsconfig.json')).mtimeMs > oldest) return 'tsconfig.json changed since the last build';
  const bundle = fs.statSync(path.join(dist, 'bundle', 'main.js'), { throwIfNoEntry: false });
  if (!bundle) return 'dist/bundle/ has no bundle';
  if (newestSource > bundle.mtimeMs) return 'a source changed since the bundle was built';
  return undefined;
}

/** Build dist/ (npm run build: tsc, then the bundle; ~7 s of CPU) when staleReason() says so; a type error fails the suite. */
export function buildIfStale(root = repoRoot): void {
  const why = staleReason(root);
  if (!why) return;
  const started = Date.now();
  process.stderr.write(`building dist/ (${why}): node bin/build.mjs\n`);
  try {
    execFileSync(process.execPath, [path.join(root, 'bin/build.mjs')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`the build (bin/build.mjs) failed, so the tests would run a stale dist/:\n${e.stdout || e.stderr || e.message}`);
  }
  process.stderr.write(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
