import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('validate-checks');

/** id,a,b,c rows 1..n; `bad` maps a row number to the line written instead. */
function csv(file: string, n: number, bad: Record<number, string> = {}): void {
  const lines = ['id,a,b,c'];
  for (let i = 1; i <= n; i++) lines.push(bad[i] ?? `${i},${i % 7},1,2`);
  fs.writeFileSync(path.join(ws.tmp.dir, file), lines.join('\n') + '\n');
}

const cli = (args: string[]) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url }, timeoutMs: 30_000 });

describe('validate reads what run will read and checks the table run will write', () => {
  it('bad rows in the first 1,000 are reported with line and reason; over max_rejected they are an error (a run would fail)', ws.track(async () => {
    csv('bad.csv', 1500, { 10: '10,abc,1,2', 20: '20,1,2', 1400: '1400,x,1,2' });
    const strict = writeSpec(ws.tmp.dir, 'strict.yaml', typedSpec({ name: 'strict', source: { csv: { path: 'bad.csv' } }, key_type: 'bigint', sink: { table: 'scores.strict' } }));
    const r = await cli(['validate', strict]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toContain('  sample: the first 1,000 rows: 998 scorable, 2 rejected; keys: integers');
    expect(r.stdout).toContain('    rejected: line 11 (key 10): non-numeric value "abc" in column "a"');
    expect(r.stdout).toContain('    rejected: line 21 (key 20): expected 4 fields, found 3');
    expect(r.stderr.trim()).toBe(
      'strict.yaml: source: 2 of the first 1000 rows are rejected, over max_rejected 0 (0 allowed): a run would fail; first: line 11 (key 10): non-numeric value "abc" in column "a"; line 21 (key 20): expected 4 fields, found 3. Fix the input, or raise max_rejected',
    );
    expect(r.stdout).not.toContain(': ok (');

    const j = await cli(['validate', strict, '--json']);
    expect(j.code).toBe(2);
    const out = JSON.parse(j.stdout);
    expect(out.ok).toBe(false);
    expect(out.specs).toHaveLength(1);
    expect(out.specs[0]).toMatchObject({ spec: 'strict.yaml', ok: false, sample: { rows: 1000, scorable: 998, rejected: 2, keysLookLike: 'integers' }, table: { checked: true, exists: false } });
    expect(out.specs[0].sample.firstRejects[0]).toEqual({ line: 11, key: '10', reason: 'non-numeric value "abc" in column "a"' });

    // Within the budget: still reported, and ok.
    const lenient = writeSpec(ws.tmp.dir, 'lenient.yaml', typedSpec({ name: 'lenient', source: { csv: { path: 'bad.csv' } }, key_type: 'bigint', max_rejected: 0.01, sink: { table: 'scores.lenient' } }));
    const l = await cli(['validate', lenient]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain('lenient.yaml: ok (job lenient');
    expect(l.stdout).toContain('rejected: line 11 (key 10)');
  }));

  it('an existing result table whose key column has another type is an error naming the column and both types; run agrees', ws.track(async () => {
    csv('keys.csv', 50);
    const asText = writeSpec(ws.tmp.dir, 'keys.yaml', typedSpec({ name: 'keys', source: { csv: { path: 'keys.csv' } }, sink: { table: 'scores.keys' } }));
    const v = await cli(['validate', asText]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('  note: keys look like integers: key_type: bigint would be faster');
    expect(v.stdout).toContain('  result table scores.keys: does not exist yet; a run creates it');
    expect((await cli(['run', asText, '--threads', '1'])).code).toBe(0);

    const asBigint = writeSpec(ws.tmp.dir, 'keys.yaml', typedSpec({ name: 'keys', source: { csv: { path: 'keys.csv' } }, key_type: 'bigint', sink: { table: 'scores.keys' } }));
    const message = 'keys.yaml: sink.table: column "id" of scores.keys is text but this job writes bigint; write to a new table or migrate the column';
    const r = await cli(['validate', asBigint]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(message);
    const j = JSON.parse((await cli(['validate', asBigint, '--json'])).stdout);
    expect(j).toMatchObject({ ok: false, specs: [{ ok: false, table: { checked: true, exists: true }, errors: [message] }] });
    // The same reason run gives: validate said what run meets.
    const run = await cli(['run', asBigint, '--threads', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  }));

  it('a clean job over an existing table that matches: ok, one JSON object', ws.track(async () => {
    csv('clean.csv', 30);
    const spec = writeSpec(ws.tmp.dir, 'clean.yaml', typedSpec({ name: 'clean', source: { csv: { path: 'clean.csv' } }, key_type: 'bigint', sink: { table: 'scores.clean' } }));
    expect((await cli(['run', spec, '--threads', '1'])).code).toBe(0);
    const r = await cli(['validate', spec]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('clean.yaml: ok (job clean, model ' + /model (\w+),/.exec(r.stdout)![1] + ', 1 result columns -> scores.clean)\n  sample: the first 30 rows: 30 scorable, 0 rejected; keys: integers\n');
    const j = await cli(['validate', spec, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, specs: [{ spec: 'clean.yaml', ok: true, job: 'clean', sample: { rows: 30, scorable: 30, rejected: 0 }, table: { checked: true, exists: true, adds: [] }, notes: [], errors: [] }] });
  }));

  it('text keys that are UUIDs: a note that key_type: uuid would be faster; with it, a key that is not a UUID is a reject', ws.track(async () => {
    const uuids = ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', '{c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13}'];
    fs.writeFileSync(path.join(ws.tmp.dir, 'uuids.csv'), ['id,a,b,c', ...uuids.map((k, i) => `${k},${i},1,2`)].join('\n') + '\n');
    const asText = writeSpec(ws.tmp.dir, 'uuid-text.yaml', typedSpec({ name: 'uuid-text', source: { csv: { path: 'uuids.csv' } }, sink: { table: 'scores.uuid_text' } }));
    const r = await cli(['validate', asText]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  sample: the first 3 rows: 3 scorable, 0 rejected; keys: uuids\n');
    expect(r.stdout).toContain('  note: keys look like UUIDs: key_type: uuid would be faster, a smaller result table, and joins with uuid columns without a cast\n');
    fs.appendFileSync(path.join(ws.tmp.dir, 'uuids.csv'), 'customer-7,3,1,2\n');
    const asUuid = writeSpec(ws.tmp.dir, 'uuid-typed.yaml', typedSpec({ name: 'uuid-typed', source: { csv: { path: 'uuids.csv' } }, key_type: 'uuid', sink: { table: 'scores.uuid_typed' } }));
    const u = await cli(['validate', asUuid]);
    expect(u.code).toBe(2);
    expect(u.stdout).toContain('    rejected: line 5 (key customer-7): key "customer-7" is not a UUID (key_type: uuid)\n');
    expect(u.stdout).not.toContain('note: keys look like');
  }));

  it('a Postgres source: the first 1,000 rows of the query are read as a run reads them', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.f AS SELECT i::bigint AS id, CASE WHEN i = 3 THEN NULL ELSE 1.0 END::real AS a, 2.0::real AS b, 3.0::real AS c FROM generate_series(1, 5000) i`);
    const spec = writeSpec(ws.tmp.dir, 'pg.yaml', typedSpec({ name: 'pg', source: { postgres: { query: 'SELECT id, a, b, c FROM public.f' } }, sink: { table: 'scores.pg' } }));
    const r = await cli(['validate', spec]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('  sample: the first 1,000 rows: 999 scorable, 1 rejected; keys: integers\n    rejected: key 3: missing value (NULL) in column "a"\n');
    expect(r.stdout).toContain('  note: keys look like integers: key_type: bigint would be faster');
    expect(r.stderr.trim()).toBe('pg.yaml: source: 1 of the first 1000 rows are rejected, over max_rejected 0 (0 allowed): a run would fail; first: key 3: missing value (NULL) in column "a". Fix the input, or raise max_rejected');
  }));
});
