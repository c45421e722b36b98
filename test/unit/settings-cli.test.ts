import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { setTrace, trace } from '../../src/trace.js';
import { repoRoot } from '../support/cli.js';

/** Run the CLI in this process with exactly `env` (nothing inherited); collect its output. */
async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const stream = (k: 'stdout' | 'stderr') => {
    const s = new PassThrough();
    s.on('data', (d) => (out[k] += d));
    return s;
  };
  const code = await main(['node', 'batchinfer', ...args], { cwd: repoRoot, env, stdout: stream('stdout'), stderr: stream('stderr'), signal: new AbortController().signal });
  await new Promise((r) => setImmediate(r));
  return { code, ...out };
}

// Nothing listens on port 1: a command that got as far as connecting fails fast (exit 1), not with exit 2.
const closedDb = 'postgres://postgres@127.0.0.1:1/none';

describe('settings and flags through the CLI', () => {
  it('a malformed DATABASE_URL is a usage error naming it (exit 2), not "getaddrinfo ENOTFOUND base"', async () => {
    const r = await cli(['run', 'jobs/wine.yaml', '--date', '2026-11-01', '--threads', '0'], { DATABASE_URL: 'notaurl' });
    expect(r.stderr).toBe('batchinfer: DATABASE_URL: not a PostgreSQL URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or unset it to use the embedded server\n');
    expect(r.code).toBe(2);
  });

  it('so is a malformed --database-url', async () => {
    const r = await cli(['run', 'jobs/wine.yaml', '--date', '2026-11-01', '--threads', '0', '--database-url', 'notaurl'], {});
    expect(r.stderr).toBe('batchinfer: --database-url: not a PostgreSQL URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n');
    expect(r.code).toBe(2);
  });

  it('a bad BATCHINFER_PG_PORT is named before the embedded server is touched', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-settings-cli-'));
    try {
      const r = await cli(['db', 'status'], { BATCHINFER_HOME: home, BATCHINFER_PG_PORT: '80' });
      expect(r.stderr).toBe('batchinfer: BATCHINFER_PG_PORT "80": not a usable port; write a whole number from 1024 to 65535, or unset it (default 54329)\n');
      expect(r.code).toBe(2);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('--help works whatever the environment holds', async () => {
    const r = await cli(['--help'], { BATCHINFER_PG_PORT: '80' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: batchinfer/);
  });

  it('--date "" is refused (it ran for today), for run and validate', async () => {
    for (const args of [['run', 'jobs/wine.yaml', '--threads', '0', '--database-url', closedDb], ['validate', 'jobs/wine.yaml']]) {
      const r = await cli([...args, '--date', ''], {});
      expect(r.stderr, args[0]).toBe('batchinfer: --date: empty; use YYYY-MM-DD\n');
      expect(r.code, args[0]).toBe(2);
      expect(r.stdout, args[0]).toBe('');
    }
  });
});

describe('trace', () => {
  afterEach(() => {
    setTrace(false);
    vi.restoreAllMocks();
  });
  it('takes its flag from the settings (setTrace), not only from the environment it was imported with', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    setTrace(false);
    trace('hidden');
    setTrace(true);
    trace('shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^trace +[\d.]+ t\d+ shown\n$/);
  });
});
