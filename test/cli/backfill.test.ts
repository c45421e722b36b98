import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bin, runCli, cliEnv } from '../support/cli.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * batchinfer backfill, scoring in this process (no Redis): one run per date, at most --max-active at
 * once, Airflow's reprocess semantics, --dry-run, Ctrl-C and a repeat that picks up where it stopped.
 */
const ws = testWorkspace('backfill');
let env: Record<string, string | undefined>;
const FROM = '2026-10-01';
const TO = '2026-10-10';
const dates = Array.from({ length: 10 }, (_, i) => `2026-10-${String(i + 1).padStart(2, '0')}`);
const BAD = ['2026-10-04', '2026-10-07'];

function writeData(date: string, bad = false, rows = 200): void {
  const lines = ['id,a,b,c'];
  for (let i = 0; i < rows; i++) lines.push(`${i},${bad && i === 150 ? 'oops' : i % 7},${(i % 13) / 4},${date.slice(-2)}`);
  fs.writeFileSync(path.join(ws.tmp.dir, `data-${date}.csv`), lines.join('\n') + '\n');
}

let spec: string;
beforeAll(async () => {
  env = { DATABASE_URL: ws.db.url, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: '2' };
  for (const d of dates) writeData(d, BAD.includes(d));
  spec = writeSpec(ws.tmp.dir, 'bf.yaml', typedSpec({ name: 'bf', key_type: 'bigint', source: { csv: { path: 'data-{{ds}}.csv' } }, sink: { table: 'scores.bf' }, chunk_rows: 100 }));
  // The table first, then every chunk's COPY slow (0.3 s): runs overlap long enough to count them.
  writeData('2020-01-01');
  const first = await runCli(['run', spec, '--date', '2020-01-01', '--json'], { cwd: ws.tmp.dir, env: { ...env, BATCHINFER_THREADS: '1' } });
  if (first.code !== 0) throw new Error(`setup run failed: ${first.stderr}`);
});

const backfill = (args: string[], timeoutMs = 120_000) => runCli(['backfill', spec, ...args], { cwd: ws.tmp.dir, env, timeoutMs });

async function runs() {
  return query<{ run_id: string; logical_date: string; trigger: string; status: string; started_at: Date; finished_at: Date | null }>(
    ws.db.url,
    `SELECT run_id, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, trigger, status, started_at, finished_at FROM batchinfer.runs WHERE trigger = 'backfill' ORDER BY run_id`,
  );
}

/** Most runs active at one moment, from the ledger's started/finished times. */
function maxActive(rs: { started_at: Date; finished_at: Date | null }[]): number {
  const edges = rs.flatMap((r) => [
    [r.started_at.getTime(), 1],
    [(r.finished_at ?? new Date()).getTime(), -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

describe('batchinfer backfill (inline)', () => {
  it('10 dates with --max-active 2: never more than 2 runs active at once; the failed dates are named and the exit code is 1', ws.track(async () => {
    await query(ws.db.url, `CREATE OR REPLACE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$`);
    await query(ws.db.url, `CREATE TRIGGER slow AFTER INSERT ON scores.bf FOR EACH STATEMENT EXECUTE FUNCTION public.slow()`);
    const r = await backfill(['--from', FROM, '--to', TO, '--max-active', '2']);
    expect(r.code, r.stderr + r.stdout).toBe(1);
    expect(r.stderr).not.toMatch(stackFrame);
    expect(r.stdout).toMatch(/^backfill of bf 2026-10-01\.\.2026-10-10: 8 of 10 dates succeeded; 10 runs, 2,000 rows read, 2 rejected/m);
    expect(r.stdout).toMatch(/ 2026-10-04: run \d+ failed: 1 of 200 rows rejected, over max_rejected 0/);
    expect(r.stdout).toMatch(/ 2026-10-07: run \d+ failed/);
    const all = await runs();
    expect(all.map((x) => x.logical_date).sort()).toEqual(dates);
    expect(maxActive(all)).toBe(2);
  }), 180_000);

  it('a repeat with the default policy creates no run (and still exits 1: two dates have a failed latest run)', ws.track(async () => {
    const before = await runs();
    const r = await backfill(['--from', FROM, '--to', TO, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { runs: number; succeeded: number; dates: { date: string; action: string; why: string }[] };
    expect(out).toMatchObject({ runs: 0, succeeded: 8 });
    expect(out.dates.find((d) => d.date === '2026-10-04')).toMatchObject({ action: 'skip', why: expect.stringMatching(/^latest run \d+ failed; --reprocess failed runs it again$/) });
    expect(await runs()).toEqual(before);
  }), 120_000);

  it('--dry-run changes nothing and says what would happen to each date', ws.track(async () => {
    const snapshot = async () => query(ws.db.url, `SELECT run_id, status, finished_at FROM batchinfer.runs ORDER BY run_id`);
    const before = await snapshot();
    const r = await backfill(['--from', '2026-09-30', '--to', TO, '--reprocess', 'failed', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // 2026-09-30 has no file: the dry run says the date would end "input not ready"
    expect(lines[0]).toBe('2026-09-30  create  no run yet; input not there yet: data-2026-09-30.csv');
    expect(lines.filter((l) => / rerun /.test(l)).map((l) => l.slice(0, 10))).toEqual(BAD);
    expect(lines.filter((l) => /input not there yet/.test(l))).toHaveLength(1);
    expect(lines.at(-1)).toBe('dry run: 11 dates: 1 to create, 2 to run again, 0 to resume, 0 to wait for, 8 left alone; 1 of the dates to run has no input yet; nothing was changed');
    const json = await backfill(['--from', '2026-09-30', '--to', '2026-10-01', '--dry-run', '--json']);
    expect(JSON.parse(json.stdout).dates).toMatchObject([{ date: '2026-09-30', action: 'create', input_missing: 'data-2026-09-30.csv' }, { date: '2026-10-01', action: 'skip' }]);
    expect(await snapshot()).toEqual(before);
  }), 120_000);

  it('--reprocess failed re-runs only the dates whose latest run failed; then every date succeeded and _latest has one row per key and date', ws.track(async () => {
    for (const d of BAD) writeData(d);
    const before = await runs();
    const r = await backfill(['--from', FROM, '--to', TO, '--reprocess', 'failed', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const after = await runs();
    expect(after.slice(before.length).map((x) => [x.logical_date, x.status]).sort()).toEqual(BAD.map((d) => [d, 'succeeded']));
    const out = JSON.parse(r.stdout) as { succeeded: number; dates_total: number; runs: number };
    expect(out).toMatchObject({ succeeded: 10, dates_total: 10, runs: 2 });
    const [latest] = await query<{ n: number; pairs: number; dates: number }>(
      ws.db.url,
      `SELECT count(*)::int AS n, count(DISTINCT (id, logical_date))::int AS pairs, count(DISTINCT logical_date)::int AS dates FROM scores.bf_latest WHERE logical_date BETWEEN '${FROM}' AND '${TO}'`,
    );
    expect(latest).toEqual({ n: 2000, pairs: 2000, dates: 10 });
  }), 120_000);

  it('Ctrl-C stops starting dates and cancels the active runs (their done chunks stay); the same command again picks up where it stopped', ws.track(async () => {
    const more = ['2026-10-11', '2026-10-12', '2026-10-13', '2026-10-14'];
    for (const d of more) writeData(d, false, 1500); // 15 chunks of 0.3 s: still running when Ctrl-C comes
    const child = spawn(process.execPath, [bin, 'backfill', spec, '--from', '2026-10-11', '--to', '2026-10-14', '--max-active', '1'], { cwd: ws.tmp.dir, env: cliEnv({ ...env, REDIS_URL: undefined }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      const done = await query(ws.db.url, `SELECT 1 FROM batchinfer.chunks c JOIN batchinfer.runs r USING (run_id) WHERE r.logical_date = '2026-10-11' AND r.trigger = 'backfill' AND c.status = 'done'`);
      if (done.length) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    child.kill('SIGINT');
    expect(await exited, out).toBe(1);
    expect(out).toMatch(/stopping: no new dates; active runs are cancelled once their chunks in flight commit/);
    expect(out).toMatch(/2026-10-11: run \d+ cancelled \(its done chunks stay done\)/);
    expect(out).toMatch(/2026-10-14: not started/);
    expect(out).toMatch(/stopped: run the same command again to pick up where it stopped/);
    const cancelled = (await runs()).filter((x) => more.includes(x.logical_date));
    expect(cancelled.map((x) => [x.logical_date, x.status])).toEqual([['2026-10-11', 'cancelled']]);

    await query(ws.db.url, `DROP TRIGGER slow ON scores.bf`);
    const again = await backfill(['--from', '2026-10-11', '--to', '2026-10-14', '--max-active', '1', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const o = JSON.parse(again.stdout) as { dates: { date: string; action: string; run_id: number; status: string }[] };
    expect(o.dates.map((d) => [d.date, d.action, d.status])).toEqual([
      ['2026-10-11', 'resume', 'succeeded'],
      ['2026-10-12', 'create', 'succeeded'],
      ['2026-10-13', 'create', 'succeeded'],
      ['2026-10-14', 'create', 'succeeded'],
    ]);
    expect(o.dates[0].run_id).toBe(Number(cancelled[0].run_id)); // the same run, resumed
  }), 180_000);

  it('exit 3 when every date that did not succeed lacked its rows (min_rows); 1 when another failure is among them', ws.track(async () => {
    writeData('2026-11-01', false, 50);
    writeData('2026-11-02', false, 60);
    writeData('2026-11-03', true); // a bad row: a reject over max_rejected 0, a failure of another kind
    const minSpec = writeSpec(ws.tmp.dir, 'bf-min.yaml', typedSpec({ name: 'bf-min', key_type: 'bigint', source: { csv: { path: 'data-{{ds}}.csv' } }, sink: { table: 'scores.bf_min' }, min_rows: 100 }));
    const notReady = await runCli(['backfill', minSpec, '--from', '2026-11-01', '--to', '2026-11-02', '--json'], { cwd: ws.tmp.dir, env });
    expect(notReady.code, notReady.stderr).toBe(3);
    expect(JSON.parse(notReady.stdout)).toMatchObject({ succeeded: 0, not_succeeded: 2 });
    const mixed = await runCli(['backfill', minSpec, '--from', '2026-11-01', '--to', '2026-11-03', '--reprocess', 'failed', '--json'], { cwd: ws.tmp.dir, env });
    expect(mixed.code, mixed.stderr).toBe(1);
    expect(JSON.parse(mixed.stdout)).toMatchObject({ succeeded: 0, not_succeeded: 3 });
  }));

  it('bad flags: one line naming the flag, exit 2', ws.track(async () => {
    const cases: [string[], RegExp][] = [
      [['--from', '2026-10-10', '--to', '2026-10-01'], /^batchinfer: --from 2026-10-10 is after --to 2026-10-01; /],
      [['--from', '2020-01-01', '--to', '2026-01-01'], /^batchinfer: --from 2020-01-01 --to 2026-01-01 is 2193 dates, more than 1000; pass --yes /],
      [['--from', '2026-02-30', '--to', '2026-03-01'], /^batchinfer: --from 2026-02-30: not a valid date; use YYYY-MM-DD/],
      [['--from', FROM, '--to', TO, '--max-active', '0'], /^batchinfer: --max-active 0: expected a whole number >= 1/],
      [['--from', FROM, '--to', TO, '--reprocess', 'all'], /^batchinfer: --reprocess all: use none \(dates without a run\), failed/],
      [['--to', TO], /^batchinfer: backfill needs --from and --to/],
    ];
    for (const [args, message] of cases) {
      const r = await backfill(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  }), 120_000);

  it('on a terminal, one progress line for the whole backfill: dates done/total, active runs, rows, rows/s, ETA', ws.track(async () => {
    const { backfillCommand } = await import('../../src/cli/commands/backfill.js');
    const { Writable } = await import('node:stream');
    let tty = '';
    const stderr = Object.assign(new Writable({ write: (c, _e, done) => ((tty += c.toString()), done()) }), { isTTY: true });
    let out = '';
    const stdout = new Writable({ write: (c, _e, done) => ((out += c.toString()), done()) });
    for (const d of ['2026-10-20', '2026-10-21', '2026-10-22']) writeData(d, false, 400);
    await query(ws.db.url, `CREATE TRIGGER slow AFTER INSERT ON scores.bf FOR EACH STATEMENT EXECUTE FUNCTION public.slow()`);
    try {
      const code = await backfillCommand(spec, { from: '2026-10-20', to: '2026-10-22', maxActive: '1' }, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, BATCHINFER_THREADS: '1' }, stdout, stderr });
      expect(code).toBe(0);
    } finally {
      await query(ws.db.url, `DROP TRIGGER slow ON scores.bf`);
    }
    const frames = tty.split('\r\x1b[K').filter(Boolean);
    expect(frames.some((f) => /^0\/3 dates \(1 active\) {2}[\d,]+ rows {2}[\d,]+ rows\/s$/.test(f)), tty).toBe(true);
    expect(frames.some((f) => /^[12]\/3 dates \(1 active\) {2}[\d,]+ rows {2}[\d,]+ rows\/s eta [\d.]+s$/.test(f)), tty).toBe(true);
    expect(out).toMatch(/^backfill of bf 2026-10-20\.\.2026-10-22: 3 of 3 dates succeeded; 3 runs, 1,200 rows read/);
  }), 120_000);
});
