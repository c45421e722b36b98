import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedServer } from '../../src/cli/settings.js';
import { repoRoot } from '../support/cli.js';

const io = (cwd: string, env: Record<string, string> = {}) => ({ cwd, env, stdout: process.stdout, stderr: process.stderr });

describe('one project, one embedded database', () => {
  it('found from the project wherever the command runs: the repo root, its jobs/ folder, or elsewhere with the spec path', () => {
    const home = path.join(repoRoot, '.batchinfer');
    expect(embeddedServer(io(repoRoot), false).home).toBe(home);
    expect(embeddedServer(io(path.join(repoRoot, 'jobs')), false).home).toBe(home);
    expect(embeddedServer(io(os.homedir()), false, path.join(repoRoot, 'jobs/wine.yaml')).home).toBe(home);
    expect(embeddedServer(io(path.join(repoRoot, 'jobs')), false, 'wine.yaml').home).toBe(home);
  });

  it('BATCHINFER_HOME names another folder', () => {
    expect(embeddedServer(io(repoRoot, { BATCHINFER_HOME: '/tmp/elsewhere' }), false).home).toBe('/tmp/elsewhere');
  });
});
