import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

const ws = testWorkspace('prune');
const env = () => ({ DATABASE_URL: ws.db.url });
const ROWS = 300;

async function run(spec: string, date: string, extra: string[] = []) {
  const r = await runCli(['run', spec, '--date', date, '--json', '--fresh', ...extra], { cwd: ws.tmp.dir, env: env() });
  return JSON.parse(r.stdout) as { run_id: number; status: string; pruned_rows?: number };
}
const rowsOf = async (runId: number) => (await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM scores.kept WHERE run_id = $1`, [runId]))[0].n;
const latestRuns = async () => (await query<{ run_id: string }>(ws.db.url, `SELECT DISTINCT run_id FROM scores.kept_latest ORDER BY 1`)).map((r) => Number(r.run_id));

describe('prune and retention', () => {
  it('keeps the newest runs per date and never the one _latest shows; failed runs\' rows go; --dry-run changes nothing; a pruned failed run resumes from scratch', ws.track(async () => {
    const lines = ['id,a,b,c'];
    for (let i = 0; i < ROWS; i++) lines.push(`${i},1,2,3`);
    fs.writeFileSync(path.join(ws.tmp.dir, 'data.csv'), lines.join('\n') + '\n');
    const spec = writeSpec(ws.tmp.dir, 'kept.yaml', typedSpec({ name: 'kept', sink: { table: 'scores.kept' }, chunk_rows: 100 }));
    const day1 = [await run(spec, '2026-04-01'), await run(spec, '2026-04-01'), await run(spec, '2026-04-01'), await run(spec, '2026-04-01')];
    const day2 = await run(spec, '2026-04-02');
    expect([...day1, day2].every((o) => o.status === 'succeeded')).toBe(true);
    // From here on the job keeps 2 runs per date (its newest run's spec says so).
    fs.writeFileSync(spec, fs.readFileSync(spec, 'utf8') + 'retention:\n  keep_runs_per_date: 2\n');
    // A failed run with partial rows: a chunk refused by a trigger on its key, the others committed.
    await query(ws.db.url, `CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$`);
    await query(ws.db.url, `CREATE TRIGGER refuse BEFORE INSERT ON scores.kept FOR EACH ROW WHEN (NEW.id = '250') EXECUTE FUNCTION public.refuse()`);
    const failed = await run(spec, '2026-04-03', ['--threads', '0']);
    expect(failed.status).toBe('failed');
    expect(await rowsOf(failed.run_id)).toBe(200);
    await query(ws.db.url, `DROP TRIGGER refuse ON scores.kept`);

    const before = await latestRuns();
    const dry = await runCli(['prune', '--dry-run', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      dry_run: true,
      rows_deleted: 2 * ROWS + 200,
      runs: [
        { run_id: day1[0].run_id, why: 'superseded (keep_runs_per_date: 2)', rows: ROWS },
        { run_id: day1[1].run_id, why: 'superseded (keep_runs_per_date: 2)', rows: ROWS },
        { run_id: failed.run_id, why: 'failed run', rows: 200 },
      ],
    });
    expect(await rowsOf(failed.run_id)).toBe(200); // dry run: nothing changed
    expect(await rowsOf(day1[0].run_id)).toBe(ROWS);

    const withRetention = await run(spec, '2026-04-02'); // a succeeded run applies its job's retention
    expect(withRetention.status).toBe('succeeded');
    expect(withRetention.pruned_rows).toBe(2 * ROWS + 200); // day 1's two oldest runs, and the failed run's partial rows
    for (const o of day1.slice(0, 2)) expect(await rowsOf(o.run_id)).toBe(0);
    for (const o of day1.slice(2)) expect(await rowsOf(o.run_id)).toBe(ROWS);
    expect(await rowsOf(failed.run_id)).toBe(0);
    expect(await latestRuns()).toEqual(before.filter((id) => id !== day2.run_id).concat(withRetention.run_id).sort((a, b) => a - b));

    const again = await runCli(['prune'], { cwd: ws.tmp.dir, env: env() });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/deleted 0 result rows of 0 runs/);

    // The pruned failed run, run again: planned again, every row scored once.
    const resumed = await runCli(['run', spec, '--date', '2026-04-03', '--json'], { cwd: ws.tmp.dir, env: env() });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ run_id: failed.run_id, resumed: true, status: 'succeeded', rows_scored: ROWS });
    expect(await rowsOf(failed.run_id)).toBe(ROWS);
  }), 120_000);

  it('a --job with no run in the ledger (a typo) says so and names the jobs there; prune and runs', ws.track(async () => {
    const p = await runCli(['prune', '--job', 'kpet', '--dry-run'], { cwd: ws.tmp.dir, env: env() });
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/would delete 0 result rows of 0 runs and 0 rejects; runs _latest shows are kept; no run of job kpet in the ledger, which has runs of kept$/m);
    const r = await runCli(['runs', '--job', 'kpet'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('no runs match (job kpet); no run of job kpet in the ledger, which has runs of kept');
    // A job that has runs, none of them matching: no note.
    const none = await runCli(['runs', '--job', 'kept', '--status', 'cancelled'], { cwd: ws.tmp.dir, env: env() });
    expect(none.stdout.trim()).toBe('no runs match (job kept, status cancelled)');
  }));

  it('superseded runs of a job without retention are kept, and prune says so and how to change it', ws.track(async () => {
    const plain = writeSpec(ws.tmp.dir, 'plain.yaml', typedSpec({ name: 'plain', sink: { table: 'scores.plain' } }));
    for (let i = 0; i < 3; i++) expect((await run(plain, '2026-05-01')).status).toBe('succeeded');
    const r = await runCli(['prune', '--job', 'plain', '--dry-run'], { cwd: ws.tmp.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dry run: would delete 0 result rows of 0 runs and 0 rejects');
    expect(r.stdout).toMatch(/^kept: 2 superseded runs of plain \(no retention in the spec; add e\.g\. retention: \{ keep_runs_per_date: 2 \} to prune them\)$/m);
  }));
});
