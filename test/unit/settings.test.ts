import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { envSchema, parseEnv, resolveThreads } from '../../src/cli/settings.js';
import type { CommandIO } from '../../src/cli/io.js';
import { repoRoot } from '../support/cli.js';

/** The message of the UsageError parseEnv throws for env (fails the test if it accepts it). */
function refused(env: NodeJS.ProcessEnv): string {
  try {
    parseEnv(env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

const io = (env: NodeJS.ProcessEnv) => ({ cwd: repoRoot, env }) as CommandIO;

/** Every src file's text, by path relative to src/. */
function sources(): Map<string, string> {
  const src = path.join(repoRoot, 'src');
  const out = new Map<string, string>();
  for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) if (rel.endsWith('.ts')) out.set(rel.split(path.sep).join('/'), fs.readFileSync(path.join(src, rel), 'utf8'));
  return out;
}

describe('environment settings', () => {
  it('unset (or empty) variables give the defaults', () => {
    const want = { DATABASE_URL: undefined, REDIS_URL: undefined, BATCHINFER_THREADS: undefined, BATCHINFER_HOME: undefined, BATCHINFER_PG_PORT: undefined, BATCHINFER_TRACE: false, DEBUG: false, ORT_DISABLE_TELEMETRY: undefined };
    expect(parseEnv({ PATH: '/bin' })).toEqual(want);
    expect(parseEnv(Object.fromEntries(Object.keys(want).map((k) => [k, ''])))).toEqual(want);
  });

  it('reads each variable', () => {
    expect(
      parseEnv({ DATABASE_URL: 'postgresql://u:pw@db:5433/x', REDIS_URL: 'rediss://r:6380', BATCHINFER_THREADS: '0', BATCHINFER_HOME: '/srv/bi', BATCHINFER_PG_PORT: '1024', BATCHINFER_TRACE: '1', DEBUG: 'yes', ORT_DISABLE_TELEMETRY: '0' }),
    ).toEqual({ DATABASE_URL: 'postgresql://u:pw@db:5433/x', REDIS_URL: 'rediss://r:6380', BATCHINFER_THREADS: 0, BATCHINFER_HOME: '/srv/bi', BATCHINFER_PG_PORT: 1024, BATCHINFER_TRACE: true, DEBUG: true, ORT_DISABLE_TELEMETRY: '0' });
    expect(parseEnv({ BATCHINFER_PG_PORT: '65535', BATCHINFER_TRACE: '0' })).toMatchObject({ BATCHINFER_PG_PORT: 65535, BATCHINFER_TRACE: false });
  });

  it('BATCHINFER_PG_PORT must be a whole number from 1024 to 65535', () => {
    for (const bad of ['80', '1023', '65536', 'abc', '5432.5', '-1', ' 5432', '0x1600'])
      expect(refused({ BATCHINFER_PG_PORT: bad })).toBe(`BATCHINFER_PG_PORT ${JSON.stringify(bad)}: not a usable port; write a whole number from 1024 to 65535, or unset it (default 54329)`);
  });

  it('a malformed DATABASE_URL is named (its value is not echoed: it may hold a password)', () => {
    for (const bad of ['notaurl', 'user:secret@db/x', 'mysql://db/x', 'db:5432'])
      expect(refused({ DATABASE_URL: bad })).toBe('DATABASE_URL: not a PostgreSQL URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or unset it to use the embedded server');
  });

  it('BATCHINFER_THREADS and REDIS_URL are checked; every problem is reported, one line each', () => {
    expect(refused({ BATCHINFER_THREADS: 'two', REDIS_URL: 'localhost', BATCHINFER_PG_PORT: '22', DATABASE_URL: 'x' }).split('\n')).toEqual([
      'DATABASE_URL: not a PostgreSQL URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or unset it to use the embedded server',
      'REDIS_URL: not a Redis URL; write redis://HOST:6379 (or rediss:// for TLS), or unset it to score inline',
      'BATCHINFER_THREADS "two": not a whole number; write a whole number of scoring threads (0 = score on the main thread), or unset it for one per core',
      'BATCHINFER_PG_PORT "22": not a usable port; write a whole number from 1024 to 65535, or unset it (default 54329)',
    ]);
  });

  it('--threads wins over BATCHINFER_THREADS; both are checked', () => {
    expect(resolveThreads('3', io({ BATCHINFER_THREADS: '1' }))).toBe(3);
    expect(resolveThreads(undefined, io({ BATCHINFER_THREADS: '1' }))).toBe(1);
    expect(() => resolveThreads('-1', io({}))).toThrow('--threads -1: not a whole number; pass a whole number of scoring threads (0 = score on the main thread)');
    expect(() => resolveThreads(undefined, io({ BATCHINFER_THREADS: '1.5' }))).toThrow(UsageError);
  });

  it('every variable has a description', () => {
    for (const [name, schema] of Object.entries(envSchema.shape)) expect(schema.description, name).toMatch(/\w{3,}/);
  });

  it('every environment variable src/ reads is in the schema, read through it; only src/cli/ touches the environment (trace.ts for threads aside)', () => {
    const known = new Set(Object.keys(envSchema.shape));
    const envUsers: string[] = [];
    const variableReaders = new Set<string>();
    for (const [file, text] of sources()) {
      for (const m of text.matchAll(/\b(?:process\.env|io\.env|full\.env|env)\.([A-Z][A-Z0-9_]+)/g)) {
        expect(known, `src/${file} reads ${m[1]}`).toContain(m[1]);
        variableReaders.add(file);
      }
      if (/process\.env\b/.test(text) && !file.startsWith('cli/')) envUsers.push(file);
    }
    expect(envUsers).toEqual(['trace.ts']);
    // main.ts only sets ORT_DISABLE_TELEMETRY for onnxruntime; everything batchinfer reads goes through parseEnv.
    expect([...variableReaders].sort()).toEqual(['cli/main.ts', 'trace.ts']);
  });
});
