// What the server pays to insert 1M result rows keyed by UUIDs against int8 ids, with the (run_id, key)
// primary key checked as rows arrive (batchinfer's design) and with the index built once at the end (the
// alternative design: a run's rows loaded without an index, duplicates found when the index is built).
// SQL alone, no batchinfer in the loop; each variant is one INSERT ... SELECT from a table already in the
// order batchinfer sends the rows (int8 ids ascending; UUIDs sorted within each 50,000-row chunk, as
// src/sink/sort-tuples.ts sends them; or all sorted, the best case for a B-tree).
// usage: DATABASE_URL=... node bench/late-index.mjs [rounds]   (creates and drops tables li_* in public)
import pg from 'pg';

const rounds = Number(process.argv[2] ?? 3);
const c = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
await c.connect();
const q = (sql) => c.query(sql);
await q(`DROP TABLE IF EXISTS li_int, li_uuid, li_uuid_chunks, li_uuid_sorted, li_res`);
await q(`CREATE TABLE li_int AS SELECT g::bigint AS k FROM generate_series(0, 999999) g`);
await q(`CREATE TABLE li_uuid AS SELECT gen_random_uuid()::text COLLATE "C" AS k, g / 50000 AS chunk FROM generate_series(0, 999999) g`);
await q(`CREATE TABLE li_uuid_chunks AS SELECT k FROM li_uuid ORDER BY chunk, k`);
await q(`CREATE TABLE li_uuid_sorted AS SELECT k FROM li_uuid ORDER BY k`);
await q(`ANALYZE li_int, li_uuid_chunks, li_uuid_sorted`);

const variants = [
  ['int8 ids, primary key as rows arrive', 'bigint', 'li_int', 'pk'],
  ['int8 ids, index built at the end', 'bigint', 'li_int', 'late'],
  ['UUIDs sorted per chunk, primary key as rows arrive', 'text COLLATE "C"', 'li_uuid_chunks', 'pk'],
  ['UUIDs all sorted, primary key as rows arrive', 'text COLLATE "C"', 'li_uuid_sorted', 'pk'],
  ['UUIDs, index built at the end', 'text COLLATE "C"', 'li_uuid_chunks', 'late'],
  ['UUIDs as the uuid type, sorted per chunk, primary key', 'uuid', 'li_uuid_chunks', 'pk'],
];
const times = new Map(variants.map((v) => [v[0], []]));
const ms = async (sql) => {
  const t = process.hrtime.bigint();
  await q(sql);
  return Number(process.hrtime.bigint() - t) / 1e6;
};
for (let r = 0; r < rounds; r++) {
  for (const [name, type, src, mode] of variants) {
    await q(`DROP TABLE IF EXISTS li_res`);
    await q(`CREATE TABLE li_res (run_id bigint NOT NULL, k ${type} NOT NULL, p1 real, label bigint, scored_at timestamptz NOT NULL DEFAULT now()${mode === 'pk' ? ', PRIMARY KEY (run_id, k)' : ''})`);
    await q('CHECKPOINT');
    const load = await ms(`INSERT INTO li_res (run_id, k, p1, label) SELECT 7, k${type === 'uuid' ? '::uuid' : ''}, 0.5, 1 FROM ${src}`);
    const index = mode === 'late' ? await ms('ALTER TABLE li_res ADD PRIMARY KEY (run_id, k)') : 0;
    times.get(name).push({ load, index });
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = med(times.get(variants[0][0]).map((t) => t.load + t.index));
console.log(`| variant | load ms | index ms | total ms (each round) | x int8 with primary key |\n| --- | --- | --- | --- | --- |`);
for (const [name] of variants) {
  const t = times.get(name);
  const total = t.map((x) => x.load + x.index);
  console.log(`| ${name} | ${med(t.map((x) => x.load)).toFixed(0)} | ${med(t.map((x) => x.index)).toFixed(0)} | ${med(total).toFixed(0)} (${total.map((x) => x.toFixed(0)).join(' ')}) | ${(med(total) / base).toFixed(2)} |`);
}
await q(`DROP TABLE IF EXISTS li_int, li_uuid, li_uuid_chunks, li_uuid_sorted, li_res`);
await c.end();
