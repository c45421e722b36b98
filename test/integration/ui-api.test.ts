import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/execute/run-job.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import { staticDir } from '../../src/ui/static-assets.js';
import { createUiServer, listen } from '../../src/ui/ui-server.js';
import { repoRoot } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace } from '../support/jobs.js';
import { hostileRaw, hostileWine, seedProfile } from '../support/ui.js';

/**
 * The dashboard's API and access rules, in-process, on a real ledger: the wine demo scored for three
 * dates (the third drifted, with hostile rejects) and once more for the first date; profiles seeded by SQL.
 */
const ws = testWorkspace('ui-api');
const token = 'a-test-token-of-some-length';
let pool: pg.Pool;
let open: http.Server;
let guarded: http.Server;
let base: string;
let guardedBase: string;
const runs: Record<string, number> = {};

beforeAll(async () => {
  const wine = loadSpec(path.join(repoRoot, 'jobs/wine.yaml'), repoRoot);
  const drifted = hostileWine(ws.tmp.dir);
  const run = async (spec: typeof wine, date: string) => (await runJob({ spec, logicalDate: date, trigger: 'manual', databaseUrl: ws.db.url, threads: 0 })).run_id;
  runs.first = await run(wine, '2026-11-01');
  runs.second = await run(wine, '2026-11-02');
  runs.drifted = await run(loadSpec(drifted.spec, ws.tmp.dir), '2026-11-03');
  runs.rerun = await run(wine, '2026-11-01');
  await seedProfile(ws.db.url, runs.first, path.join(repoRoot, 'jobs/data/wine.csv'), null);
  await seedProfile(ws.db.url, runs.drifted, drifted.csv, runs.first);
  pool = new pg.Pool({ connectionString: ws.db.url, max: 2, options: '-c default_transaction_read_only=on' });
  open = createUiServer({ pool });
  guarded = createUiServer({ pool, token });
  base = (await listen(open, 0, '127.0.0.1')).replace(/\/$/, '');
  guardedBase = (await listen(guarded, 0, '127.0.0.1')).replace(/\/$/, '');
});

afterAll(async () => {
  open?.closeAllConnections();
  guarded?.closeAllConnections();
  await new Promise((r) => open?.close(r));
  await new Promise((r) => guarded?.close(r));
  await pool?.end();
});

const get = async (p: string, init?: RequestInit) => {
  const res = await fetch(base + p, init);
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
};

describe('ui API', () => {
  it(
    'lists runs newest first with trigger, counts, model version and drift; filters by job and status; a hostile filter is a value, not SQL',
    ws.track(async () => {
      const all = await get('/api/runs');
      expect(all.status).toBe(200);
      expect(all.body.jobs).toEqual(['wine-quality']);
      expect(all.body.runs.map((r: any) => r.run_id)).toEqual([runs.rerun, runs.drifted, runs.second, runs.first]);
      const d = all.body.runs.find((r: any) => r.run_id === runs.drifted);
      expect(d).toMatchObject({ status: 'succeeded', trigger: 'manual', logical_date: '2026-11-03', rows_read: 180, rows_scored: 178, rows_rejected: 2, drift_status: 'fail' });
      expect(d.max_psi).toBeGreaterThan(1);
      expect(d.model_version).toMatch(/^[0-9a-f]{12}$/);
      expect((await get('/api/runs?job=wine-quality&status=succeeded')).body.runs).toHaveLength(4);
      expect((await get('/api/runs?status=failed')).body.runs).toEqual([]);
      expect((await get(`/api/runs?job=${encodeURIComponent("x' OR '1'='1")}`)).body.runs).toEqual([]);
      expect((await get('/api/runs?status=bogus')).status).toBe(400);
      expect((await get('/api/runs?limit=0')).status).toBe(400);
    }),
  );

  it(
    'a run: detail, chunk grid, rejects paged with line, reason and raw text exactly as read',
    ws.track(async () => {
      const run = await get(`/api/runs/${runs.drifted}`);
      expect(run.body).toMatchObject({ run_id: runs.drifted, job: 'wine-quality', chunks_total: 4, chunks_done: 4, outputs: ['p_class_0', 'p_class_1', 'p_class_2', 'label'] });
      const chunks = await get(`/api/runs/${runs.drifted}/chunks`);
      expect(chunks.body.map((c: any) => [c.chunk, c.status])).toEqual([[0, 'done'], [1, 'done'], [2, 'done'], [3, 'done']]);
      const page1 = await get(`/api/runs/${runs.drifted}/rejects?limit=1`);
      expect(page1.body).toMatchObject({ total: 2, offset: 0, limit: 1, rejects: [{ line: 62, reason: 'expected 15 fields, found 1', raw: hostileRaw }] });
      const page2 = await get(`/api/runs/${runs.drifted}/rejects?limit=1&offset=1`);
      expect(page2.body.rejects).toHaveLength(1);
      expect(page2.body.rejects[0].raw).toContain('<img src=x onerror=alert(2)>');
      expect((await get(`/api/runs/${runs.drifted}/rejects?limit=1000`)).status).toBe(400);
      expect((await get('/api/runs/999999')).status).toBe(404);
      expect((await get('/api/runs/999999/rejects')).status).toBe(404);
      expect((await get('/api/runs/1%20OR%201=1')).status).toBe(400);
      expect((await get('/api/runs/%E0%A4%A')).status).toBe(400);
    }),
  );

  it(
    'a run: its profile, worst drift first, with both histograms',
    ws.track(async () => {
      const profile = (await get(`/api/runs/${runs.drifted}/profile`)).body;
      expect(profile).toHaveLength(16);
      expect(profile.slice(0, 2).map((p: any) => p.column_name).sort()).toEqual(['alcohol', 'magnesium']);
      const alcohol = profile.find((p: any) => p.column_name === 'alcohol');
      expect(alcohol).toMatchObject({ role: 'input', count: 178, reference_run_id: runs.first });
      expect(alcohol.bin_edges).toHaveLength(11);
      expect(alcohol.bin_counts.reduce((a: number, b: number) => a + b, 0)).toBe(178);
      expect(alcohol.reference_counts.reduce((a: number, b: number) => a + b, 0)).toBe(178);
      // A run the test did not seed: its own profile, from scoring (13 inputs, 4 numeric outputs).
      const own = (await get(`/api/runs/${runs.second}/profile`)).body;
      expect(own).toHaveLength(17);
      expect(own.find((p: any) => p.column_name === 'alcohol')).toMatchObject({ role: 'input', count: 178 });
    }),
  );

  it(
    "a job over its dates: each date's run is the one its _latest view shows",
    ws.track(async () => {
      const job = (await get('/api/jobs/wine-quality')).body;
      expect(job).toMatchObject({ job: 'wine-quality', result_table: 'scores.wine', outputs: ['p_class_0', 'p_class_1', 'p_class_2', 'label'], output: 'p_class_0' });
      const view = await query<{ d: string; run_id: string }>(ws.db.url, `SELECT DISTINCT to_char(logical_date, 'YYYY-MM-DD') AS d, run_id FROM scores.wine_latest ORDER BY 1`);
      expect(job.dates.map((d: any) => [d.logical_date, d.latest_run_id])).toEqual(view.map((v) => [v.d, Number(v.run_id)]));
      expect(job.dates[0]).toMatchObject({ logical_date: '2026-11-01', latest_run_id: runs.rerun, runs: 2 });
      const drifted = job.dates[2];
      expect(drifted.reject_rate).toBeCloseTo(2 / 180, 6);
      expect(drifted.max_psi).toBeGreaterThan(1);
      expect(drifted.mean_prediction).toBeGreaterThan(0);
      expect((await get('/api/jobs/wine-quality?output=p_class_2')).body.output).toBe('p_class_2');
      expect((await get('/api/jobs/no-such-job')).status).toBe(404);
    }),
  );

  it(
    'pages, uPlot and nothing else are served; every response forbids inline scripts',
    ws.track(async () => {
      for (const p of ['/', `/runs/${runs.first}`, '/jobs/wine-quality', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css', '/static/run.js']) {
        const res = await fetch(base + p);
        expect(res.status, p).toBe(200);
        expect(res.headers.get('content-security-policy'), p).toContain("default-src 'self'");
      }
      for (const p of ['/static/../../package.json', '/static/%2e%2e/%2e%2e/package.json', '/package.json', '/runs/x']) expect((await fetch(base + p)).status, p).toBe(404);
      // Prometheus: each job's last run, as the worker serves it (an alert rule can fire on drift).
      const metrics = await fetch(base + '/metrics');
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^batchinfer_job_last_run_rows\{job="wine-quality"\} \d+$/m);
      expect((await fetch(base + '/api/runs', { method: 'DELETE' })).status).toBe(405);
    }),
  );

  it('the pages never write data as HTML', () => {
    for (const f of fs.readdirSync(staticDir).filter((n) => n.endsWith('.js'))) {
      const text = fs.readFileSync(path.join(staticDir, f), 'utf8');
      expect(text, f).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    }
  });

  it(
    'without a token: only requests addressed to this machine (Host header), so DNS rebinding gets nothing',
    ws.track(async () => {
      const res = await new Promise<number>((resolve, reject) => {
        // fetch() sets Host itself; node:http lets the test send another.
        import('node:http').then(({ request }) => request(base + '/api/runs', { headers: { Host: 'evil.example:80' } }, (r) => (r.resume(), resolve(r.statusCode!))).on('error', reject).end());
      });
      expect(res).toBe(403);
    }),
  );

  it(
    'with a token: 401 without it or with a wrong one; 200 with the bearer or the login cookie',
    ws.track(async () => {
      expect((await fetch(guardedBase + '/api/runs')).status).toBe(401);
      expect((await fetch(guardedBase + '/')).status).toBe(401);
      expect((await fetch(guardedBase + '/api/runs', { headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await fetch(guardedBase + '/api/runs', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(guardedBase + '/login')).status).toBe(200);
      const wrong = await fetch(guardedBase + '/login', { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('set-cookie')).toBeNull();
      const ok = await fetch(guardedBase + '/login', { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
      expect(ok.status).toBe(303);
      const cookie = ok.headers.get('set-cookie')!.split(';')[0];
      expect(cookie).not.toContain(token);
      expect((await fetch(guardedBase + '/api/runs', { headers: { Cookie: cookie } })).status).toBe(200);
      expect((await fetch(guardedBase + '/api/runs', { headers: { Cookie: `${cookie.split('=')[0]}=forged` } })).status).toBe(401);
      // The login form brings the user back to the page they asked for, and only to a page of the dashboard.
      const denied = await fetch(guardedBase + '/jobs/wine-quality');
      expect(denied.status).toBe(401);
      expect(await denied.text()).toContain('name="next" value="/jobs/wine-quality"');
      expect(await (await fetch(guardedBase + '/jobs/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E')).text()).toContain('name="next" value="/"');
      for (const [next, to] of [[`/runs/${runs.first}`, `/runs/${runs.first}`], ['//evil.example/', '/'], ['/jobs/x"><script>', '/'], ['https://evil.example/', '/']]) {
        const r = await fetch(guardedBase + '/login', { method: 'POST', body: new URLSearchParams({ token, next }), redirect: 'manual' });
        expect(r.headers.get('location'), next).toBe(to);
      }
    }),
  );
});
