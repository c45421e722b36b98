import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { runJob } from '../../src/execute/run-job.js';
import { canonicalUuid } from '../../src/sources/uuid-keys.js';
import { query } from '../support/database.js';
import { runCli } from '../support/cli.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('uuid-keys');

let seed = 7;
const rnd = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
const hex8 = () => rnd().toString(16).padStart(8, '0');
/** a random UUID in canonical text */
const uuid = () => {
  const h = hex8() + hex8() + hex8() + hex8();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

describe('key_type: uuid', () => {
  it('reads UUIDs as PostgreSQL spells and accepts them, and refuses what it refuses', ws.track(async () => {
    const u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    const spellings = [
      u,
      u.toUpperCase(),
      `{${u}}`,
      u.replaceAll('-', ''),
      'a0eebc999c0b4ef8bb6d6bb9bd380a11',
      'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
      'A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11',
      'a0-eebc999c0b4ef8bb6d6bb9bd380a11',
      'a0eebc99-9c-0b4ef8bb6d6bb9bd380a11',
      `{${u}`,
      `${u}}`,
      `${u}-`,
      `-${u}`,
      u.slice(0, 35),
      `${u}0`,
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g',
      'a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11',
      'a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11',
      ` ${u}`,
      `${u} `,
      'not-a-uuid',
      '',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\u0131',
    ];
    for (const s of spellings) {
      // PostgreSQL's uuid input is the reference: the same verdict, the same canonical text
      let pgText: string | undefined;
      try {
        pgText = (await query<{ t: string }>(ws.db.url, 'SELECT $1::uuid::text AS t', [s]))[0].t;
      } catch {
        pgText = undefined;
      }
      expect(canonicalUuid(s), JSON.stringify(s)).toBe(pgText);
    }
  }));

  it('CSV: UUIDs in any spelling stored as the uuid type, one key per UUID, first occurrence wins, non-UUIDs rejected with their reason', ws.track(async () => {
    // 2,400 rows in chunks of 1000; row i has a = i, so its stored score s = i tells which row a key's values came from
    const keys = Array.from({ length: 2400 }, () => uuid());
    const written = keys.map((k, i) => (i % 5 === 1 ? k.toUpperCase() : i % 5 === 2 ? `{${k}}` : i % 5 === 3 ? k.replaceAll('-', '') : k));
    written[40] = keys[10].toUpperCase(); // chunk 0: row 10's UUID in another spelling
    keys[40] = keys[10];
    written[1500] = `{${keys[200]}}`; // chunk 1 repeats a UUID of chunk 0
    keys[1500] = keys[200];
    written[2300] = keys[1700].replaceAll('-', ''); // chunk 2 repeats one of chunk 1
    keys[2300] = keys[1700];
    written[77] = 'customer-000077'; // not UUIDs
    written[1234] = keys[1234].slice(0, 35);
    const lines = ['id,a,b,c', ...written.map((k, i) => `${k},${i},0,0`)];
    fs.writeFileSync(path.join(ws.tmp.dir, 'uuids.csv'), lines.join('\n') + '\n');
    const spec = loadSpec(
      writeSpec(ws.tmp.dir, 'uuids.yaml', typedSpec({ name: 'uuids', source: { csv: { path: 'uuids.csv' } }, key_type: 'uuid', sink: { table: 'scores.uuids' }, chunk_rows: 1000, batch_size: 100, max_rejected: 10 })),
      ws.tmp.dir,
    );
    const first = new Map<string, number>();
    keys.forEach((k, i) => i === 77 || i === 1234 || first.has(k) || first.set(k, i));
    for (const [round, threads] of [[1, 0], [2, 2]] as const) {
      const out = await runJob({ trigger: 'manual', databaseUrl: ws.db.url, spec, logicalDate: `2026-03-0${round}`, threads });
      expect(out).toMatchObject({ status: 'succeeded', rows_read: 2400, rows_scored: 2395, rows_rejected: 5 });
      const stored = await query<{ id: string; s: number }>(ws.db.url, `SELECT id::text AS id, s FROM scores.uuids WHERE run_id = $1`, [out.run_id]);
      expect(new Map(stored.map((r) => [r.id, r.s]))).toEqual(first);
      const rejects = await query<{ line: string; key: string; reason: string }>(ws.db.url, `SELECT line, key, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line`, [out.run_id]);
      expect(rejects).toEqual([
        { line: '42', key: keys[10], reason: `duplicate key "${keys[10]}" (already seen in this run)` }, // as the table holds it
        { line: '79', key: 'customer-000077', reason: 'key "customer-000077" is not a UUID (key_type: uuid)' },
        { line: '1236', key: written[1234], reason: `key "${written[1234]}" is not a UUID (key_type: uuid)` },
        { line: '1502', key: keys[200], reason: `duplicate key "${keys[200]}" (already seen in this run)` },
        { line: '2302', key: keys[1700], reason: `duplicate key "${keys[1700]}" (already seen in this run)` },
      ]);
    }
    const [column] = await query<{ t: string }>(ws.db.url, `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'scores.uuids'::regclass AND attname = 'id'`);
    expect(column.t).toBe('uuid');
    // analysts join the results to a uuid-keyed table without a cast
    await query(ws.db.url, `CREATE TABLE public.customers AS SELECT id::uuid AS id FROM unnest($1::text[]) AS t(id)`, [[...first.keys()]]);
    const [joined] = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM scores.uuids r JOIN public.customers c ON c.id = r.id`);
    expect(Number(joined.n)).toBe(2 * first.size);
  }));

  it('Postgres: a uuid column and a text column of UUIDs become uuid keys; an integer key column is refused before anything runs', ws.track(async () => {
    await query(ws.db.url, `CREATE TABLE public.src (u uuid, t text, n bigint, a double precision, b double precision, c double precision)`);
    await query(ws.db.url, `INSERT INTO public.src SELECT gen_random_uuid(), NULL, g, g, 0, 0 FROM generate_series(1, 3000) g`);
    await query(ws.db.url, `UPDATE public.src SET t = CASE WHEN n % 3 = 0 THEN upper(u::text) WHEN n % 3 = 1 THEN '{' || u || '}' ELSE u::text END`);
    await query(ws.db.url, `UPDATE public.src SET t = 'nope' WHERE n = 2000`);
    const pgSpec = (name: string, column: string) =>
      loadSpec(
        writeSpec(ws.tmp.dir, `${name}.yaml`, typedSpec({ name, source: { postgres: { query: `SELECT ${column} AS id, a, b, c FROM public.src` } }, key_type: 'uuid', sink: { table: `scores.${name}` }, chunk_rows: 1000, max_rejected: 1 })),
        ws.tmp.dir,
      );
    const fromUuid = await runJob({ trigger: 'manual', databaseUrl: ws.db.url, spec: pgSpec('from_uuid', 'u'), logicalDate: '2026-03-01', threads: 2 });
    expect(fromUuid).toMatchObject({ status: 'succeeded', rows_scored: 3000, rows_rejected: 0 });
    const fromText = await runJob({ trigger: 'manual', databaseUrl: ws.db.url, spec: pgSpec('from_text', 't'), logicalDate: '2026-03-01', threads: 2 });
    expect(fromText).toMatchObject({ status: 'succeeded', rows_scored: 2999, rows_rejected: 1 });
    for (const table of ['scores.from_uuid', 'scores.from_text']) {
      const [r] = await query<{ n: string; wrong: string }>(ws.db.url, `SELECT count(*) AS n, count(*) FILTER (WHERE r.s <> s.n) AS wrong FROM ${table} r JOIN public.src s ON s.u = r.id`);
      expect({ table, n: Number(r.n), wrong: Number(r.wrong) }).toEqual({ table, n: table === 'scores.from_uuid' ? 3000 : 2999, wrong: 0 });
    }
    const [reject] = await query<{ key: string; reason: string }>(ws.db.url, `SELECT key, reason FROM batchinfer.rejects WHERE run_id = $1`, [fromText.run_id]);
    expect(reject).toEqual({ key: 'nope', reason: 'key "nope" is not a UUID (key_type: uuid)' });
    writeSpec(ws.tmp.dir, 'from_int.yaml', typedSpec({ name: 'from_int', source: { postgres: { query: 'SELECT n AS id, a, b, c FROM public.src' } }, key_type: 'uuid', sink: { table: 'scores.from_int' } }));
    const refused = await runCli(['run', 'from_int.yaml'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('batchinfer: from_int.yaml: key_type: uuid: the query\'s key column "id" is bigint; uuid keys come from a uuid or text column (or drop key_type)');
    const [none] = await query<{ n: string }>(ws.db.url, `SELECT count(*) AS n FROM batchinfer.runs WHERE job = 'from_int'`);
    expect(Number(none.n)).toBe(0);
  }));
});
