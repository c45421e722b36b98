#!/usr/bin/env node
// npm run bench:queue (also run at the end of npm run bench): the BullMQ queue against the inline
// executor, side by side in one run on the same machine, database and Redis.
//   1M rows queued on 2 worker processes x 1 thread, and on 1 worker x 2 threads, vs inline (2 threads);
//   a 1,000-row `run --wait` with warm workers (whole command, wall);
//   200 runs of 1,000 rows enqueued at once (runs/s, and the queue's share of the time).
//   env: BENCH_QUEUE_ROWS (default 1000000), REDIS_URL (default redis://127.0.0.1:6379),
//        DATABASE_URL (default: the embedded server), BENCH_QUEUE_BACKEND=postgres for BullMQ's Postgres backend
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.join(root, 'bench/data');
const bin = path.join(root, 'bin/batchinfer.js');
const ROWS = Number(process.env.BENCH_QUEUE_ROWS ?? 1_000_000);
const log = (s) => process.stderr.write(`bench-queue: ${s}\n`);
fs.mkdirSync(dataDir, { recursive: true });
const dbUrl = process.env.DATABASE_URL || execFileSync(process.execPath, [bin, 'db', 'url'], { encoding: 'utf8' }).trim();
const backend = process.env.BENCH_QUEUE_BACKEND ?? 'redis';
const queueEnv = {
  DATABASE_URL: dbUrl,
  BATCHINFER_QUEUE: backend,
  BATCHINFER_QUEUE_NAME: `bench-${process.pid}`,
  ...(backend === 'redis' ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } : {}),
};
const inlineEnv = { DATABASE_URL: dbUrl, BATCHINFER_QUEUE: 'inline' };

// The demo's wine model (13 features) over generated rows: no Python needed.
const F = 13;
const csvOf = (n) => {
  const file = path.join(dataDir, `wine${n}.csv`);
  if (!fs.existsSync(file)) {
    log(`generating ${n} rows -> ${path.relative(root, file)}`);
    const out = fs.openSync(file, 'w');
    fs.writeSync(out, `id,${Array.from({ length: F }, (_, i) => `f${i}`).join(',')}\n`);
    let buf = '';
    for (let i = 0; i < n; i++) {
      buf += `${i},${Array.from({ length: F }, (_, j) => ((i * 7919 + j * 104729) % 1000) / 100).join(',')}\n`;
      if (buf.length > 1 << 20) (fs.writeSync(out, buf), (buf = ''));
    }
    fs.writeSync(out, buf);
    fs.closeSync(out);
  }
  return file;
};
const spec = (name, csv, chunkRows) => {
  const file = path.join(dataDir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `name: ${name}
model: { path: ${path.join(root, 'models/wine/model.onnx')} }
source: { csv: { path: ${path.basename(csv)} } }
key: id
key_type: bigint
inputs: { float_input: [${Array.from({ length: F }, (_, i) => `f${i}`).join(', ')}] }
outputs: { p0: { output: probabilities, index: 0 }, label: { output: label } }
sink: { table: benchq.${name.replaceAll('-', '_')} }
chunk_rows: ${chunkRows}
`,
  );
  return file;
};

function cli(args, env) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: dataDir });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`batchinfer ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim().split('\n').pop()), wall };
}
function workers(n, threads) {
  const procs = Array.from({ length: n }, () => spawn(process.execPath, [bin, 'worker', '--concurrency', String(threads)], { env: { ...process.env, ...queueEnv }, cwd: dataDir, stdio: ['ignore', 'pipe', 'inherit'] }));
  const ready = Promise.all(procs.map((p) => new Promise((res) => p.stdout.on('data', function on(d) { if (String(d).includes('worker start')) { p.stdout.off('data', on); res(); } }))));
  for (const p of procs) p.stdout.resume();
  return { ready, stop: () => Promise.all(procs.map((p) => new Promise((res) => (p.once('exit', res), p.kill('SIGTERM'))))) };
}
const c = new pg.Client({ connectionString: dbUrl });
await c.connect();
await c.query('DROP SCHEMA IF EXISTS benchq CASCADE');
await c.query(`DELETE FROM batchinfer.sinks WHERE result_table LIKE 'benchq.%'`).catch(() => undefined);

const big = csvOf(ROWS);
const bigSpec = spec('q-big', big, 50_000);
const results = {};
let date = 0;
const nextDate = () => `2027-01-${String(++date).padStart(2, '0')}`;

log('inline, 2 threads');
const inl = cli(['run', bigSpec, '--json', '--threads', '2', '--date', nextDate()], inlineEnv);
results.inline = { rows_per_s: Math.round(inl.out.rows_read / inl.out.duration_s), duration_s: inl.out.duration_s, wall_s: +inl.wall.toFixed(2) };

for (const [label, n, threads] of [['queue_2x1', 2, 1], ['queue_1x2', 1, 2]]) {
  log(`queued on ${n} worker(s) x ${threads} thread(s)`);
  const w = workers(n, threads);
  await w.ready;
  const q = cli(['run', bigSpec, '--json', '--wait', '--date', nextDate()], queueEnv);
  results[label] = { rows_per_s: Math.round(q.out.rows_read / q.out.duration_s), duration_s: q.out.duration_s, wall_s: +q.wall.toFixed(2), x_inline: +(q.out.rows_read / q.out.duration_s / results.inline.rows_per_s).toFixed(2) };
  await w.stop();
}

log('1,000-row run --wait with warm workers; 200 runs of 1,000 rows at once');
const small = csvOf(1000);
const smallSpec = spec('q-small', small, 50_000);
const w = workers(2, 1);
await w.ready;
cli(['run', smallSpec, '--json', '--wait', '--date', nextDate()], queueEnv); // warm the workers' model and connections
const walls = [];
for (let i = 0; i < 5; i++) walls.push(cli(['run', smallSpec, '--json', '--wait', '--date', nextDate()], queueEnv).wall);
results.small_run_wait_wall_s = { best: +Math.min(...walls).toFixed(3), median: +walls.sort((a, b) => a - b)[2].toFixed(3) };

// 200 runs: one job spec per run date, enqueued from one process, then wait for all to end.
const { enqueueRun } = await import(path.join(root, 'dist/queue/enqueue-run.js'));
const { loadSpec } = await import(path.join(root, 'dist/spec/load-spec.js'));
const s = loadSpec(smallSpec, dataDir);
const queue = backend === 'redis' ? { kind: 'redis', url: queueEnv.REDIS_URL } : { kind: 'postgres', url: dbUrl };
const t0 = performance.now();
const ids = [];
for (let i = 0; i < 200; i++) {
  const d = new Date(Date.UTC(2028, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
  ids.push((await enqueueRun({ spec: s, logicalDate: d, trigger: 'manual', databaseUrl: dbUrl, queue, queueName: queueEnv.BATCHINFER_QUEUE_NAME })).run_id);
}
const enqueuedS = (performance.now() - t0) / 1000;
for (;;) {
  const { rows } = await c.query(`SELECT count(*) FILTER (WHERE status IN ('queued', 'running'))::int AS active, count(*) FILTER (WHERE status = 'succeeded')::int AS ok FROM batchinfer.runs WHERE run_id = ANY($1)`, [ids]);
  if (rows[0].active === 0) {
    const totalS = (performance.now() - t0) / 1000;
    const { rows: sc } = await c.query(`SELECT sum(extract(epoch FROM finished_at - started_at))::float8 AS chunk_s FROM batchinfer.chunks WHERE run_id = ANY($1)`, [ids]);
    results.runs_200 = { succeeded: rows[0].ok, total_s: +totalS.toFixed(2), runs_per_s: +(200 / totalS).toFixed(1), enqueue_s: +enqueuedS.toFixed(2), scoring_share: +(sc[0].chunk_s / 2 / totalS).toFixed(2) };
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
await w.stop();
await c.end();
console.log(`\n${ROWS.toLocaleString('en-US')} rows (wine model, 13 features), queue on ${backend}, ${os.cpus().length} cores, Node ${process.version}`);
console.log(JSON.stringify(results, null, 2));
