import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { stringify } from 'yaml';
import { repoRoot } from './cli.js';
import { freshDatabase } from './database.js';

/** The hand-made test models (see test/fixtures/make_fixtures.py). */
export const typedModel = path.join(repoRoot, 'test/fixtures/models/typed.onnx');
export const twoInputsModel = path.join(repoRoot, 'test/fixtures/models/two_inputs.onnx');

/** A fresh temp folder; remove() deletes it (call it only when the test passed, so failures leave evidence). */
export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `batchinfer-${label}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Write a job spec (an object, written as YAML) into dir; returns its absolute path. */
export function writeSpec(dir: string, file: string, spec: Record<string, unknown>): string {
  const p = path.join(dir, file);
  fs.writeFileSync(p, stringify(spec));
  return p;
}

/** A spec for typed.onnx over a CSV with columns id, a, b, c (and whatever passthrough names). */
export function typedSpec(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'typed-job',
    model: { path: typedModel },
    source: { csv: { path: 'data.csv' } },
    key: 'id',
    inputs: { x: ['a', 'b', 'c'] },
    outputs: { s: { output: 'sum' } },
    sink: { table: 'scores.typed' },
    ...over,
  };
}

/** Lines an error output must not contain: a JS stack frame. */
export const stackFrame = /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m;

/**
 * Like db.drop(), but gives up (cancelled by statement_timeout) after `ms` with a warning instead of
 * hanging the file: DROP DATABASE waits for every backend of the cluster to absorb a signal barrier,
 * which a backend stuck in COPY FROM STDIN (some other, hung client) never does, and a DROP left
 * waiting blocks others in turn.
 */
export async function dropWithin(db: { url: string }, ms = 10_000): Promise<void> {
  const name = decodeURIComponent(new URL(db.url).pathname.slice(1));
  const c = new pg.Client({ connectionString: inject('databaseUrl') });
  await c.connect();
  try {
    await c.query(`SET statement_timeout = ${Math.round(ms)}`);
    await c.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw err;
    console.warn(`DROP DATABASE ${name} cancelled after ${ms} ms (a backend stuck in COPY elsewhere in the cluster?); left it`);
  } finally {
    await c.end();
  }
}

/**
 * A test file's own database and temp folder, created before its tests. Both are removed after the file
 * only when no tracked test failed; otherwise they are left, and named, as evidence.
 */
export function testWorkspace(label: string, opts: { beforeCleanup?: () => Promise<void> } = {}) {
  const ws = {
    db: undefined as unknown as Awaited<ReturnType<typeof freshDatabase>>,
    tmp: undefined as unknown as ReturnType<typeof tempDir>,
    failures: 0,
    /** wrap a test body so a failure keeps the evidence */
    track: (fn: () => Promise<void>) => async () => {
      ws.failures++;
      await fn();
      ws.failures--;
    },
  };
  beforeAll(async () => {
    ws.db = await freshDatabase(label.replaceAll('-', '_'));
    ws.tmp = tempDir(label);
  });
  afterAll(async () => {
    await opts.beforeCleanup?.();
    if (ws.failures === 0) {
      await dropWithin(ws.db);
      ws.tmp.remove();
    } else console.error(`left database ${ws.db.url} and files in ${ws.tmp.dir} for inspection`);
  });
  return ws;
}
