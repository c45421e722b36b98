import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { openSource } from '../../src/sources/open-source.js';
import { classifyError, FinalError, UsageError } from '../../src/errors.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';
import { runCli } from '../support/cli.js';
import { findSemicolon } from '../../src/sources/postgres-query.js';

const ws = testWorkspace('pg-hostile');

beforeAll(async () => {
  await query(ws.db.url, `CREATE SCHEMA src`);
  await query(ws.db.url, `CREATE TABLE src.features AS SELECT i::bigint AS id, i * 0.5 AS a, 1.0::real AS b, '2' AS c, 'n' || i AS note FROM generate_series(1, 100) i`);
  await query(ws.db.url, `CREATE TABLE src.victim (x int)`);
  await query(ws.db.url, `INSERT INTO src.victim VALUES (1)`);
});

const pgSpec = (q: string, over: Record<string, unknown> = {}) =>
  typedSpec({ name: 'hostile', source: { postgres: { query: q } }, key_type: 'bigint', sink: { table: 'scores.hostile' }, chunk_rows: 30, ...over });

const victimAlive = async () => (await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'src' AND tablename = 'victim'`))[0].n === '1';

/** Queries that try to run a second statement around the source's own wrapping; none may touch src.victim. */
const escapes = [
  // closes the wrapper's parenthesis, ends the read-only transaction and drops a table
  'SELECT * FROM src.features) q; COMMIT; DROP TABLE src.victim; BEGIN; SELECT * FROM (SELECT * FROM src.features',
  // the same, with a line comment swallowing the wrapper's tail
  'SELECT * FROM src.features) q LIMIT 0; COMMIT; DROP TABLE src.victim; --',
  // with a block comment instead
  'SELECT * FROM src.features) q LIMIT 0; COMMIT; DROP TABLE src.victim; /*',
  // plainly two statements
  'SELECT * FROM src.features; DROP TABLE src.victim',
  // a data-modifying CTE
  'WITH d AS (DELETE FROM src.victim RETURNING 1) SELECT * FROM src.features',
];

describe('Postgres source against hostile queries', () => {
  escapes.forEach((q, i) => {
    it(`validate and run refuse escape #${i + 1} before running it; src.victim survives`, ws.track(async () => {
      await query(ws.db.url, `CREATE TABLE IF NOT EXISTS src.victim (x int)`);
      writeSpec(ws.tmp.dir, `escape${i}.yaml`, pgSpec(q));
      const v = await runCli(['validate', `escape${i}.yaml`], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
      expect(await victimAlive(), v.stderr).toBe(true);
      expect(v.code, v.stderr).toBe(2);
      expect(v.stderr).toMatch(new RegExp(`^escape${i}\\.yaml: source\\.postgres\\.query: `));
      expect(v.stderr).not.toMatch(stackFrame);
      const r = await runCli(['run', `escape${i}.yaml`, '--threads', '1'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
      expect(await victimAlive(), r.stderr).toBe(true);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`escape${i}\\.yaml: source\\.postgres\\.query: `));
      if (i < 4) for (const out of [v, r]) expect(out.stderr).toMatch(/source\.postgres\.query: must be one SELECT statement/);
      expect(v.stderr.trim().split('\n')).toHaveLength(1);
    }));
  });

  it('a query that changes session settings (standard_conforming_strings) cannot make a later chunk\'s statement read it differently', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE IF NOT EXISTS src.victim (x int)`);
    // With standard_conforming_strings on (as checked) '\\' is a string and the rest is a second string; once the
    // first chunk's read turned it off for the session, '\\' || ' would be one string and the rest a COMMIT, a DROP
    // and a COPY that swallows the reader's own tail, in the next chunk's COPY on the same connection.
    const q = `SELECT id, a, b, c FROM src.features WHERE set_config('standard_conforming_strings', 'off', false) IS NOT NULL AND length('\\' || ' )) q) TO STDOUT (FORMAT binary); COMMIT; DROP TABLE src.victim; COPY (SELECT 1 AS id FROM (SELECT 1 AS id --') > 0`;
    writeSpec(ws.tmp.dir, 'taint.yaml', pgSpec(q, { name: 'taint', sink: { table: 'scores.taint' } }));
    const r = await runCli(['run', 'taint.yaml', '--threads', '1', '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
    expect(await victimAlive(), r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', rows_scored: 100, chunks_total: 4 });
  }));

  it('a semicolon or comment marker inside a string, a trailing line comment, a trailing semicolon: all one statement, read as written', ws.track(async () => {
    const q = `SELECT id, a, b, c, 'x;y -- /* z' AS note FROM src.features WHERE note <> ';' -- only rows of today\n;  `;
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'strings.yaml', pgSpec(q, { name: 'strings', passthrough: ['note'], sink: { table: 'scores.strings' } })), ws.tmp.dir);
    const out = await runJob({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 1 });
    expect(out).toMatchObject({ status: 'succeeded', rows_scored: 100, rows_rejected: 0 });
    const notes = await query<{ note: string }>(ws.db.url, `SELECT DISTINCT note FROM scores.strings`);
    expect(notes).toEqual([{ note: 'x;y -- /* z' }]);
  }));

  it('a data error in the query found only while reading a chunk fails for good (FinalError naming the key), not a retryable fault', ws.track(async () => {
    // The planner reads only the key column, so the division in "a" runs only when the chunk is read.
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'div.yaml', pgSpec('SELECT id, 1 / (id - 50) AS a, b, c FROM src.features')), ws.tmp.dir);
    const source = openSource(spec, '2026-03-01', { databaseUrl: ws.db.url });
    try {
      const chunks = await source.plan();
      const bad = chunks.find((c) => Number((c.range as { lo: string | null }).lo ?? 0) <= 50 && Number((c.range as { hi: string | null }).hi ?? Infinity) > 50)!;
      const err = await (async () => {
        for await (const _ of source.read(bad)) void _;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FinalError);
      expect(classifyError(err)).toBe('final');
      expect((err as Error).message).toBe('div.yaml: source.postgres.query: division by zero');
    } finally {
      await source.close();
    }
  }));

  it('a source.postgres.url that cannot be reached: one line naming host:port and the key, never the password', ws.track(async () => {
    const u = new URL(ws.db.url);
    u.password = 's3cretpw';
    u.pathname = '/no_such_database_here';
    writeSpec(ws.tmp.dir, 'nodb.yaml', pgSpec('SELECT * FROM src.features', { source: { postgres: { query: 'SELECT * FROM src.features', url: u.toString() } } }));
    const r = await runCli(['validate', 'nodb.yaml'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^nodb\\.yaml: source\\.postgres\\.url: cannot connect to PostgreSQL at ${u.hostname}:${u.port || 5432}/no_such_database_here: database "no_such_database_here" does not exist`));
    expect(r.stderr).not.toMatch(/s3cretpw/);

    // Nothing listens on port 1: not the user's typo for sure, so it fails (exit 1), still one line.
    u.port = '1';
    u.pathname = '/x';
    writeSpec(ws.tmp.dir, 'noserver.yaml', pgSpec('SELECT * FROM src.features', { source: { postgres: { query: 'SELECT * FROM src.features', url: u.toString() } } }));
    const r2 = await runCli(['validate', 'noserver.yaml'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
    expect(r2.code, r2.stderr).not.toBe(0);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    expect(r2.stderr).toMatch(new RegExp(`^noserver\\.yaml: source\\.postgres\\.url: cannot connect to PostgreSQL at ${u.hostname}:1/x: `));
    expect(r2.stderr).not.toMatch(/s3cretpw/);
  }));

  it('keys longer than maxKeyBytes (UTF-8 bytes) are rejects with their length; the chunk and run go on', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE src.long_keys (id text, a float8, b real, c text)`);
    await query(ws.db.url, `INSERT INTO src.long_keys SELECT k, 1, 2, '3' FROM unnest($1::text[]) k`, [['short', 'x'.repeat(1000), 'é'.repeat(500), 'é'.repeat(501), 'y'.repeat(5000), 'z']]);
    const spec = loadSpec(writeSpec(ws.tmp.dir, 'long.yaml', pgSpec('SELECT * FROM src.long_keys', { name: 'long', key_type: 'text', sink: { table: 'scores.long' }, max_rejected: 5 })), ws.tmp.dir);
    const out = await runJob({ spec, logicalDate: '2026-03-01', trigger: 'manual', databaseUrl: ws.db.url, threads: 1 });
    expect(out).toMatchObject({ status: 'succeeded', rows_read: 6, rows_scored: 4, rows_rejected: 2 });
    const rejects = await query<{ key: string; reason: string }>(ws.db.url, `SELECT left(key, 1) AS key, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY reason`, [out.run_id]);
    expect(rejects).toEqual([
      { key: 'é', reason: 'key is 1002 bytes; the limit is 1000' },
      { key: 'y', reason: 'key is 5000 bytes; the limit is 1000' },
    ]);
  }));
});

describe('findSemicolon (explains a refused query; the server decides)', () => {
  it('skips strings, quoted names, dollar quotes and comments', () => {
    const cases: [string, number][] = [
      ['SELECT 1', -1],
      ['SELECT 1; SELECT 2', 8],
      [`SELECT ';' AS a`, -1],
      [`SELECT 'it''s;' ;`, 16],
      [`SELECT E'\\';' x;`, 15],
      [`SELECT "a;b" FROM t`, -1],
      ['SELECT $$;$$, $tag$ ; $$ ; $tag$ x;', 34],
      ['SELECT 1 -- ;\n', -1],
      ['SELECT 1 /* ; /* ; */ ; */ x', -1],
      ['SELECT 1 /* ; */ ;', 17],
      ['SELECT a$b$c;', 12],
    ];
    for (const [sql, at] of cases) expect(findSemicolon(sql), sql).toBe(at);
  });
});
