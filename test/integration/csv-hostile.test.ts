import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { query } from '../support/database.js';
import { runCli } from '../support/cli.js';
import { testWorkspace, stackFrame, typedSpec, writeSpec } from '../support/jobs.js';

/** Hostile and broken CSV input through the real CLI: rejects where a row is bad, a clear refusal where the file is. */
const ws = testWorkspace('csv-hostile');

let jobs = 0;
/** A job folder with data.csv (bytes, or absent when csvPath points elsewhere) and its spec; returns the spec path. */
function job(name: string, data: string | Buffer | null, over: Record<string, unknown> = {}): { dir: string; spec: string; table: string } {
  const dir = path.join(ws.tmp.dir, `${name}-${++jobs}`);
  fs.mkdirSync(dir);
  if (data !== null) fs.writeFileSync(path.join(dir, 'data.csv'), data);
  const table = `scores.${name.replaceAll('-', '_')}`;
  const spec = writeSpec(dir, `${name}.yaml`, typedSpec({ name, sink: { table }, ...over }));
  return { dir, spec, table };
}

async function cli(args: string[], dir: string) {
  const r = await runCli(args, { cwd: dir, env: { DATABASE_URL: ws.db.url, DEBUG: undefined }, timeoutMs: 30_000 });
  expect(r.signal, `batchinfer ${args.join(' ')} was killed after 30 s; stderr: ${r.stderr}`).toBeNull();
  expect(r.stderr).not.toMatch(stackFrame);
  return r;
}

type Outcome = { run_id: number; status: string; rows_read: number; rows_scored: number; rows_rejected: number; error: string | null };

async function chunkCounts(runId: number) {
  return query<{ chunk: number; planned_rows: string; rows_read: string; status: string }>(ws.db.url, 'SELECT chunk, planned_rows, rows_read, status FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk', [runId]);
}

describe('CSV hostile input, end to end', () => {
  it('a stray quote at row 5000 of 10,000: that row is one reject, the other 9,999 are scored, every chunk reads what was planned', ws.track(async () => {
    const lines = ['id,a,b,c'];
    for (let i = 1; i <= 10_000; i++) lines.push(i === 5000 ? '5000,1,1,"oops' : `${i},1,1,1`);
    const { dir, spec } = job('stray-quote', lines.join('\n') + '\n', { chunk_rows: 1000, max_rejected: 0.01 });
    const r = await cli(['run', spec, '--threads', '2', '--date', '2026-11-10'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^run (\d+) succeeded: 10,000 rows read, 9,999 scored, 1 rejected in /m);
    const runId = Number(/^run (\d+) succeeded/m.exec(r.stdout)![1]);
    const rejects = await query<{ line: string; key: string; reason: string; raw: string }>(ws.db.url, 'SELECT line, key, reason, raw FROM batchinfer.rejects WHERE run_id = $1', [runId]);
    expect(rejects).toEqual([{ line: '5001', key: '5000', reason: 'unterminated quote opened in column "c"', raw: '5000,1,1,"oops' }]);
    const chunks = await chunkCounts(runId);
    expect(chunks).toHaveLength(10);
    for (const c of chunks) expect(c.rows_read, `chunk ${c.chunk}`).toBe(c.planned_rows);
  }));

  it('a NUL in a numeric field, a key or a passthrough value, and a 3,000-byte key: rejects, the run succeeds (and again on a rerun)', ws.track(async () => {
    const long = 'k'.repeat(3000);
    const csv = `id,a,b,c,note\n1,2\0,2,3,x\n2,1,2,3,ok\nk\x003,1,2,3,x\n4,1,2,3,a\0b\n${long},1,2,3,x\n"${long}",1,2,3,x\n7,1,2,3,fine\n`;
    const { dir, spec, table } = job('nul-key', csv, { passthrough: ['note'], max_rejected: 10 });
    for (const date of ['2026-11-11', '2026-11-11']) {
      const r = await cli(['run', spec, '--json', '--threads', '1', '--date', date], dir);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as Outcome;
      expect(out).toMatchObject({ status: 'succeeded', rows_read: 7, rows_scored: 2, rows_rejected: 5 });
      const rejects = await query<{ line: string; reason: string }>(ws.db.url, 'SELECT line, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line', [out.run_id]);
      expect(rejects).toEqual([
        { line: '2', reason: 'non-numeric value "2\u2400" in column "a"' },
        { line: '4', reason: 'NUL byte in column "id"' },
        { line: '5', reason: 'NUL byte in column "note"' },
        { line: '6', reason: 'key is 3000 bytes; the limit is 1000' },
        { line: '7', reason: 'key is 3000 bytes; the limit is 1000' },
      ]);
      const rows = await query<{ id: string }>(ws.db.url, `SELECT id FROM ${table} WHERE run_id = $1 ORDER BY id`, [out.run_id]);
      expect(rows.map((x) => x.id)).toEqual(['2', '7']);
    }
  }));

  // Each refused before a row is read: `validate` and `run` exit 2 with one line naming the file.
  const refusals: Array<{ name: string; setup: () => { data: string | Buffer | null; csvPath?: (dir: string) => string; over?: Record<string, unknown> }; says: RegExp }> = [
    { name: 'cr-only', setup: () => ({ data: 'id,a,b,c\r1,1,1,1\r2,2,2,2\r' }), says: /data\.csv: uses CR-only line endings \(old Mac\/Excel export\); convert to LF or CRLF/ },
    { name: 'dev-zero', setup: () => ({ data: null, csvPath: () => '/dev/zero' }), says: /source\.csv\.path: .*dev\/zero is a device, not a regular file/ },
    {
      name: 'fifo',
      setup: () => ({
        data: null,
        csvPath: (dir) => {
          execFileSync('mkfifo', [path.join(dir, 'pipe.csv')]);
          return 'pipe.csv';
        },
      }),
      says: /source\.csv\.path: pipe\.csv is a named pipe \(FIFO\), not a regular file/,
    },
    {
      name: 'directory',
      setup: () => ({
        data: null,
        csvPath: (dir) => {
          fs.mkdirSync(path.join(dir, 'folder.csv'));
          return 'folder.csv';
        },
      }),
      says: /source\.csv\.path: folder\.csv is a directory, not a regular file/,
    },
    { name: 'long-header', setup: () => ({ data: 'id,a,b,c,' + 'x'.repeat(5 << 20) + '\n1,1,1,1,1\n' }), says: /data\.csv: the header line is longer than 1048576 bytes/ },
    { name: 'dup-header', setup: () => ({ data: 'id,a,b,a\n1,1,1,1\n', over: { inputs: { x: ['a', 'b', 'b'] } } }), says: /inputs\.x\[0\]: column "a" appears 2 times in the header of data\.csv \(columns 2, 4\); rename one/ },
  ];
  for (const c of refusals)
    for (const command of ['validate', 'run'] as const)
      it(`${command} refuses ${c.name}: exit 2, one line naming the file`, ws.track(async () => {
        const { data, csvPath, over } = c.setup();
        const { dir, spec } = job(`${c.name}-${command}`, data, over);
        if (csvPath) writeSpec(dir, path.basename(spec), typedSpec({ name: c.name, sink: { table: `scores.${c.name.replaceAll('-', '_')}` }, source: { csv: { path: csvPath(dir) } }, ...over }));
        const t0 = Date.now();
        const r = await cli(command === 'run' ? ['run', spec, '--threads', '1', '--date', '2026-11-12'] : ['validate', spec, '--date', '2026-11-12'], dir);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(c.says);
        expect(Date.now() - t0).toBeLessThan(15_000);
      }));
});
