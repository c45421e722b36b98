import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, writeSpec } from '../support/jobs.js';
import { freePort } from '../support/ports.js';
import { redisAvailable, redisUrl, startWorker, type WorkerProc } from '../support/queue.js';

/**
 * The wine demo's real data as the reference; then the same rows unchanged, and the same rows with
 * alcohol x3 and magnesium set to 0, scored through the queue by a worker: the publish guard fails
 * that run naming exactly those two columns, _latest keeps the reference, accept publishes it.
 */
const ws = testWorkspace('drift');
const queueName = `bi-test-drift-${process.pid}-${Date.now()}`;
const JOB = 'wine-drift';
const D1 = '2026-10-01';
const D2 = '2026-10-02';
let queueEnv: Record<string, string>;
const workers: WorkerProc[] = [];

const wine = fs.readFileSync(path.join(repoRoot, 'jobs/data/wine.csv'), 'utf8').trim().split('\n');
const header = wine[0].split(',');
const inputs = header.slice(1, 14);

function writeCsv(file: string, change: (col: string, v: number) => number = (_c, v) => v): void {
  const rows = wine.slice(1).map((l) => l.split(',').map((f, i) => (i >= 1 && i <= 13 ? String(change(header[i], Number(f))) : f)).join(','));
  fs.writeFileSync(path.join(ws.tmp.dir, file), [wine[0], ...rows].join('\n') + '\n');
}

function spec(file: string, data: string, monitoring: Record<string, unknown> = { drift_warn: 0.1, drift_fail: 0.25 }): string {
  return writeSpec(ws.tmp.dir, file, {
    name: JOB,
    model: { path: path.join(repoRoot, 'models/wine/model.onnx') },
    source: { csv: { path: data } },
    key: 'id',
    key_type: 'bigint',
    inputs: { float_input: inputs },
    outputs: { p_class_0: { output: 'probabilities', index: 0 }, p_class_1: { output: 'probabilities', index: 1 }, p_class_2: { output: 'probabilities', index: 2 }, label: { output: 'label' } },
    sink: { table: 'scores.wine_drift' },
    chunk_rows: 50,
    batch_size: 64,
    retention: { keep_days: 100_000 },
    monitoring,
  });
}

interface Outcome {
  run_id: number;
  status: string;
  error: string | null;
  max_psi: number | null;
  drift_status: string | null;
  warnings: string[];
}

async function run(specFile: string, date: string, extra: string[], env: Record<string, string> = { DATABASE_URL: ws.db.url }) {
  const r = await runCli(['run', specFile, '--date', date, '--json', ...extra], { cwd: ws.tmp.dir, env });
  return { code: r.code, out: JSON.parse(r.stdout) as Outcome, stderr: r.stderr };
}

const psis = async (runId: number) =>
  new Map((await query<{ role: string; column_name: string; psi: number | null }>(ws.db.url, `SELECT role, column_name, psi FROM batchinfer.run_profiles WHERE run_id = $1`, [runId])).map((r) => [`${r.role}:${r.column_name}`, r.psi]));
const latestFor = async (date: string) =>
  (await query<{ run_id: string }>(ws.db.url, `SELECT DISTINCT run_id FROM scores.wine_drift_latest WHERE logical_date = $1`, [date])).map((r) => Number(r.run_id));

beforeAll(async () => {
  const redis = await redisAvailable();
  queueEnv = { DATABASE_URL: ws.db.url, BATCHINFER_QUEUE_NAME: queueName, ...(redis ? { REDIS_URL: redisUrl } : { BATCHINFER_QUEUE: 'postgres' }) };
  writeCsv('reference.csv');
  writeCsv('unchanged.csv');
  writeCsv('drifted.csv', (c, v) => (c === 'alcohol' ? v * 3 : c === 'magnesium' ? 0 : v));
});

afterEach(() => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
});

describe('profiles, drift and the publish guard', () => {
  let reference: number;
  let unchanged: number;

  it('profiles the reference run (no reference yet), and unchanged data has every PSI below 0.01', ws.track(async () => {
    const a = await run(spec('reference.yaml', 'reference.csv'), D1, ['--threads', '2']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.out).toMatchObject({ status: 'succeeded', max_psi: null, drift_status: null, warnings: [] });
    reference = a.out.run_id;
    const prof = await query<{ role: string; column_name: string; count: string; min: number; max: number; mean: number; bins: number; total: string }>(
      ws.db.url,
      `SELECT role, column_name, count, min, max, mean, array_length(bin_counts, 1) AS bins, (SELECT sum(x) FROM unnest(bin_counts) x) AS total FROM batchinfer.run_profiles WHERE run_id = $1`,
      [reference],
    );
    expect(prof).toHaveLength(13 + 4);
    for (const p of prof) expect([Number(p.count), Number(p.total), p.bins]).toEqual([178, 178, 22]);
    const alcohol = prof.find((p) => p.column_name === 'alcohol')!;
    expect([alcohol.min, alcohol.max]).toEqual([Math.fround(11.03), Math.fround(14.83)]);
    // Chunk profiles: one row per chunk and column, written with the chunk.
    const [cp] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.chunk_profiles WHERE run_id = $1`, [reference]);
    expect(cp.n).toBe(4 * 17);

    const b = await run(spec('unchanged.yaml', 'unchanged.csv'), D2, ['--threads', '0']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.out).toMatchObject({ status: 'succeeded', drift_status: 'ok', warnings: [] });
    unchanged = b.out.run_id;
    const p = await psis(unchanged);
    expect(p.size).toBe(17);
    for (const [col, v] of p) expect(v, col).toBeLessThan(0.01);
    const [ref] = await query<{ reference: string; reference_run_id: string }>(ws.db.url, `SELECT DISTINCT reference, reference_run_id FROM batchinfer.run_profiles WHERE run_id = $1`, [unchanged]);
    expect(ref).toEqual({ reference: 'previous', reference_run_id: String(reference) });
  }));

  it('a queued run of drifted data: exactly the two drifted inputs exceed drift_fail, the run fails (exit 4) naming them, _latest keeps the reference; the gauges show it; prune keeps its rows; accept publishes it', ws.track(async () => {
    const port = await freePort();
    const w = startWorker(['--concurrency', '2', '--metrics-port', String(port)], queueEnv, ws.tmp.dir);
    workers.push(w);
    const c = await run(spec('drifted.yaml', 'drifted.csv'), D1, ['--wait'], queueEnv);
    expect(c.code, c.stderr).toBe(4);
    expect(c.out).toMatchObject({ status: 'failed', drift_status: 'fail' });
    const drifted = c.out.run_id;
    const p = await psis(drifted);
    const overFail = [...p].filter(([k, v]) => k.startsWith('input:') && v! > 0.25).map(([k]) => k);
    expect(overFail.sort()).toEqual(['input:alcohol', 'input:magnesium']);
    for (const [k, v] of p) expect(Number.isFinite(v), k).toBe(true);
    expect(c.out.error).toMatch(/^drift guard: PSI above drift_fail 0\.25 in /);
    const named = /in (.*?); its rows/.exec(c.out.error!)![1];
    expect(named.split(', ').map((x) => x.replace(/ \(PSI .*\)$/, '')).sort()).toEqual(['alcohol', 'magnesium']);
    expect(c.out.max_psi).toBeCloseTo(Math.max(...[...p.values()].map(Number)), 9);

    // Its rows are there by run id, and _latest still shows the reference run for the date.
    const [rows] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.wine_drift WHERE run_id = $1`, [drifted]);
    expect(rows.n).toBe(178);
    expect(await latestFor(D1)).toEqual([reference]);

    // The worker's metrics: the job's last run and its drift.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name}\\{job="${JOB}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(gauge('batchinfer_job_last_run_max_psi')).toBeCloseTo(c.out.max_psi!, 6);
    expect(gauge('batchinfer_job_last_run_rows')).toBe(178);
    expect(gauge('batchinfer_job_last_run_reject_rate')).toBe(0);
    expect(gauge('batchinfer_job_last_run_drift_failed')).toBe(1);

    // The report: worst column first, a text histogram.
    const rep = await runCli(['report', String(drifted)], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/reference: previous \(run \d+\)/);
    expect(rep.stdout).toMatch(/[▁▂▃▄▅▆▇█]/);
    const json = JSON.parse((await runCli(['report', String(drifted), '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } })).stdout) as { columns: { column: string; psi: number }[] };
    const order = json.columns.map((x) => x.psi);
    expect(order).toEqual([...order].sort((a, b) => b - a));

    // prune: a drift-failed run nobody accepted keeps its rows within keep_days.
    const dry = await runCli(['prune', '--dry-run', '--json'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect((JSON.parse(dry.stdout) as { runs: { run_id: number }[] }).runs.map((r) => r.run_id)).not.toContain(drifted);

    // accept: published.
    const acc = await runCli(['accept', String(drifted), '--by', 'tester'], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(acc.code, acc.stderr).toBe(0);
    expect(acc.stdout).toContain(`run ${drifted} accepted by tester: failed (drift guard) -> succeeded; scores.wine_drift_latest shows it for ${D1} (instead of run ${reference})`);
    expect(await latestFor(D1)).toEqual([drifted]);
    const [after] = await query<{ status: string; accepted_by: string; error: string | null }>(ws.db.url, `SELECT status, accepted_by, error FROM batchinfer.runs WHERE run_id = $1`, [drifted]);
    expect(after).toEqual({ status: 'succeeded', accepted_by: 'tester', error: null });
    // Accepting a run that is not drift-failed is refused (exit 2).
    const again = await runCli(['accept', String(unchanged)], { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url } });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('only a run the drift guard failed can be accepted');
  }));

  it('a baseline CSV as the reference (edges over its whole range), or a run id: unchanged data compares equal; a reference run without a profile is refused', ws.track(async () => {
    const base = await run(spec('baseline.yaml', 'unchanged.csv', { reference: 'reference.csv', drift_fail: 0.25 }), '2026-10-03', ['--threads', '0']);
    expect(base.code, base.stderr).toBe(0);
    expect(base.out).toMatchObject({ status: 'succeeded', drift_status: 'ok', max_psi: 0 });
    const [b] = await query<{ reference: string; reference_run_id: string | null; n: number; lo: number }>(
      ws.db.url,
      `SELECT reference, reference_run_id, count(*)::int AS n, min(bin_edges[2]) FILTER (WHERE column_name = 'proline') AS lo FROM batchinfer.run_profiles WHERE run_id = $1 GROUP BY 1, 2`,
      [base.out.run_id],
    );
    expect(b).toEqual({ reference: 'reference.csv', reference_run_id: null, n: 17, lo: Math.fround(278) }); // proline's true minimum: the whole baseline, not a sample
    const byId = await run(spec('by-id.yaml', 'unchanged.csv', { reference: reference }), '2026-10-04', ['--threads', '0']);
    expect(byId.out).toMatchObject({ status: 'succeeded', drift_status: 'ok', max_psi: 0 });
    const missing = await run(spec('missing.yaml', 'unchanged.csv', { reference: 999_999 }), '2026-10-05', ['--threads', '0']);
    expect(missing.code).toBe(1);
    expect(missing.out.error).toContain('monitoring.reference: run 999999 has no profile');
  }));
});
