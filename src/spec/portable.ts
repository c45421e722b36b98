import fs from 'node:fs';
import path from 'node:path';
import { maskPassword } from '../db/connect.js';
import type { JobSpec } from './job-spec.js';

/**
 * What the ledger stores of a spec must work on every machine and hold no secret: file paths are
 * relative to the project root (a worker elsewhere resolves them against its own root, and the run's
 * sha256 of the model proves it found the same file), and a source URL's password is masked.
 */

/** The project a spec belongs to: the nearest folder above it holding `jobs/` (or a package.json), else the spec's own folder. */
export function projectRoot(specPath: string): string {
  return findProjectRoot(path.dirname(path.resolve(specPath)));
}

/** The project a folder belongs to: the nearest folder at or above it holding `jobs/` (or a package.json), else the folder itself. */
export function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (isDir(path.join(dir, 'jobs')) || fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const rel = (root: string, p: string) => {
  const r = path.relative(root, p);
  return r.split(path.sep).join('/');
};
const abs = (root: string, p: string) => (path.isAbsolute(p) ? p : path.resolve(root, p));

/** The spec as the ledger keeps it: paths relative to `root`, URL password masked. */
export function portableSpec(spec: JobSpec, root: string): JobSpec {
  return {
    ...spec,
    specPath: rel(root, spec.specPath),
    model: { ...spec.model, path: rel(root, spec.model.path) },
    source:
      spec.source.kind === 'csv'
        ? { ...spec.source, path: rel(root, spec.source.path) }
        : { ...spec.source, url: spec.source.urlTemplate ?? (spec.source.url === undefined ? undefined : maskPassword(spec.source.url)) },
    ...(spec.monitoring?.reference.kind === 'csv' ? { monitoring: { ...spec.monitoring, reference: { kind: 'csv', path: rel(root, spec.monitoring.reference.path) } } } : {}),
  };
}

/**
 * A stored spec made usable here: relative paths resolved against this machine's project root, and a
 * source URL kept as `${NAME}` filled from this machine's environment (left as is when not set there).
 */
export function localSpec(stored: JobSpec, root: string, env: Record<string, string | undefined> = {}): JobSpec {
  const src = stored.source;
  return {
    ...stored,
    specPath: abs(root, stored.specPath),
    model: { ...stored.model, path: abs(root, stored.model.path) },
    source:
      src.kind === 'csv'
        ? { ...src, path: abs(root, src.path) }
        : { ...src, url: src.url?.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (ref, name: string) => env[name] ?? ref) },
    ...(stored.monitoring?.reference.kind === 'csv' ? { monitoring: { ...stored.monitoring, reference: { kind: 'csv', path: abs(root, stored.monitoring.reference.path) } } } : {}),
  };
}

/** Whether a stored URL had its password masked (a worker must then get the real URL some other way). */
export function isMasked(url: string | undefined): boolean {
  return url !== undefined && maskPassword(url) === url && /:\*\*\*@/.test(url);
}
