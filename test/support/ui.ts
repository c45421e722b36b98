import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bin, cliEnv, repoRoot } from './cli.js';
import { query } from './database.js';

/** The wine demo's input columns (jobs/wine.yaml). */
export const wineFeatures = [
  'alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids', 'nonflavanoid_phenols',
  'proanthocyanins', 'color_intensity', 'hue', 'od280_od315', 'proline',
];
/** A reject's raw text the pages must show as text. */
export const hostileRaw = '<script>alert(1)</script>';

/**
 * The wine demo drifted and dirtied, as job wine-quality: alcohol x3, magnesium all zero, and two bad lines
 * (one is `<script>alert(1)</script>`, one has HTML in a feature). Returns the spec's path.
 */
export function hostileWine(dir: string): { spec: string; csv: string } {
  const [header, ...lines] = fs.readFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), 'utf8').trim().split('\n');
  const cols = header.split(',');
  const [a, m] = [cols.indexOf('alcohol'), cols.indexOf('magnesium')];
  const rows = lines.map((l) => {
    const f = l.split(',');
    f[a] = String(Math.round(Number(f[a]) * 3 * 1000) / 1000);
    f[m] = '0';
    return f.join(',');
  });
  const bad = rows[5].split(',');
  bad[0] = '9001';
  bad[cols.indexOf('ash')] = '<img src=x onerror=alert(2)>';
  const csv = path.join(dir, 'wine-drifted.csv');
  fs.writeFileSync(csv, [header, ...rows.slice(0, 60), hostileRaw, bad.join(','), ...rows.slice(60)].join('\n') + '\n');
  const spec = fs
    .readFileSync(path.join(repoRoot, 'jobs/wine.yaml'), 'utf8')
    .replace('path: ../models/wine/model.onnx', `path: ${path.join(repoRoot, 'models/wine/model.onnx')}`)
    .replace('csv: { path: data/wine.csv }', `csv: { path: ${csv} }`)
    .replace('max_rejected: 0', 'max_rejected: 5');
  const specPath = path.join(dir, 'wine-drifted.yaml');
  fs.writeFileSync(specPath, spec);
  return { spec: specPath, csv };
}

const BINS = 10;
const EPS = 1e-4;

function histogram(values: number[], edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) {
    let i = edges.findIndex((e, k) => k > 0 && v < e) - 1;
    if (i < 0) i = v < edges[0] ? 0 : counts.length - 1;
    counts[i]++;
  }
  return counts;
}

function psi(cur: number[], ref: number[]): number {
  const [nc, nr] = [cur.reduce((x, y) => x + y, 0), ref.reduce((x, y) => x + y, 0)];
  let s = 0;
  for (let i = 0; i < cur.length; i++) {
    const a = Math.max(cur[i] / nc, EPS);
    const e = Math.max(ref[i] / nr, EPS);
    s += (a - e) * Math.log(a / e);
  }
  return s;
}

/**
 * Profile rows for a finished run, as the monitoring code will write them (ledger migration 6): its inputs
 * from the CSV it read, its outputs from its result rows; histograms on the reference run's edges (or 10
 * equal bins of this run's range), PSI against the reference. Also sets runs.max_psi and drift_status.
 */
export async function seedProfile(dbUrl: string, runId: number, csvPath: string, referenceRunId: number | null): Promise<void> {
  const [header, ...lines] = fs.readFileSync(csvPath, 'utf8').trim().split('\n');
  const cols = header.split(',');
  // The rows that were scored: every field there, every feature a number (the rest were rejects).
  const scoredRows = lines.map((l) => l.split(',')).filter((f) => f.length === cols.length && wineFeatures.every((n) => f[cols.indexOf(n)] !== '' && Number.isFinite(Number(f[cols.indexOf(n)]))));
  const columns: { role: 'input' | 'output'; name: string; values: number[] }[] = wineFeatures.map((name) => ({
    role: 'input',
    name,
    values: scoredRows.map((f) => Number(f[cols.indexOf(name)])),
  }));
  const scored = await query<{ p_class_0: number; p_class_1: number; p_class_2: number }>(dbUrl, 'SELECT p_class_0, p_class_1, p_class_2 FROM scores.wine WHERE run_id = $1', [runId]);
  for (const name of ['p_class_0', 'p_class_1', 'p_class_2'] as const) columns.push({ role: 'output', name, values: scored.map((r) => r[name]) });
  let maxPsi: number | null = null;
  // The run's own profile (every run is profiled) gives way to the seeded one, whose drift the tests choose.
  await query(dbUrl, 'DELETE FROM batchinfer.run_profiles WHERE run_id = $1', [runId]);
  for (const c of columns) {
    const ref = referenceRunId === null ? [] : await query<{ bin_edges: number[]; bin_counts: string[]; mean: number; min: number; max: number }>(
      dbUrl,
      'SELECT bin_edges, bin_counts, mean, min, max FROM batchinfer.run_profiles WHERE run_id = $1 AND role = $2 AND column_name = $3',
      [referenceRunId, c.role, c.name],
    );
    const min = Math.min(...c.values);
    const max = Math.max(...c.values);
    const edges = ref[0]?.bin_edges ?? Array.from({ length: BINS + 1 }, (_, i) => (max === min ? min + i / BINS : min + ((max - min) * i) / BINS));
    const counts = histogram(c.values, edges);
    const mean = c.values.reduce((x, y) => x + y, 0) / c.values.length;
    const sd = Math.sqrt(c.values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, c.values.length - 1));
    const refCounts = ref[0]?.bin_counts.map(Number) ?? null;
    const p = refCounts ? psi(counts, refCounts) : null;
    if (p !== null) maxPsi = Math.max(maxPsi ?? 0, p);
    await query(
      dbUrl,
      `INSERT INTO batchinfer.run_profiles (run_id, role, column_name, count, min, max, mean, stddev, zeros, bin_edges, bin_counts,
                                            reference, reference_run_id, reference_counts, reference_mean, reference_min, reference_max, psi)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [runId, c.role, c.name, c.values.length, min, max, mean, sd, c.values.filter((v) => v === 0).length, edges, counts,
        referenceRunId === null ? null : 'previous', referenceRunId, refCounts, ref[0]?.mean ?? null, ref[0]?.min ?? null, ref[0]?.max ?? null, p],
    );
  }
  const status = maxPsi === null ? null : maxPsi >= 0.25 ? 'fail' : maxPsi >= 0.1 ? 'warn' : 'ok';
  const warnings = status === 'ok' || status === null ? null : [`inputs drifted: max PSI ${maxPsi!.toFixed(2)}`];
  await query(dbUrl, 'UPDATE batchinfer.runs SET max_psi = $2, drift_status = $3, warnings = $4 WHERE run_id = $1', [runId, maxPsi, status, warnings]);
}

export interface UiProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** `batchinfer ui ...` as a user starts it; resolves with the URL it prints once listening. */
export function startUi(args: string[], env: Record<string, string | undefined>): Promise<UiProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'ui', ...args], { cwd: repoRoot, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const output = () => out;
    const stop = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`batchinfer ui did not start within 20 s:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /batchinfer ui: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, output, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`batchinfer ui exited with ${code} before listening:\n${out}`));
    });
  });
}
