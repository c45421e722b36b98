import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres } from '../../src/db/embedded.js';
import { buildIfStale } from './build.js';
import { repoRoot } from './cli.js';
import { freePort } from './ports.js';

/**
 * Before any test: build dist/ if src/ changed since (scoring threads and the CLI run from dist/, so a stale
 * build would test old code), and one PostgreSQL server for the whole suite: DATABASE_URL when set (it must
 * answer: a missing service fails loudly, never skips), otherwise an embedded server of this checkout
 * (its folder keyed by the repo path, on a free port), stopped again after the suite, pass or fail.
 */
export default async function setup(project: TestProject) {
  buildIfStale();
  // onnxruntime's telemetry leaves an empty mat-debug-<pid>.log in the temp folder of every process that loads
  // it; the CLI turns it off itself, this covers the test workers (and is inherited by what they spawn).
  process.env.ORT_DISABLE_TELEMETRY ??= '1';

  let url = process.env.DATABASE_URL;
  let release: (() => Promise<void>) | undefined;
  try {
    if (!url) ({ url, release } = await startEmbedded());
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
    } catch (err) {
      throw new Error(`tests need PostgreSQL at DATABASE_URL=${url}: ${(err as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (err) {
    await release?.();
    throw err;
  }
  project.provide('databaseUrl', url);
  return release;
}

/**
 * The embedded server of this checkout. Every suite using it registers its pid; the last one to finish stops
 * it (two `npm test` in one checkout share the server; a suite killed outright leaves it running, and the
 * next suite adopts and stops it).
 */
async function startEmbedded(): Promise<{ url: string; release: () => Promise<void> }> {
  const key = crypto.createHash('sha256').update(repoRoot).digest('hex').slice(0, 12);
  const home = path.join(os.tmpdir(), `batchinfer-test-embedded-${key}`);
  const users = path.join(home, 'suite-pids');
  fs.mkdirSync(users, { recursive: true });
  const mine = path.join(users, String(process.pid));
  fs.writeFileSync(mine, '');
  const server = new EmbeddedPostgres(home, await freePort());
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    fs.rmSync(mine, { force: true });
    const others = fs.readdirSync(users).filter((pid) => {
      if (isAlive(Number(pid))) return true;
      fs.rmSync(path.join(users, pid), { force: true });
      return false;
    });
    if (others.length === 0) await server.stop();
  };
  try {
    return { url: await server.start(), release };
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
