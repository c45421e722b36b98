import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { bin, cliEnv, repoRoot, runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';
import { freePort } from '../support/ports.js';
import { hostileRaw, hostileWine, seedProfile, startUi, type UiProcess } from '../support/ui.js';

/**
 * The dashboard in a real headless Chromium (Debian's package) against a real `batchinfer ui` on a real
 * ledger: the wine demo scored for five dates by the CLI (the third drifted, with hostile rejects),
 * profiles seeded by SQL. Takes the screenshots docs/ shows. Under CI=true a missing Chromium fails the file.
 */
const chromiumPath = '/usr/bin/chromium';
const haveChromium = fs.existsSync(chromiumPath);
const ci = process.env.CI === 'true';
/** UPDATE_SCREENSHOTS=1 writes the pages' screenshots into docs/ (committed; the README shows one); else into the test's temp folder. */
const shot = (name: string) => path.join(process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoRoot, 'docs') : ws.tmp.dir, name);

const ws = testWorkspace('ui-browser');
/** The live run: SLOW_CHUNKS chunks, each read sleeping SLEEP_S (about 6 s in all). */
const SLOW_CHUNKS = 16;
const SLEEP_S = 0.35;
let ui: UiProcess;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];
/** Script errors and failed loads on the pages (none expected). */
const pageErrors: string[] = [];
const runs: Record<string, number> = {};

describe.skipIf(!haveChromium && !ci)('the dashboard in Chromium', () => {
  beforeAll(async () => {
    if (!haveChromium) throw new Error(`CI=true and ${chromiumPath} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`);
    const cli = async (args: string[]) => {
      const r = await runCli([...args, '--database-url', ws.db.url, '--threads', '1', '--json'], { env: { BATCHINFER_UI_TOKEN: undefined } });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { run_id: number }).run_id;
    };
    const drifted = hostileWine(ws.tmp.dir);
    const wineCsv = path.join(repoRoot, 'jobs/data/wine.csv');
    runs.d1 = await cli(['run', 'jobs/wine.yaml', '--date', '2026-11-01']);
    runs.d2 = await cli(['run', 'jobs/wine.yaml', '--date', '2026-11-02']);
    runs.drifted = await cli(['run', drifted.spec, '--date', '2026-11-03']);
    runs.d4 = await cli(['run', 'jobs/wine.yaml', '--date', '2026-11-04']);
    await seedProfile(ws.db.url, runs.d1, wineCsv, null);
    await seedProfile(ws.db.url, runs.d2, wineCsv, runs.d1);
    await seedProfile(ws.db.url, runs.drifted, drifted.csv, runs.d2);
    await seedProfile(ws.db.url, runs.d4, wineCsv, runs.d2);
    ui = await startUi(['--port', String(await freePort()), '--database-url', ws.db.url], { BATCHINFER_UI_TOKEN: undefined });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => pageErrors.push(`page: ${e.message}`));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await ui?.stop();
  });

  it(
    'the runs list shows the runs in the database, with trigger, counts and drift; the job filter narrows it',
    ws.track(async () => {
      await page.goto(ui.url);
      const rows = page.locator('#runs tbody tr');
      await expect.poll(() => rows.count()).toBe(4);
      expect(await rows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as Dataset).dataset.runId))).toEqual([runs.d4, runs.drifted, runs.d2, runs.d1].map(String));
      const drifted = page.locator(`#runs tbody tr[data-run-id="${runs.drifted}"]`);
      const cells = await drifted.locator('td').allTextContents();
      expect(cells.slice(1, 8)).toEqual(['wine-quality', 'succeeded', 'manual', '2026-11-03', '180', '2', '4/4']);
      expect(cells[10]).toMatch(/^fail · PSI \d/);
      await page.selectOption('#status', 'failed');
      await expect.poll(() => rows.count()).toBe(0);
      await page.selectOption('#status', '');
      await expect.poll(() => rows.count()).toBe(4);
    }),
  );

  it(
    "a run's page: its chunk grid, its rejects as text (no script runs, no dialog), its histograms drawn",
    ws.track(async () => {
      await page.goto(`${ui.url}runs/${runs.drifted}`);
      await expect.poll(() => page.locator('#chunk-grid .cell.status-done').count()).toBe(4);
      const reject = page.locator('#rejects tbody tr').first();
      await expect.poll(() => reject.locator('td').nth(4).textContent()).toBe(hostileRaw);
      expect(await reject.locator('td').nth(1).textContent()).toBe('62');
      expect(await reject.locator('td').nth(3).textContent()).toBe('expected 15 fields, found 1');
      expect(await page.locator('#rejects').evaluate((t) => t.querySelectorAll('script, img').length)).toBe(0);
      expect(await page.locator('#rejects tbody tr').nth(1).textContent()).toContain('<img src=x onerror=alert(2)>');
      await expect.poll(() => page.locator('#histograms figure').count()).toBe(16);
      expect(await page.locator('#psi .psi-row').count()).toBe(16);
      // The bars of "this run" (blue) are drawn on the first histogram's canvas: alcohol or magnesium, the drifted ones.
      expect(['alcohol', 'magnesium']).toContain(await page.locator('#histograms figure').first().getAttribute('data-column'));
      expect(await drawnPixels(page, '#histograms figure:first-child canvas', 'blue')).toBeGreaterThan(200);
      await page.screenshot({ path: shot('ui-run.png'), fullPage: true });
      expect(dialogs).toEqual([]);
    }),
  );

  it(
    'a real run in progress: the runs list is live, and the chunk grid fills as its chunks finish',
    ws.track(async () => {
      // A slow job: each chunk's query sleeps, so the run lasts SLOW_CHUNKS * SLEEP_S on one thread.
      await query(ws.db.url, `CREATE TABLE public.feats AS SELECT i AS id, (i % 7)::float8 AS a, (i % 5)::float8 AS b, 1.5::float8 AS c FROM generate_series(1, ${SLOW_CHUNKS * 10}) i`);
      const spec = writeSpec(ws.tmp.dir, 'slow.yaml', typedSpec({
        name: 'slow-scores',
        source: { postgres: { query: `SELECT id, a, b, c FROM public.feats WHERE (SELECT pg_sleep(${SLEEP_S})) IS NOT NULL` } },
        key_type: 'bigint',
        sink: { table: 'scores.slow' },
        chunk_rows: 10,
      }));
      const child = spawn(process.execPath, [bin, 'run', spec, '--threads', '1', '--date', '2026-11-05', '--database-url', ws.db.url], { cwd: ws.tmp.dir, env: cliEnv({ DATABASE_URL: ws.db.url }), stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      let runId: number | undefined;
      await expect.poll(async () => (runId = (await query<{ run_id: string }>(ws.db.url, `SELECT run_id FROM batchinfer.runs WHERE job = 'slow-scores' AND status = 'running'`))[0]?.run_id as unknown as number), { timeout: 20_000 }).toBeTruthy();
      await page.goto(ui.url);
      await expect.poll(() => page.locator('#live').textContent()).toContain('live');
      await expect.poll(() => page.locator('#runs tbody tr').count()).toBe(5);
      const table = (await page.locator('#runs').boundingBox())!;
      await page.screenshot({ path: shot('ui-runs.png'), clip: { x: 0, y: 0, width: 1280, height: Math.ceil(table.y + table.height + 24) } });
      await page.goto(`${ui.url}runs/${runId}`);
      // What the grid showed, poll after poll (the page refreshes every 2 s), until the run ended.
      const seen: number[] = [];
      await expect
        .poll(
          async () => {
            seen.push(await page.locator('#chunk-grid .cell.status-done').count());
            return page.locator('#summary .badge').first().textContent();
          },
          { timeout: 30_000, interval: 300 },
        )
        .toBe('succeeded');
      expect(await exited).toBe(0);
      await expect.poll(() => page.locator('#chunk-grid .cell.status-done').count()).toBe(SLOW_CHUNKS);
      expect(seen.some((n) => n > 0 && n < SLOW_CHUNKS), `done chunks seen: ${seen.join(' ')}`).toBe(true);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      await expect.poll(() => page.locator('#live').textContent()).toBe('');
    }),
  );

  it(
    "a job's page: its charts over logical dates drawn, and which run each date's _latest comes from",
    ws.track(async () => {
      await page.goto(`${ui.url}jobs/wine-quality`);
      await expect.poll(() => page.locator('#dates tbody tr').count()).toBe(4);
      for (const id of ['chart-rows', 'chart-rejects', 'chart-prediction', 'chart-psi']) expect(await drawnPixels(page, `#${id} canvas`, 'blue'), id).toBeGreaterThan(100);
      const latest = await page.locator('#dates tbody tr').evaluateAll((trs) => trs.map((tr) => [(tr as unknown as Dataset).dataset.date, tr.children[1].textContent]));
      expect(latest).toEqual([
        ['2026-11-04', `run ${runs.d4}`],
        ['2026-11-03', `run ${runs.drifted}`],
        ['2026-11-02', `run ${runs.d2}`],
        ['2026-11-01', `run ${runs.d1}`],
      ]);
      await page.screenshot({ path: shot('ui-job.png'), fullPage: true });
      expect(dialogs).toEqual([]);
      expect(pageErrors).toEqual([]);
    }),
  );

  it(
    'with a token: the login form, then the page that was asked for',
    ws.track(async () => {
      const token = 'browser-token-0123456789';
      const guarded = await startUi(['--port', String(await freePort()), '--database-url', ws.db.url], { BATCHINFER_UI_TOKEN: token });
      try {
        const context = await browser.newContext();
        const p = await context.newPage();
        const res = await p.goto(`${guarded.url}jobs/wine-quality`);
        expect(res!.status()).toBe(401);
        await p.fill('input[name=token]', 'not-the-token-at-all');
        await p.click('button[type=submit]');
        await expect.poll(() => p.locator('main.login p').textContent()).toBe('That is not the token.');
        await p.fill('input[name=token]', token);
        await p.click('button[type=submit]');
        await p.waitForURL(`${guarded.url}jobs/wine-quality`);
        await expect.poll(() => p.locator('#dates tbody tr').count()).toBe(4);
        await context.close();
      } finally {
        await guarded.stop();
      }
    }),
  );
});

type Dataset = { dataset: Record<string, string | undefined> };
/** The bit of a canvas the check uses (the test project has no DOM types). */
type Canvas = { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null };

/** Pixels of a canvas in the charts' blue (the series colour): bars or lines were drawn, not only axes. */
function drawnPixels(page: Page, selector: string, _colour: 'blue'): Promise<number> {
  return page.locator(selector).first().evaluate((c) => {
    const canvas = c as unknown as Canvas;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 40 && data[i + 2] > 150 && data[i] < 140 && data[i + 2] - data[i] > 60) n++;
    return n;
  });
}
