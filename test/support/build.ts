import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from './cli.js';

/**
 * Why dist/ must be rebuilt, or undefined when it is current: a source file newer than its compiled file (or
 * without one), or tsconfig.json newer than the oldest compiled file. Scoring threads and the bin run from
 * dist/ even under vitest, so a bare `vitest` after an edit would otherwise test the old code.
 */
export function staleReason(root = repoRoot): string | undefined {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  let oldest = Infinity;
  for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    const js = fs.statSync(path.join(dist, rel.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
    if (!js) return `dist/ has no build of src/${rel}`;
    if (fs.statSync(path.join(src, rel)).mtimeMs > js.mtimeMs) return `src/${rel} changed since the last build`;
    oldest = Math.min(oldest, js.mtimeMs);
  }
  if (fs.statSync(path.join(root, 'tsconfig.json')).mtimeMs > oldest) return 'tsconfig.json changed since the last build';
  return undefined;
}

/** Build dist/ (tsc -p tsconfig.json, ~6 s of CPU) when staleReason() says so; a type error fails the suite. */
export function buildIfStale(root = repoRoot): void {
  const why = staleReason(root);
  if (!why) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const started = Date.now();
  process.stderr.write(`building dist/ (${why}): tsc -p tsconfig.json\n`);
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`tsc -p tsconfig.json failed, so the tests would run a stale dist/:\n${e.stdout || e.stderr || e.message}`);
  }
  process.stderr.write(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
