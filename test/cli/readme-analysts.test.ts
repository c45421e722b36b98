import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace } from '../support/jobs.js';

/**
 * The README's "For analysts" section is proven: its shell steps run on a copy of the demo, then every
 * SQL block of the section runs against that database and returns what the text says it does.
 */
const ws = testWorkspace('readme-analysts');

function section(readme: string, title: string): string {
  const start = readme.indexOf(`## ${title}\n`);
  expect(start, `README has no "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 3);
  return readme.slice(start, end < 0 ? undefined : end);
}

const blocks = (text: string, lang: string) => [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

let analysts: string;
beforeAll(() => {
  analysts = section(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8'), 'For analysts');
  // A copy of the demo project: the edit the README asks for must not touch the repository.
  fs.cpSync(path.join(repoRoot, 'jobs'), path.join(ws.tmp.dir, 'jobs'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'models'), path.join(ws.tmp.dir, 'models'), { recursive: true });
});

describe('README: For analysts', () => {
  it('every SQL block runs against a database where the demo ran, and answers its question', ws.track(async () => {
    const [steps] = blocks(analysts, 'sh');
    const commands = steps.split('\n').filter((l) => l.startsWith('npx batchinfer backfill'));
    expect(commands).toEqual([
      'npx batchinfer backfill jobs/wine.yaml --from 2026-11-01 --to 2026-11-07',
      'npx batchinfer backfill jobs/wine.yaml --from 2026-11-01 --to 2026-11-07 --reprocess completed',
    ]);
    const env = { DATABASE_URL: ws.db.url, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: '2' };
    const run = (cmd: string) => runCli(cmd.replace(/^npx batchinfer /, '').split(' '), { cwd: ws.tmp.dir, env, timeoutMs: 120_000 });
    const first = await run(commands[0]);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    // "edit jobs/wine.yaml: model: { path: ../models/wine/model.onnx, version: "2026-12-fix" }"
    const edit = /# edit jobs\/wine\.yaml: (model: \{ path: \.\.\/models\/wine\/model\.onnx, version: "2026-12-fix" \})/.exec(steps);
    expect(edit).not.toBeNull();
    const specFile = path.join(ws.tmp.dir, 'jobs/wine.yaml');
    const spec = fs.readFileSync(specFile, 'utf8');
    expect(spec).toMatch(/^model:\n {2}path: \.\.\/models\/wine\/model\.onnx\n/m);
    fs.writeFileSync(specFile, spec.replace(/^model:\n {2}path: \.\.\/models\/wine\/model\.onnx\n/m, `${edit![1]}\n`));
    const second = await run(commands[1]);
    expect(second.code, second.stderr + second.stdout).toBe(0);

    const sql = blocks(analysts, 'sql');
    expect(sql).toHaveLength(6);
    const results = [];
    for (const block of sql) results.push(await query<Record<string, unknown>>(ws.db.url, block).catch((err: Error) => Promise.reject(new Error(`${err.message} in:\n${block}`))));
    const [today, history, compare, behind, missing, ledger] = results;
    // today's scores: the newest date, 10 wines, the fixed model
    expect(today).toHaveLength(10);
    expect(today[0]).toMatchObject({ model_version: '2026-12-fix' });
    // wine 42: 7 dates x 2 model versions
    expect(history).toHaveLength(14);
    expect(new Set(history.map((r) => r.model_version)).size).toBe(2);
    // the two versions compared on each of the 7 dates: same weights, so nothing changed
    expect(compare).toHaveLength(7);
    for (const r of compare) expect(r).toMatchObject({ new_version: '2026-12-fix', keys: '178', label_changed: '0' });
    expect(compare[0].old_version).not.toBe('2026-12-fix');
    // behind _latest: the re-applied runs, one per date
    expect(behind).toHaveLength(7);
    for (const r of behind) expect(r).toMatchObject({ trigger: 'backfill', model_version: '2026-12-fix', scheduled_for: null });
    const latestRuns = await query<{ run_id: string }>(ws.db.url, `SELECT DISTINCT run_id FROM scores.wine_latest`);
    expect(new Set(behind.map((r) => String(r.run_id)))).toEqual(new Set(latestRuns.map((r) => r.run_id)));
    // no succeeded run: 8 to 10 November, never run
    const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; // pg gives a date as local midnight
    expect(missing.map((r) => [day(r.logical_date as Date), r.latest_status])).toEqual([
      ['2026-11-08', 'no run'],
      ['2026-11-09', 'no run'],
      ['2026-11-10', 'no run'],
    ]);
    expect(ledger).toHaveLength(14);
  }), 240_000);
});
