#!/usr/bin/env node
// npm run bench: batchinfer as users run it (the default spec: text keys) beside key_type: bigint, UUID
// keys, profiling on and off, a 1,000-row run, the pandas peers and raw session.run, side by side in one run on the same
// machine, files and database. Everything it needs is in bench/. Figures go in docs/performance.md.
//   env: BENCH_ROWS (default 1000000), BENCH_REPEAT (rounds, default 3), BENCH_RSS_5M=1 (also a 5M-row
//        RSS run), BENCH_MLP=0 (skip the MLP runs), BENCH_QUEUE=0 (skip the queue bench at the end), DATABASE_URL (default: the embedded server, via
//        `batchinfer db url`)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const here = path.join(root, 'bench');
const dataDir = path.join(here, 'data');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const MLP = process.env.BENCH_MLP !== '0';
const SMALL = 1000;
const F = 30;
const py = '/usr/bin/python3';
const log = (s) => process.stderr.write(`bench: ${s}\n`);
fs.mkdirSync(dataDir, { recursive: true });

function hasPython(mods) {
  return spawnSync(py, ['-c', mods.map((m) => `import ${m}`).join(';')]).status === 0;
}

// --- data and models ------------------------------------------------------------------------------
function csvOf(rows) {
  const file = path.join(dataDir, `lr${rows}.csv`);
  if (!fs.existsSync(file)) {
    log(`generating ${rows} rows x ${F} features -> ${path.relative(root, file)}`);
    execFileSync(process.execPath, [path.join(here, 'gen_csv.mjs'), String(rows), file, String(F)], { stdio: 'inherit' });
  }
  return file;
}
const csv = csvOf(ROWS);
const smallCsv = csvOf(SMALL);
const uuidCsv = path.join(dataDir, `lr${ROWS}-uuid.csv`);
if (!fs.existsSync(uuidCsv)) {
  log(`keying the same rows by UUIDs -> ${path.relative(root, uuidCsv)}`);
  execFileSync(process.execPath, [path.join(here, 'gen_uuid_csv.mjs'), csv, uuidCsv], { stdio: 'inherit' });
}
if (!hasPython(['onnx', 'numpy'])) {
  console.error('bench needs Debian python3-onnx to build its models: apt-get install -y python3-onnx python3-pandas python3-psycopg2');
  process.exit(2);
}
if (!fs.existsSync(path.join(dataDir, 'lr.onnx'))) execFileSync(py, [path.join(here, 'make_lr_model.py'), dataDir, String(F)], { stdio: 'inherit' });
if (MLP && !fs.existsSync(path.join(dataDir, 'mlp.onnx'))) execFileSync(py, [path.join(here, 'make_mlp_model.py'), dataDir, String(F)], { stdio: 'inherit' });
if (MLP && !fs.existsSync(path.join(dataDir, 'mlp_big.onnx'))) execFileSync(py, [path.join(here, 'make_mlp_model.py'), dataDir, String(F), '512,512,512', 'mlp_big'], { stdio: 'inherit' });

const bin = path.join(root, 'bin/batchinfer.js');
const dbUrl = process.env.DATABASE_URL || execFileSync(process.execPath, [bin, 'db', 'url', '--start'], { encoding: 'utf8' }).trim();
log(`database ${dbUrl}`);
const db = new pg.Client({ connectionString: dbUrl });
await db.connect();

// --- the source table for Postgres -> Postgres ------------------------------------------------------
const feats = Array.from({ length: F }, (_, i) => `f${i}`);
const srcTable = `bench_src_${ROWS}`;
{
  // Every bench run writes millions of result rows; start from empty tables so disk use stays flat.
  await db.query('DROP SCHEMA IF EXISTS bench CASCADE');
  const { rows } = await db.query(`SELECT count(*)::bigint AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = $1`, [srcTable]);
  if (Number(rows[0].n) === 0) {
    log(`loading ${path.basename(csv)} into public.${srcTable}`);
    await db.query(`CREATE TABLE public.${srcTable} (id bigint PRIMARY KEY, ${feats.map((f) => `${f} real`).join(', ')})`);
    await pipeline(fs.createReadStream(csv), db.query(copyStreams.from(`COPY public.${srcTable} FROM STDIN (FORMAT csv, HEADER true)`)));
    await db.query(`VACUUM ANALYZE public.${srcTable}`);
  }
}

// --- job specs: as a user writes them (key: id, no key_type: text keys) and with key_type: bigint ----
const spec = (name, source, model, outputs, keyType) => {
  const file = path.join(dataDir, `${name}.yaml`);
  const table = `bench.${name.replaceAll('-', '_')}`;
  fs.writeFileSync(
    file,
    `name: ${name}\nmodel: { path: ${model}, version: bench }\nsource: ${source}\nkey: id\n${keyType ? `key_type: ${keyType}\n` : ''}inputs:\n  features: [${feats.join(', ')}]\noutputs:\n${outputs}\nsink: { table: ${table} }\n`,
  );
  return { file, table };
};
const lrOut = '  p1: { output: probabilities, index: 1 }\n  label: { output: label }';
const csvSrc = (f) => `{ csv: { path: ${path.basename(f)} } }`;
const pgSrc = `{ postgres: { query: "SELECT * FROM public.${srcTable}" } }`;
const specs = {
  csv: spec('bench-csv', csvSrc(csv), 'lr.onnx', lrOut),
  csvBigint: spec('bench-csv-bigint', csvSrc(csv), 'lr.onnx', lrOut, 'bigint'),
  csvUuid: spec('bench-csv-uuid', csvSrc(uuidCsv), 'lr.onnx', lrOut),
  csvUuidTyped: spec('bench-csv-uuid-typed', csvSrc(uuidCsv), 'lr.onnx', lrOut, 'uuid'),
  pg: spec('bench-pg', pgSrc, 'lr.onnx', lrOut),
  pgBigint: spec('bench-pg-bigint', pgSrc, 'lr.onnx', lrOut, 'bigint'),
  small: spec('bench-small', csvSrc(smallCsv), 'lr.onnx', lrOut),
  mlp: spec('bench-mlp', csvSrc(csv), 'mlp.onnx', '  score: { output: score }'),
  mlpBig: spec('bench-mlp-big', csvSrc(csv), 'mlp_big.onnx', '  score: { output: score }'),
};

// --- runners ------------------------------------------------------------------------------------------
/** One whole `batchinfer run` as a user types it (result table emptied first): its own duration_s and the command's wall time. */
async function batchinfer(s, env = {}) {
  await db.query(`DO $$ BEGIN IF to_regclass('${s.table}') IS NOT NULL THEN TRUNCATE ${s.table}; END IF; END $$`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'run', s.file, '--json', '--fresh', '--date', '2026-01-01'], { encoding: 'utf8', env: { ...process.env, ...env, DATABASE_URL: dbUrl } });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`batchinfer ${s.file} exited ${r.status}: ${r.stderr}`);
  const o = JSON.parse(r.stdout);
  return { rows: o.rows_read, sec: o.duration_s, wall: +wall.toFixed(3), rows_per_s: Math.round(o.rows_read / o.duration_s), wall_rows_per_s: Math.round(o.rows_read / wall), peak_rss_mb: o.peak_rss_mb };
}
/** A script printing one JSON line with rows and rows_per_s (its own timer); the whole command's wall time beside it. */
function jsonLine(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...o, wall: +wall.toFixed(3), wall_rows_per_s: o.rows ? Math.round(o.rows / wall) : undefined };
}
const median = (xs) => {
  if (xs.length === 0) return null;
  const v = [...xs].sort((x, y) => x - y);
  return (v[(v.length - 1) >> 1] + v[v.length >> 1]) / 2;
};

const havePeers = hasPython(['pandas', 'psycopg2']);
if (!havePeers) log('python3-pandas / python3-psycopg2 missing: peers skipped (apt-get install -y python3-pandas python3-psycopg2)');
const weights = path.join(dataDir, 'lr.weights.json');
const raw = (model, rows, threads) => jsonLine(process.execPath, [path.join(here, 'raw_ort.mjs'), path.join(dataDir, model), String(F), '1024', String(rows), String(threads)]);
const best = (fn) => {
  let top;
  for (let i = 0; i < REPEAT; i++) {
    const r = fn();
    if (!top || r.rows_per_s > top.rows_per_s) top = r;
  }
  return top;
};
log('raw session.run'); // the compute limits: one intra-op thread (raw_ort.mjs default) and two
const rawRes = { lr: best(() => raw('lr.onnx', 2_000_000, 1)) };
if (MLP) {
  rawRes.mlp = best(() => raw('mlp.onnx', 1_000_000, 1));
  rawRes.mlp2 = best(() => raw('mlp.onnx', 1_000_000, 2));
  rawRes.big = best(() => raw('mlp_big.onnx', 300_000, 1));
  rawRes.big2 = best(() => raw('mlp_big.onnx', 300_000, 2));
}

// Every workload once per round, in the same order: drift on a shared machine hits all of them alike,
// and each ratio is taken within a round (then the median over rounds).
const runs = {}; // name -> [result per round]
const add = (name, r) => (runs[name] ??= []).push(r);
for (let i = 0; i < REPEAT; i++) {
  const round = `round ${i + 1}/${REPEAT}`;
  log(`${round}: CSV -> Postgres (text keys, bigint keys, UUID keys as text and as uuid), peer`);
  // Each pair that makes a ratio runs in turn first and second from round to round: whatever one run leaves
  // the next (autovacuum of the table just filled, a checkpoint) does not always land on the same side.
  const pair = async (a, b) => {
    if (i % 2 === 0) for (const [name, s, env] of [a, b]) add(name, await batchinfer(s, env));
    else for (const [name, s, env] of [b, a]) add(name, await batchinfer(s, env));
  };
  await pair(['csv', specs.csv], ['csvNoProfile', specs.csv, { BATCHINFER_PROFILE: '0' }]); // profiling's cost: the same run without it
  await pair(['csvBigint', specs.csvBigint], ['csvUuid', specs.csvUuid]);
  add('csvUuidTyped', await batchinfer(specs.csvUuidTyped)); // the same UUIDs as the uuid type
  if (havePeers) add('peerCsv', jsonLine(py, [path.join(here, 'peer_pandas_csv.py'), csv, dbUrl, weights]));
  log(`${round}: Postgres -> Postgres (text keys, bigint keys), peer`);
  await pair(['pg', specs.pg], ['pgBigint', specs.pgBigint]);
  if (havePeers) add('peerPg', jsonLine(py, [path.join(here, 'peer_pandas_pg.py'), dbUrl, `public.${srcTable}`, weights]));
  log(`${round}: ${SMALL.toLocaleString('en-US')}-row run`);
  for (let k = 0; k < 3; k++) add('small', await batchinfer(specs.small));
  if (MLP) {
    log(`${round}: MLPs, CSV -> Postgres`);
    add('mlp', await batchinfer(specs.mlp));
    add('mlpBig', await batchinfer(specs.mlpBig));
  }
}
let big;
if (process.env.BENCH_RSS_5M === '1') {
  const bigCsv = csvOf(5_000_000);
  log('5M-row CSV run (peak RSS)');
  big = await batchinfer(spec('bench-csv-5m', csvSrc(bigCsv), 'lr.onnx', lrOut));
}
await db.query('DROP SCHEMA IF EXISTS bench CASCADE'); // the result rows are not needed: free the disk
await db.end();

// --- report ---------------------------------------------------------------------------------------------
const fmt = (n) => (n == null ? '-' : Math.round(n).toLocaleString('en-US'));
const f2 = (x) => (x == null ? '-' : x.toFixed(2));
const med = (name, field) => (runs[name] ? median(runs[name].map((r) => r[field])) : null);
/** per-round ratio a/b of a field, and its median */
const perRound = (a, b, field) => (runs[a] && runs[b] ? runs[a].map((r, i) => r[field] / runs[b][i][field]) : []);
const ratioCell = (a, b, field) => {
  const xs = perRound(a, b, field);
  return xs.length ? `**${f2(median(xs))}** (${xs.map(f2).join(' ')})` : '-';
};
const maxRss = (name) => (runs[name] ? Math.max(...runs[name].map((r) => r.peak_rss_mb)) : '-');
const rows = [
  ['workload', 'rows/s (duration_s)', 'rows/s (whole command)', 'whole command s', 'ratio, median (each round)', 'peak RSS MB'],
  ['CSV -> Postgres, text keys (the default spec)', fmt(med('csv', 'rows_per_s')), fmt(med('csv', 'wall_rows_per_s')), f2(med('csv', 'wall')), `x bigint: ${ratioCell('csv', 'csvBigint', 'wall_rows_per_s')}`, maxRss('csv')],
  ['CSV -> Postgres, text keys, profiling off (BATCHINFER_PROFILE=0)', fmt(med('csvNoProfile', 'rows_per_s')), fmt(med('csvNoProfile', 'wall_rows_per_s')), f2(med('csvNoProfile', 'wall')), `profiled x not: ${ratioCell('csv', 'csvNoProfile', 'wall_rows_per_s')}; own timers: ${ratioCell('csv', 'csvNoProfile', 'rows_per_s')}`, maxRss('csvNoProfile')],
  ['CSV -> Postgres, key_type: bigint', fmt(med('csvBigint', 'rows_per_s')), fmt(med('csvBigint', 'wall_rows_per_s')), f2(med('csvBigint', 'wall')), '', maxRss('csvBigint')],
  ['CSV -> Postgres, UUID keys', fmt(med('csvUuid', 'rows_per_s')), fmt(med('csvUuid', 'wall_rows_per_s')), f2(med('csvUuid', 'wall')), `x bigint: ${ratioCell('csvUuid', 'csvBigint', 'wall_rows_per_s')}`, maxRss('csvUuid')],
  ['CSV -> Postgres, UUID keys, key_type: uuid', fmt(med('csvUuidTyped', 'rows_per_s')), fmt(med('csvUuidTyped', 'wall_rows_per_s')), f2(med('csvUuidTyped', 'wall')), `x bigint: ${ratioCell('csvUuidTyped', 'csvBigint', 'wall_rows_per_s')}; x UUIDs as text: ${ratioCell('csvUuidTyped', 'csvUuid', 'wall_rows_per_s')}`, maxRss('csvUuidTyped')],
  ['peer pandas CSV -> Postgres', fmt(med('peerCsv', 'rows_per_s')), fmt(med('peerCsv', 'wall_rows_per_s')), f2(med('peerCsv', 'wall')), '', ''],
  ['  text-key CSV run x peer, whole commands', '', '', '', ratioCell('csv', 'peerCsv', 'wall_rows_per_s'), ''],
  ['  text-key CSV run x peer, own timers', '', '', '', ratioCell('csv', 'peerCsv', 'rows_per_s'), ''],
  ['Postgres -> Postgres, text keys (the default spec)', fmt(med('pg', 'rows_per_s')), fmt(med('pg', 'wall_rows_per_s')), f2(med('pg', 'wall')), `x bigint: ${ratioCell('pg', 'pgBigint', 'wall_rows_per_s')}`, maxRss('pg')],
  ['Postgres -> Postgres, key_type: bigint', fmt(med('pgBigint', 'rows_per_s')), fmt(med('pgBigint', 'wall_rows_per_s')), f2(med('pgBigint', 'wall')), '', maxRss('pgBigint')],
  ['peer pandas Postgres -> Postgres', fmt(med('peerPg', 'rows_per_s')), fmt(med('peerPg', 'wall_rows_per_s')), f2(med('peerPg', 'wall')), '', ''],
  ['  text-key Postgres run x peer, whole commands', '', '', '', ratioCell('pg', 'peerPg', 'wall_rows_per_s'), ''],
  ['  text-key Postgres run x peer, own timers', '', '', '', ratioCell('pg', 'peerPg', 'rows_per_s'), ''],
  [`${SMALL.toLocaleString('en-US')}-row CSV run (3 per round)`, '', '', f2(med('small', 'wall')), `whole command s: ${runs.small.map((r) => f2(r.wall)).join(' ')}`, maxRss('small')],
  ['raw session.run LR, batch 1024, 1 thread', fmt(rawRes.lr.rows_per_s), '', '', `text-key CSV run x raw: ${(med('csv', 'rows_per_s') / rawRes.lr.rows_per_s).toFixed(3)}`, ''],
];
if (MLP)
  rows.push(
    ['CSV -> Postgres, MLP 30-64-256-256-1', fmt(med('mlp', 'rows_per_s')), fmt(med('mlp', 'wall_rows_per_s')), f2(med('mlp', 'wall')), `x raw 1 thread: ${f2(med('mlp', 'rows_per_s') / rawRes.mlp.rows_per_s)}; 2 threads: ${f2(med('mlp', 'rows_per_s') / rawRes.mlp2.rows_per_s)}`, maxRss('mlp')],
    ['raw session.run MLP, 1 / 2 threads', `${fmt(rawRes.mlp.rows_per_s)} / ${fmt(rawRes.mlp2.rows_per_s)}`, '', '', '', ''],
    ['CSV -> Postgres, MLP 30-512-512-512-1 (compute-heavy)', fmt(med('mlpBig', 'rows_per_s')), fmt(med('mlpBig', 'wall_rows_per_s')), f2(med('mlpBig', 'wall')), `x raw 1 thread: ${f2(med('mlpBig', 'rows_per_s') / rawRes.big.rows_per_s)}; 2 threads: ${f2(med('mlpBig', 'rows_per_s') / rawRes.big2.rows_per_s)}`, maxRss('mlpBig')],
    ['raw session.run big MLP, 1 / 2 threads', `${fmt(rawRes.big.rows_per_s)} / ${fmt(rawRes.big2.rows_per_s)}`, '', '', '', ''],
  );
if (big) rows.push(['CSV -> Postgres, text keys, 5M rows', fmt(big.rows_per_s), fmt(big.wall_rows_per_s), f2(big.wall), '', big.peak_rss_mb]);
console.log(`\n${ROWS.toLocaleString('en-US')} rows x ${F} features, ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}, ${REPEAT} rounds; medians over rounds\n`);
console.log(rows.map((l) => `| ${l.join(' | ')} |`).join('\n').replace(/\n/, `\n|${rows[0].map(() => ' --- ').join('|')}|\n`));
console.log('\n' + JSON.stringify({ rows: ROWS, cores: os.cpus().length, raw: rawRes, runs, big }));

// --- the queue against the inline executor (bench/queue.mjs; BENCH_QUEUE=0 skips it) ---------------------
if (process.env.BENCH_QUEUE !== '0') {
  const redisUp = await new Promise((resolve) => {
    const u = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const sock = net.connect(Number(u.port || 6379), u.hostname);
    sock.setTimeout(1000, () => (sock.destroy(), resolve(false)));
    sock.on('connect', () => (sock.end(), resolve(true)));
    sock.on('error', () => resolve(false));
  });
  const backend = process.env.BENCH_QUEUE_BACKEND ?? (redisUp ? 'redis' : 'postgres');
  log(`the queue (${backend}) against the inline executor: bench/queue.mjs`);
  const q = spawnSync(process.execPath, [path.join(here, 'queue.mjs')], { stdio: 'inherit', env: { ...process.env, DATABASE_URL: dbUrl, BENCH_QUEUE_BACKEND: backend } });
  if (q.status !== 0) process.exit(q.status ?? 1);
}
