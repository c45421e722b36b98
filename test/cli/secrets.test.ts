import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { startWorker } from '../support/queue.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * A source URL's password never lands in the ledger, a log line, an error or --json: the spec takes it
 * from the environment (`${SRC_URL}`), or, written literally, the ledger keeps it masked. The server
 * here trusts every connection, so any password is accepted: the test only looks for where it shows up.
 */
const PASSWORD = 'Pa55-word-for-the-grep';
const ws = testWorkspace('secrets');

describe('secrets stay out', () => {
  it('a password given through ${SRC_URL} or written in the spec appears nowhere: not in a dump of the database, not in any output', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.src AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c FROM generate_series(1, 500) i`);
    const u = new URL(ws.db.url);
    u.username = 'postgres';
    u.password = PASSWORD;
    const srcUrl = u.toString();
    const viaEnv = writeSpec(ws.tmp.dir, 'env.yaml', typedSpec({ name: 'via-env', source: { postgres: { query: 'SELECT id, a, b, c FROM public.src', url: '${SRC_URL}' } }, key_type: 'bigint', sink: { table: 'scores.via_env' }, chunk_rows: 100 }));
    const literal = writeSpec(ws.tmp.dir, 'literal.yaml', typedSpec({ name: 'literal', source: { postgres: { query: 'SELECT id, a, b, c FROM public.src', url: srcUrl } }, key_type: 'bigint', sink: { table: 'scores.literal' }, chunk_rows: 100 }));
    const env = { DATABASE_URL: ws.db.url, SRC_URL: srcUrl };
    const outputs: string[] = [];
    const run = async (args: string[], extra: Record<string, string> = {}) => {
      const r = await runCli(args, { cwd: ws.tmp.dir, env: { ...env, ...extra } });
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    expect((await run(['run', viaEnv, '--json'])).code).toBe(0);
    expect((await run(['run', literal, '--json'])).code).toBe(0);
    expect((await run(['validate', viaEnv, literal])).code).toBe(0);
    // Queued (on the Postgres queue backend): a worker fills ${SRC_URL} from its own environment.
    const queued = { BATCHINFER_QUEUE: 'postgres', BATCHINFER_QUEUE_NAME: `secrets-${process.pid}` };
    const w = startWorker(['--concurrency', '1'], { ...env, ...queued }, ws.tmp.dir);
    try {
      const q = await run(['run', viaEnv, '--date', '2026-10-02', '--wait', '--json'], queued);
      expect(q.code, q.stderr).toBe(0);
      expect(JSON.parse(q.stdout)).toMatchObject({ status: 'succeeded', rows_scored: 500 });
    } finally {
      w.child.kill('SIGTERM');
      await w.exited;
    }
    outputs.push(JSON.stringify(w.events), w.stderr());
    // A bad password-bearing URL: the error names the server, not the password.
    const wrong = new URL(srcUrl);
    wrong.port = '1';
    const bad = await run(['validate', viaEnv], { SRC_URL: wrong.toString() });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/127\.0\.0\.1:1/);
    for (const [status] of [await run(['status', '--json']), await run(['runs', '--json'])].map((r) => [r.code])) expect(status).toBe(0);

    const dump = await dumpAll(ws.db.url);
    expect(dump).toContain('${SRC_URL}'); // the ledger keeps the reference
    expect(dump).toContain(':***@'); // and the literal URL masked
    expect(dump.includes(PASSWORD), 'the password is in the database dump').toBe(false);
    for (const o of outputs) expect(o.includes(PASSWORD), `the password is in an output: ${o.slice(0, 300)}`).toBe(false);
  }), 120_000);
});

/**
 * Every row of every table of the database as text, plus every comment, column default and view
 * definition: a dump that works whatever pg_dump version the machine has (the embedded server is 18).
 */
async function dumpAll(url: string): Promise<string> {
  const tables = await query<{ t: string }>(url, `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`);
  expect(tables.length).toBeGreaterThan(5);
  const parts: string[] = [];
  for (const { t } of tables) parts.push(...(await query<{ r: string }>(url, `SELECT x::text AS r FROM ${t} x`)).map((r) => r.r));
  parts.push(...(await query<{ d: string }>(url, `SELECT coalesce(description, '') AS d FROM pg_description`)).map((r) => r.d));
  parts.push(...(await query<{ d: string }>(url, `SELECT pg_get_viewdef(c.oid) AS d FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`)).map((r) => r.d));
  return parts.join('\n');
}
