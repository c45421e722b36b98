import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres } from '../../src/db/embedded.js';

/**
 * One PostgreSQL server for the whole suite: DATABASE_URL when set (it must answer: a missing service
 * fails loudly, never skips), otherwise an embedded server, so `npm test` also works with no services.
 */
export default async function setup(project: TestProject) {
  let url = process.env.DATABASE_URL;
  let server: EmbeddedPostgres | undefined;
  if (!url) {
    const home = path.join(os.tmpdir(), 'batchinfer-test-embedded');
    fs.mkdirSync(home, { recursive: true });
    server = new EmbeddedPostgres(home, 55329);
    url = await server.start();
  }
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`tests need PostgreSQL at DATABASE_URL=${url}: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  project.provide('databaseUrl', url);
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
