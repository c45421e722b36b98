import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openChunkContext } from '../../src/execute/chunk-context.js';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('typed-passthrough');
const cli = (args: string[]) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url }, timeoutMs: 30_000 });

const columnTypes = (table: string) =>
  query<{ name: string; type: string }>(
    ws.db.url,
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  ).then((rows) => Object.fromEntries(rows.map((r) => [r.name, r.type])));

describe('typed passthrough columns', () => {
  it('a CSV passthrough declared as a map keeps its types; a bad value is a reject naming the column and the type', ws.track(async () => {
    const rows = [
      // id, a, b, c, day, amount, at, n, flag, note
      '1,1,2,3,2026-12-01,123.45,2026-12-01 10:30:00Z,9007199254740993,true,hello',
      '2,1,2,3,2024-02-29,-0.001,2026-12-01T10:30:00.123456+02:00,-5,f,',
      '3,1,2,3,,1e5,2026-06-01 00:00:00-07:30,0,yes,"with, comma"',
      '4,1,2,3,2026-12-01,12345678901234567890.123456789,2026-12-01 10:30Z,1,0,x',
      '5,1,2,3,2026-12-01,0,,,,',
      '6,1,2,3,2026-02-30,1,2026-12-01 10:30:00Z,1,t,bad day',
      '7,1,2,3,2026-12-01,12abc,2026-12-01 10:30:00Z,1,t,bad amount',
      '8,1,2,3,2026-12-01,1,2026-12-01 10:30:00,1,t,no offset',
      '9,1,2,3,2026-12-01,1,2026-12-01 10:30:00Z,1.5,t,bad bigint',
      '10,1,2,3,2026-12-01,1,2026-12-01 10:30:00Z,1,maybe,bad boolean',
    ];
    fs.writeFileSync(path.join(ws.tmp.dir, 'typed.csv'), ['id,a,b,c,day,amount,at,n,flag,note', ...rows].join('\n') + '\n');
    const spec = writeSpec(ws.tmp.dir, 'csvtyped.yaml', typedSpec({
      name: 'csvtyped',
      source: { csv: { path: 'typed.csv' } },
      key_type: 'bigint',
      passthrough: { day: 'date', amount: 'numeric', at: 'timestamptz', n: 'bigint', flag: 'boolean', note: 'text' },
      max_rejected: 5,
      sink: { table: 'scores.csvtyped' },
    }));
    const r = await cli(['run', spec, '--threads', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const outcome = JSON.parse(r.stdout);
    expect(outcome).toMatchObject({ rows_scored: 5, rows_rejected: 5 });
    expect(await columnTypes('scores.csvtyped')).toMatchObject({ day: 'date', amount: 'numeric', at: 'timestamp with time zone', n: 'bigint', flag: 'boolean', note: 'text' });
    const got = await query(ws.db.url, `SELECT id::int, day::text, amount::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS at, n::text, flag, note FROM scores.csvtyped ORDER BY id`);
    expect(got).toEqual([
      { id: 1, day: '2026-12-01', amount: '123.45', at: '2026-12-01 10:30:00.000000', n: '9007199254740993', flag: true, note: 'hello' },
      { id: 2, day: '2024-02-29', amount: '-0.001', at: '2026-12-01 08:30:00.123456', n: '-5', flag: false, note: '' },
      { id: 3, day: null, amount: '100000', at: '2026-06-01 07:30:00.000000', n: '0', flag: true, note: 'with, comma' },
      { id: 4, day: '2026-12-01', amount: '12345678901234567890.123456789', at: '2026-12-01 10:30:00.000000', n: '1', flag: false, note: 'x' },
      { id: 5, day: '2026-12-01', amount: '0', at: null, n: null, flag: null, note: '' },
    ]);
    const rejects = await query<{ line: string; reason: string }>(ws.db.url, `SELECT r.line::text AS line, r.reason FROM batchinfer.rejects r WHERE r.run_id = $1 ORDER BY r.line`, [outcome.run_id]);
    expect(rejects).toEqual([
      { line: '7', reason: 'value "2026-02-30" in column "day" (date) is not a date (YYYY-MM-DD)' },
      { line: '8', reason: 'value "12abc" in column "amount" (numeric) is not a number' },
      { line: '9', reason: 'value "2026-12-01 10:30:00" in column "at" (timestamptz) has no offset; timestamptz needs one (YYYY-MM-DD HH:MM[:SS[.ffffff]] with an offset (Z, +02:00)), or declare it timestamp' },
      { line: '10', reason: 'value "1.5" in column "n" (bigint) is not an integer' },
      { line: '11', reason: 'value "maybe" in column "flag" (boolean) is not a boolean (true/false, t/f, yes/no, 1/0)' },
    ]);
  }));

  it('a Postgres source keeps the query\'s column types (an enum of the source arrives as text); the map form is refused for it', ws.track(async () => {
    await query(ws.db.url, `CREATE TYPE public.mood AS ENUM ('sad', 'happy')`);
    await query(
      ws.db.url,
      `CREATE TABLE public.src AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c, DATE '2026-12-01' + i AS day, (i * 1.25)::numeric(10,2) AS amount,
              ARRAY['x', i::text] AS tags, ('v' || i)::varchar(5) AS code, jsonb_build_object('i', i) AS doc, (CASE WHEN i % 2 = 0 THEN 'happy' ELSE 'sad' END)::public.mood AS mood,
              TIMESTAMPTZ '2026-12-01 00:00:00+00' + i * interval '1 hour' AS at
         FROM generate_series(1, 20) i`,
    );
    const over = { name: 'pgtyped', source: { postgres: { query: 'SELECT * FROM public.src' } }, key_type: 'bigint', sink: { table: 'scores.pgtyped' } };
    const spec = writeSpec(ws.tmp.dir, 'pgtyped.yaml', typedSpec({ ...over, passthrough: ['day', 'amount', 'tags', 'code', 'doc', 'mood', 'at'] }));
    const r = await cli(['run', spec, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(await columnTypes('scores.pgtyped')).toMatchObject({ day: 'date', amount: 'numeric(10,2)', tags: 'text[]', code: 'character varying(5)', doc: 'jsonb', mood: 'text', at: 'timestamp with time zone' });
    const diff = await query(
      ws.db.url,
      `SELECT count(*)::int AS n FROM scores.pgtyped t JOIN public.src s USING (id)
        WHERE t.day = s.day AND t.amount = s.amount AND t.tags = s.tags AND t.code = s.code AND t.doc = s.doc AND t.mood = s.mood::text AND t.at = s.at`,
    );
    expect(diff).toEqual([{ n: 20 }]);

    const mapped = writeSpec(ws.tmp.dir, 'pgmap.yaml', typedSpec({ ...over, name: 'pgmap', passthrough: { day: 'date' } }));
    const v = await cli(['validate', mapped]);
    expect(v.code).toBe(2);
    expect(v.stderr.trim()).toBe(
      "pgmap.yaml: passthrough: a declared type (the map form) is for CSV sources; a Postgres source keeps the query's column types: list the columns (passthrough: [day]) and cast in the query where needed (e.g. SELECT day::date AS day)",
    );
  }));

  it('an existing table whose passthrough column is text and a job that now writes it typed: run and validate fail naming the column and both types', ws.track(async () => {
    fs.writeFileSync(path.join(ws.tmp.dir, 'days.csv'), 'id,a,b,c,day\n1,1,2,3,2026-12-01\n2,1,2,3,2026-12-02\n');
    const base = { name: 'days', source: { csv: { path: 'days.csv' } }, key_type: 'bigint', sink: { table: 'scores.days' } };
    const asText = writeSpec(ws.tmp.dir, 'days.yaml', typedSpec({ ...base, passthrough: ['day'] }));
    expect((await cli(['run', asText, '--threads', '1'])).code).toBe(0);
    expect(await columnTypes('scores.days')).toMatchObject({ day: 'text' });
    const typed = writeSpec(ws.tmp.dir, 'days.yaml', typedSpec({ ...base, passthrough: { day: 'date' } }));
    const message = 'days.yaml: sink.table: column "day" of scores.days is text but this job writes date; write to a new table or migrate the column, or keep it text: list it without a type';
    const run = await cli(['run', typed, '--threads', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    const v = await cli(['validate', typed]);
    expect(v.code).toBe(2);
    expect(v.stderr.trim()).toBe(message);

    // A Postgres job whose table holds a text passthrough (as every one did before types were kept), now reading a date.
    await query(ws.db.url, `CREATE TABLE public.days AS SELECT i::bigint AS id, 1.0::real AS a, 2.0::real AS b, 3.0::real AS c, DATE '2026-12-01' + i AS day FROM generate_series(1, 5) i`);
    const pg = { name: 'pgdays', key_type: 'bigint', passthrough: ['day'], sink: { table: 'scores.pgdays' } };
    const old = writeSpec(ws.tmp.dir, 'pgdays.yaml', typedSpec({ ...pg, source: { postgres: { query: 'SELECT id, a, b, c, day::text AS day FROM public.days' } } }));
    expect((await cli(['run', old, '--threads', '1'])).code).toBe(0);
    const now = writeSpec(ws.tmp.dir, 'pgdays.yaml', typedSpec({ ...pg, source: { postgres: { query: 'SELECT id, a, b, c, day FROM public.days' } } }));
    const pgMessage = 'pgdays.yaml: sink.table: column "day" of scores.pgdays is text but this job writes date; write to a new table or migrate the column, or keep it text: cast it in the query (day::text AS day)';
    const pgRun = await cli(['run', now, '--threads', '1']);
    expect(pgRun.code).toBe(2);
    expect(pgRun.stderr).toContain(pgMessage);
    expect((await cli(['validate', now])).stderr.trim()).toBe(pgMessage);

    // A run planned when the column came as text, read by a worker that now gets a date: the worker refuses it before writing.
    const [{ run_id: runId }] = await query<{ run_id: string }>(ws.db.url, `SELECT run_id::text FROM batchinfer.runs WHERE job = 'pgdays' AND status = 'succeeded'`);
    await query(ws.db.url, `UPDATE batchinfer.runs SET spec = jsonb_set(spec, '{source,query}', to_jsonb('SELECT id, a, b, c, day FROM public.days'::text)) WHERE run_id = $1`, [runId]);
    await expect(openChunkContext(ws.db.url, Number(runId), 'typed-passthrough test')).rejects.toThrow(
      `run ${runId}: column "day" of scores.pgdays is text but this run writes date; start a new run (it checks the table first), or migrate the column`,
    );
  }));

  it('numeric, real, smallint and timestamp text reach the table as PostgreSQL itself parses them', ws.track(async () => {
    const values = ['0.0', '-0', '00012.3400', '.5', '5.', '1E-10', '-1.5e3', '99999999', '1e20', '0.00001234', '-98765.4321', '10000', '0.1e1'];
    const stamps = ['2026-12-01 00:00', '1999-12-31T23:59:59.999999', '0099-01-01 12:00:00', '2000-01-01 00:00:00.5'];
    const lines = values.map((v, i) => `${i + 1},1,2,3,${v},${v},${i - 6},${stamps[i % stamps.length]}`);
    fs.writeFileSync(path.join(ws.tmp.dir, 'nums.csv'), ['id,a,b,c,num,r,small,ts', ...lines].join('\n') + '\n');
    const spec = writeSpec(ws.tmp.dir, 'nums.yaml', typedSpec({ name: 'nums', source: { csv: { path: 'nums.csv' } }, key_type: 'bigint', passthrough: { num: 'numeric', r: 'real', small: 'smallint', ts: 'timestamp' }, sink: { table: 'scores.nums' } }));
    const r = await cli(['run', spec, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const got = await query<{ id: number; num: string; r: string; small: number; ts: string }>(ws.db.url, `SELECT id::int, num::text, r::text, small, ts::text FROM scores.nums ORDER BY id`);
    const want = await query<{ num: string; r: string; ts: string }>(
      ws.db.url,
      `SELECT v::numeric::text AS num, v::real::text AS r, t::timestamp::text AS ts FROM unnest($1::text[], $2::text[]) WITH ORDINALITY x(v, t, i) ORDER BY i`,
      [values, values.map((_, i) => stamps[i % stamps.length])],
    );
    expect(got.map(({ num, r, ts }) => ({ num, r, ts }))).toEqual(want);
    expect(got.map((g) => g.small)).toEqual(values.map((_, i) => i - 6));
  }));
});
