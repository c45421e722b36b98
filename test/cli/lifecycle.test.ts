import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { freshDatabase, query } from '../support/database.js';
import { dropWithin, stackFrame, testWorkspace, typedModel, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * status, runs and cancel over finished runs: three runs (a success, a failure over its reject budget,
 * another job's success), read back through the CLI as people and scripts see them.
 */
const ws = testWorkspace('lifecycle');
const ROWS = 1200;
let cli: (args: string[]) => Promise<CliResult>;
const ids = { ok: 0, failed: 0, other: 0, broken: 0 };

beforeAll(async () => {
  cli = (args) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `${i},${i % 7},${i % 5},1.5`);
  fs.writeFileSync(path.join(ws.tmp.dir, 'data-2026-05-01.csv'), ['id,a,b,c', ...rows(ROWS)].join('\n') + '\n');
  fs.writeFileSync(path.join(ws.tmp.dir, 'data-2026-05-02.csv'), ['id,a,b,c', ...rows(ROWS), `${ROWS},oops,1,1`].join('\n') + '\n');
  writeSpec(ws.tmp.dir, 'typed.yaml', typedSpec({ source: { csv: { path: 'data-{{ds}}.csv' } }, chunk_rows: 500, model: { path: typedModel, version: 'v7' } }));
  writeSpec(ws.tmp.dir, 'other.yaml', typedSpec({ name: 'other-job', source: { csv: { path: 'data-{{ds}}.csv' } }, sink: { table: 'scores.other' } }));
  // A query that fails in the chunk holding id 150 (the planner's pass over the keys does not compute c).
  await query(ws.db.url, 'CREATE TABLE public.feats AS SELECT i AS id, (i % 7)::float8 AS a FROM generate_series(1, 300) i');
  writeSpec(ws.tmp.dir, 'broken.yaml', typedSpec({ name: 'broken', source: { postgres: { query: 'SELECT id, a, a AS b, 1.0 / (id - 150) AS c FROM public.feats' } }, key_type: 'bigint', sink: { table: 'scores.broken' }, chunk_rows: 100 }));
  const made = [
    await cli(['run', 'typed.yaml', '--date', '2026-05-01', '--threads', '1', '--json']),
    await cli(['run', 'typed.yaml', '--date', '2026-05-02', '--threads', '1', '--json']),
    await cli(['run', 'other.yaml', '--date', '2026-05-01', '--threads', '1', '--json']),
    await cli(['run', 'broken.yaml', '--date', '2026-05-01', '--threads', '1', '--json']),
  ];
  expect(made.map((r) => r.code), made.map((r) => r.stderr).join('\n')).toEqual([0, 1, 0, 1]);
  [ids.ok, ids.failed, ids.other, ids.broken] = made.map((r) => (JSON.parse(r.stdout) as { run_id: number }).run_id);
});

/** The output of a command that must succeed quietly. */
async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe('');
  return r.stdout;
}

/** A usage error: exit 2, one line on stderr, nothing on stdout, no stack. */
async function usageError(args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toMatch(stackFrame);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  return r.stderr.trim();
}

/** Each cell starts where its header starts (left-aligned) or ends where its header ends (numbers): the columns line up. */
function expectAligned(out: string, header: string[]) {
  const lines = out.trimEnd().split('\n');
  expect(lines[0].split(/\s{2,}/).map((h) => h.trim())).toEqual(header);
  const spans = header.map((h) => [lines[0].indexOf(h), lines[0].indexOf(h) + h.length]);
  for (const line of lines.slice(1)) {
    for (const [i, [start, end]] of spans.entries()) {
      const left = line[start] !== ' ' && (start === 0 || line[start - 1] === ' ');
      const right = line[end - 1] !== ' ' && (end >= line.length || line[end] === ' ');
      expect(left || right, `column ${header[i]} of\n${lines[0]}\n${line}`).toBe(true);
    }
  }
}

describe('batchinfer status / runs / cancel over finished runs', () => {
  it('status <id> of a succeeded run: job, date, trigger, chunks and rows with thousands separators', ws.track(async () => {
    const out = await ok(['status', String(ids.ok)]);
    expect(out).toMatch(new RegExp(`^run +${ids.ok}$`, 'm'));
    expect(out).toMatch(/^status +succeeded$/m);
    expect(out).toMatch(/^job +typed-job$/m);
    expect(out).toMatch(/^logical date +2026-05-01$/m);
    expect(out).toMatch(/^trigger +manual$/m);
    expect(out).toMatch(/^chunks +3 of 3 done$/m);
    expect(out).toMatch(/^rows +1,200 read, 1,200 scored, 0 rejected$/m);
    expect(out).toMatch(/^model version +v7$/m);
    expect(out).not.toMatch(/^error/m);
    expect(out).not.toMatch(/stale|rows\/s/);
  }));

  it('status <id> of a failed run shows its error (the first reject reasons) and where the rejects are', ws.track(async () => {
    const out = await ok(['status', String(ids.failed)]);
    expect(out).toMatch(/^status +failed$/m);
    expect(out).toMatch(/^rows +1,201 read, 1,200 scored, 1 rejected$/m);
    expect(out).toMatch(/^error +1 of 1201 rows rejected, over max_rejected 0 .*line 1202: .*"oops"/m);
    expect(out).toMatch(new RegExp(`^rejects +SELECT .* FROM batchinfer.rejects WHERE run_id = ${ids.failed}`, 'm'));
  }));

  it('status <id> of a run whose chunk failed: chunks done/failed/total and the failed chunk\'s error', ws.track(async () => {
    const out = await ok(['status', String(ids.broken)]);
    expect(out).toMatch(/^status +failed$/m);
    expect(out).toMatch(/^chunks +1 of 3 done, 1 failed$/m);
    expect(out).toMatch(/^error +2 of 3 chunks not done; chunk 1: broken\.yaml: source\.postgres\.query: division by zero$/m);
    expect(out).toMatch(/^chunk 1 +broken\.yaml: source\.postgres\.query: division by zero$/m);
    const s = JSON.parse(await ok(['status', String(ids.broken), '--json']));
    expect(s).toMatchObject({ status: 'failed', chunks_total: 3, chunks_done: 1, chunks_failed: 1, rows_read: 100, chunk_errors: [{ chunk: 1, error: 'broken.yaml: source.postgres.query: division by zero' }] });
  }));

  it('status <id> --json: one object with the run\'s recorded counts', ws.track(async () => {
    const s = JSON.parse(await ok(['status', String(ids.failed), '--json']));
    expect(s).toMatchObject({
      run_id: ids.failed,
      job: 'typed-job',
      logical_date: '2026-05-02',
      trigger: 'manual',
      status: 'failed',
      stale: false,
      chunks_total: 3,
      chunks_done: 3,
      chunks_failed: 0,
      rows_read: 1201,
      rows_scored: 1200,
      rows_rejected: 1,
      model_version: 'v7',
      result_table: 'scores.typed',
      rows_per_s: null,
      eta_s: null,
      chunk_errors: [],
    });
    expect(s.error).toMatch(/rows rejected, over max_rejected/);
    expect(s.owner).toMatch(/^inline .+ pid \d+$/);
    expect(typeof s.duration_s).toBe('number');
    // the same numbers sit in the ledger
    const [row] = await query<{ rows_read: string; error: string }>(ws.db.url, 'SELECT rows_read, error FROM batchinfer.runs WHERE run_id = $1', [ids.failed]);
    expect([Number(row.rows_read), row.error]).toEqual([s.rows_read, s.error]);
  }));

  it('status without a run id: the newest run of each job, one aligned line each; --json: an array', ws.track(async () => {
    const out = await ok(['status']);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expectAligned(out, ['JOB', 'RUN', 'DATE', 'TRIGGER', 'STATUS', 'CHUNKS', 'ROWS', 'REJECTS', 'DURATION']);
    expect(lines[1]).toMatch(new RegExp(`^broken +${ids.broken} +2026-05-01 +manual +failed +1/3 +100 +0 `));
    expect(lines[2]).toMatch(new RegExp(`^other-job +${ids.other} +2026-05-01 +manual +succeeded +1/1 +1,200 +0 `));
    expect(lines[3]).toMatch(new RegExp(`^typed-job +${ids.failed} +2026-05-02 +manual +failed +3/3 +1,201 +1 `));
    const all = JSON.parse(await ok(['status', '--json'])) as { run_id: number; job: string; stale: boolean }[];
    expect(all.map((r) => [r.job, r.run_id, r.stale])).toEqual([['broken', ids.broken, false], ['other-job', ids.other, false], ['typed-job', ids.failed, false]]);
  }));

  it('runs: history newest first with rows, rejects, duration and model version; --job, --status, --limit filter', ws.track(async () => {
    const out = await ok(['runs']);
    expectAligned(out, ['RUN', 'JOB', 'DATE', 'TRIGGER', 'STATUS', 'ROWS', 'REJECTS', 'DURATION', 'MODEL']);
    const lines = out.trimEnd().split('\n').slice(1);
    expect(lines.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([ids.broken, ids.other, ids.failed, ids.ok]);
    expect(lines[2]).toMatch(new RegExp(`^ *${ids.failed} +typed-job +2026-05-02 +manual +failed +1,201 +1 +[\\d.]+s +v7$`));
    expect(lines[1]).toMatch(/ other-job .* [0-9a-f]{12}$/); // no version in the spec: the model's sha256 prefix

    const only = (args: string[]) => ok(['runs', ...args, '--json']).then((o) => (JSON.parse(o) as { run_id: number }[]).map((r) => r.run_id));
    expect(await only(['--job', 'typed-job'])).toEqual([ids.failed, ids.ok]);
    expect(await only(['--status', 'failed'])).toEqual([ids.broken, ids.failed]);
    expect(await only(['--limit', '1'])).toEqual([ids.broken]);
    expect(await only(['--job', 'nope'])).toEqual([]);
    expect(await ok(['runs', '--job', 'nope'])).toMatch(/^no runs match \(job nope\); no run of job nope in the ledger, which has runs of [\w, -]+\n$/);
  }));

  it('runs --json: an array of run objects', ws.track(async () => {
    const runs = JSON.parse(await ok(['runs', '--json'])) as Record<string, unknown>[];
    expect(runs).toHaveLength(4);
    expect(runs[3]).toMatchObject({ run_id: ids.ok, job: 'typed-job', logical_date: '2026-05-01', trigger: 'manual', status: 'succeeded', stale: false, rows_read: ROWS, rows_scored: ROWS, rows_rejected: 0, chunks_total: 3, chunks_done: 3, chunks_failed: 0, model_version: 'v7', error: null });
    for (const key of ['owner', 'duration_s', 'started_at', 'finished_at']) expect(runs[3], key).toHaveProperty(key);
  }));

  it('cancel of a finished run says so, exits 0 and changes nothing', ws.track(async () => {
    const before = await query(ws.db.url, 'SELECT * FROM batchinfer.runs WHERE run_id = $1', [ids.ok]);
    expect(await ok(['cancel', String(ids.ok)])).toBe(`run ${ids.ok} already succeeded; nothing to cancel\n`);
    expect(await ok(['cancel', String(ids.failed), '--wait'])).toBe(`run ${ids.failed} already failed; nothing to cancel\n`);
    expect(await query(ws.db.url, 'SELECT * FROM batchinfer.runs WHERE run_id = $1', [ids.ok])).toEqual(before);
  }));

  it('a run id the ledger lacks, or not a whole number, or a bad flag: exit 2 with one line', ws.track(async () => {
    expect(await usageError(['status', '99'])).toBe('batchinfer: run 99 is not in the ledger (batchinfer.runs)');
    expect(await usageError(['cancel', '99'])).toBe('batchinfer: run 99 is not in the ledger (batchinfer.runs)');
    for (const bad of ['abc', '1.5', '0']) expect(await usageError(['status', bad])).toMatch(new RegExp(`^batchinfer: run id "${bad.replace('.', '\\.')}": not a run id`));
    expect(await usageError(['cancel', 'abc'])).toMatch(/not a run id/);
    expect(await usageError(['runs', '--status', 'done'])).toBe('batchinfer: --status done: not a run status; use one of queued, running, succeeded, failed, cancelled');
    expect(await usageError(['runs', '--limit', '0'])).toMatch(/--limit 0: not a positive whole number/);
    expect(await usageError(['cancel', '1', '--wait', '--timeout-ms', 'soon'])).toMatch(/--timeout-ms soon: not a whole number/);
  }));

  it('a database no run has used: "no runs yet" (exit 0), and a run id is not in the ledger (exit 2); nothing is created', ws.track(async () => {
    const empty = await freshDatabase('lifecycle_empty');
    const inEmpty = (args: string[]) => runCli(args, { cwd: ws.tmp.dir, env: { DATABASE_URL: empty.url, DEBUG: undefined }, timeoutMs: 30_000 });
    for (const args of [['status'], ['runs'], ['runs', '--job', 'x']]) {
      const r = await inEmpty(args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([0, '']);
      expect(r.stdout).toMatch(/^no runs yet \(in .+\/bi_test_lifecycle_empty_\w+\)\n$/);
    }
    for (const args of [['status', '--json'], ['runs', '--json']]) expect((await inEmpty(args)).stdout).toBe('[]\n');
    for (const args of [['status', '5'], ['cancel', '5']]) {
      const r = await inEmpty(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^batchinfer: run 5 is not in the ledger: no runs yet \(.+ has no schema batchinfer\)\n$/);
    }
    const [schema] = await query<{ n: number }>(empty.url, `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'batchinfer'`);
    expect(schema.n).toBe(0);
    await dropWithin(empty);
  }));
});
