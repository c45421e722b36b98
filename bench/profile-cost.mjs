#!/usr/bin/env node
// node bench/profile-cost.mjs: what profiling (monitoring.profile, on by default) costs in rows/s, A/B on the
// 1M-row CSV -> Postgres bench (LR model, 30 features): each round runs the job without profiles
// (BATCHINFER_PROFILE=0) and with them, back to back, and compares the two (this machine is shared: ratios
// of back-to-back runs drift far less than absolute figures). Figures go in docs/performance.md.
//   env: BENCH_ROWS (default 1000000), BENCH_REPEAT (rounds, default 3), DATABASE_URL (default: the embedded server)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// ../shared/bench beside the checkout (a git worktree under wt/ has it two levels up)
const shared = [path.resolve(root, '../shared/bench'), path.resolve(root, '../../shared/bench')].find((d) => fs.existsSync(d)) ?? path.resolve(root, '../shared/bench');
const dataDir = path.join(root, 'bench/data');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const F = 30;
const log = (s) => process.stderr.write(`profile-cost: ${s}\n`);
fs.mkdirSync(dataDir, { recursive: true });

const csv = path.join(dataDir, `lr${ROWS}.csv`);
if (!fs.existsSync(csv)) {
  log(`generating ${ROWS} rows x ${F} features -> ${path.relative(root, csv)}`);
  execFileSync(process.execPath, [path.join(shared, 'gen_csv.mjs'), String(ROWS), csv, String(F)], { stdio: 'inherit' });
}
if (!fs.existsSync(path.join(dataDir, 'lr.onnx'))) execFileSync('/usr/bin/python3', [path.join(shared, 'make_lr_model.py'), dataDir, String(F)], { stdio: 'inherit' });

const bin = path.join(root, 'bin/batchinfer.js');
const dbUrl = process.env.DATABASE_URL || execFileSync(process.execPath, [bin, 'db', 'url', '--start'], { encoding: 'utf8' }).trim();
const feats = Array.from({ length: F }, (_, i) => `f${i}`);
const specFile = path.join(dataDir, 'bench-profile.yaml');
fs.writeFileSync(
  specFile,
  `name: bench-profile\nmodel: { path: lr.onnx, version: bench }\nsource: { csv: { path: ${path.basename(csv)} } }\nkey: id\nkey_type: bigint\ninputs:\n  features: [${feats.join(', ')}]\n` +
    `outputs:\n  p1: { output: probabilities, index: 1 }\n  label: { output: label }\nsink: { table: bench.profile_cost }\n`,
);

async function emptyTable() {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    await c.query('TRUNCATE bench.profile_cost').catch(() => undefined); // every run writes 1M rows: keep the disk flat
  } finally {
    await c.end();
  }
}

async function run(profile) {
  await emptyTable();
  // CPU seconds of the batchinfer process (all its threads) by /usr/bin/time: steadier than wall time on a busy machine.
  const args = [bin, 'run', specFile, '--json', '--fresh', '--date', '2026-01-01'];
  const timed = fs.existsSync('/usr/bin/time');
  const r = spawnSync(timed ? '/usr/bin/time' : process.execPath, timed ? ['-f', 'cpu_s %U %S', process.execPath, ...args] : args, { encoding: 'utf8', env: { ...process.env, DATABASE_URL: dbUrl, BATCHINFER_PROFILE: profile ? '1' : '0' } });
  if (r.status !== 0) throw new Error(`run exited ${r.status}: ${r.stderr}`);
  const o = JSON.parse(r.stdout);
  const cpu = /cpu_s ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { rows_per_s: Math.round(o.rows_read / o.duration_s), sec: o.duration_s, peak_rss_mb: o.peak_rss_mb, drift_status: o.drift_status, cpu_s: cpu ? Number(cpu[1]) + Number(cpu[2]) : null };
}

// The profiler alone, in this process: CPU per row over the same shape of batches (30 features, 2 outputs),
// next to a plain sum over the same floats (the cheapest pass there is), so a loaded machine shows in both.
const { ChunkProfiler } = await import(path.join(root, 'dist/monitoring/chunk-profiler.js'));
const { sampleEdges } = await import(path.join(root, 'dist/monitoring/column-profile.js'));
function profilerAlone() {
  const B = 1024;
  const plan = { inputs: [{ columns: feats, edges: feats.map(() => sampleEdges(-4, 4)) }], outputs: [{ column: 'p1', output: 'probabilities', index: 1, edges: sampleEdges(0, 1) }, { column: 'label', output: 'label', index: 0, edges: sampleEdges(0, 1) }] };
  const f = new Float32Array(B * F).map(() => Math.random() * 8 - 4);
  const batch = { n: B, features: [f], keys: [], passthrough: [], rejects: [], lines: null };
  const results = { probabilities: { data: new Float32Array(B * 2).map(() => Math.random()) }, label: { data: new BigInt64Array(B).map((_, i) => BigInt(i & 1)) } };
  let best = Infinity;
  let bestSum = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    let t0 = process.hrtime.bigint();
    let p = new ChunkProfiler(plan);
    for (let r = 0; r < ROWS; r += B) {
      if (r % 50_000 < B) p = (p.profiles(), new ChunkProfiler(plan)); // a new profiler per 50,000-row chunk, as scoring does
      p.addBatch(batch, results);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    t0 = process.hrtime.bigint();
    let s = 0;
    for (let r = 0; r < ROWS; r += B) for (let k = 0; k < f.length; k++) s += f[k];
    bestSum = Math.min(bestSum, Number(process.hrtime.bigint() - t0) / 1e6 + (s === 0.5 ? 1 : 0));
  }
  return { profiler_ms_per_1m_rows: Math.round((best * 1e6) / ROWS), plain_sum_ms_per_1m_rows: Math.round((bestSum * 1e6) / ROWS) };
}
const alone = profilerAlone();
log(`profiler alone: ${alone.profiler_ms_per_1m_rows} ms of CPU per 1M rows (a plain sum over the same floats: ${alone.plain_sum_ms_per_1m_rows} ms)`);

log(`database ${dbUrl.replace(/:[^:@/]*@/, ':***@')}; a first profiled run gives the later ones their reference`);
await run(true);
const rounds = [];
for (let i = 0; i < REPEAT; i++) {
  // Alternate which goes first, so drift on a shared machine hits both alike.
  const [a, b] = i % 2 === 0 ? [await run(false), await run(true)] : (([y, x]) => [x, y])([await run(true), await run(false)]);
  rounds.push({ off: a, on: b, ratio: b.rows_per_s / a.rows_per_s });
  log(`round ${i + 1}/${REPEAT}: off ${a.rows_per_s} rows/s (${a.peak_rss_mb} MB, ${a.cpu_s} s CPU), on ${b.rows_per_s} rows/s (${b.peak_rss_mb} MB, ${b.cpu_s} s CPU, drift ${b.drift_status}): ${(b.rows_per_s / a.rows_per_s).toFixed(3)}`);
}
const medianOf = (xs) => (xs.includes(null) ? null : [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]);
const ratios = rounds.map((r) => r.ratio).sort((x, y) => x - y);
const median = ratios[Math.floor(ratios.length / 2)];
const bestOff = Math.max(...rounds.map((r) => r.off.rows_per_s));
const bestOn = Math.max(...rounds.map((r) => r.on.rows_per_s));
const out = {
  rows: ROWS,
  rounds: rounds.map((r) => ({ off: r.off.rows_per_s, on: r.on.rows_per_s, ratio: Math.round(r.ratio * 1000) / 1000, rss_off_mb: r.off.peak_rss_mb, rss_on_mb: r.on.peak_rss_mb, cpu_off_s: r.off.cpu_s, cpu_on_s: r.on.cpu_s })),
  median_ratio: Math.round(median * 1000) / 1000,
  best_off: bestOff,
  best_on: bestOn,
  best_ratio: Math.round((bestOn / bestOff) * 1000) / 1000,
  cost_pct: Math.round((1 - median) * 1000) / 10,
  // batchinfer process CPU (the scoring threads; not the PostgreSQL server's), median of each side
  cpu_off_s: medianOf(rounds.map((r) => r.off.cpu_s)),
  cpu_on_s: medianOf(rounds.map((r) => r.on.cpu_s)),
  ...alone,
};
console.log(JSON.stringify(out, null, 2));
