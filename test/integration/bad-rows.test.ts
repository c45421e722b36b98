import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/database.js';
import { runCli } from '../support/cli.js';
import { testWorkspace, stackFrame, typedSpec, writeSpec } from '../support/jobs.js';

/**
 * One CSV with every kind of bad row, quoted newlines, CRLF line ends and a UTF-8 BOM, split into
 * chunks of 5 records. `bad` is the reject reason expected (null: scored); `quoted` marks a note that
 * is written as a quoted field; `eol` is the record's line ending.
 */
interface Rec { key: string; a: string; b: string; c: string; note: string; extra?: string[]; bad: string | null; quoted?: boolean; eol: string; text?: string }
const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
const records: Rec[] = [
  // chunk 0
  { key: 'g1', a: '1', b: '2', c: '3', note: 'plain', bad: null, eol: '\n' },
  { key: 'g2', a: '1', b: '2', c: '4', note: 'ünï 日本語 🎉 ключ', bad: null, eol: '\n' },
  { key: 'g3', a: '1', b: '2', c: '5', note: 'she said "hi, there", then left', quoted: true, bad: null, eol: '\n' },
  { key: 'g1', a: '9', b: '9', c: '9', note: 'dup in chunk', bad: 'duplicate key "g1" (already seen in this run)', eol: '\n' },
  { key: 'g4', a: '1', b: '2', c: '6', note: 'line one\nline two\n', quoted: true, bad: null, eol: '\n' },
  // chunk 1
  { key: 'b1', a: '', b: '2', c: '3', note: 'x', bad: 'empty value in column "a"', eol: '\n' },
  { key: 'b2', a: '1', b: 'abc', c: '3', note: 'x', bad: 'non-numeric value "abc" in column "b"', eol: '\n' },
  { key: 'b3', a: '1', b: '2', c: 'NaN', note: 'x', bad: 'non-finite value "NaN" in column "c"', eol: '\n' },
  { key: 'b4', a: '-inf', b: '2', c: '3', note: 'x', bad: 'non-finite value "-inf" in column "a"', eol: '\n' },
  { key: 'g5-ü', a: '1', b: '2', c: '7', note: 'tab\there back\\slash C:\\path\\', bad: null, eol: '\n' },
  // chunk 2
  { key: 'b5', a: '1', b: '2', c: '', note: '', text: 'b5,1,2', bad: 'expected 5 fields, found 3', eol: '\n' },
  { key: 'b6', a: '1', b: '2', c: '3', note: 'x', extra: ['extra'], bad: 'expected 5 fields, found 6', eol: '\n' },
  { key: 'g6', a: '1', b: '2', c: '8', note: '  padded, with comma  ', quoted: true, bad: null, eol: '\n' },
  { key: 'g2', a: '5', b: '5', c: '5', note: 'second g2', bad: 'duplicate key "g2" (already seen in this run)', eol: '\n' },
  { key: '', a: '1', b: '2', c: '3', note: 'no key', bad: 'empty key column "id"', eol: '\n' },
  // chunk 3: CRLF
  { key: 'g7', a: '1.5', b: '2.5', c: '3.5', note: '  lead and trail  ', bad: null, eol: '\r\n' },
  { key: 'g8', a: '1', b: '2', c: '9', note: 'crlf inside\r\nquoted', quoted: true, bad: null, eol: '\r\n' },
  { key: 'g9', a: '1', b: '2', c: '10', note: '', bad: null, eol: '\r\n' },
  { key: 'g10', a: '1e1', b: '-2', c: '0.25', note: 'x\ty', quoted: true, bad: null, eol: '\r\n' },
  { key: 'b7', a: '1', b: '2', c: '1e39', note: 'x', bad: 'value "1e39" in column "c" overflows float32', eol: '\r\n' },
  // chunk 4: no final line break
  { key: 'g11', a: '1', b: '2', c: '3', note: 'last, no newline', quoted: true, bad: null, eol: '' },
];

/** The file as bytes, and the line each record starts on (header is line 1). */
function buildCsv(recs: Rec[]): { file: Buffer; lines: number[]; texts: string[] } {
  let line = 2;
  const lines: number[] = [];
  const texts: string[] = [];
  const parts = [Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id,a,b,c,note\r\n')];
  for (const r of recs) {
    const text = r.text ?? [r.key, r.a, r.b, r.c, r.quoted ? q(r.note) : r.note, ...(r.extra ?? [])].join(',');
    lines.push(line);
    texts.push(text);
    line += (text + r.eol).split('\n').length - 1;
    parts.push(Buffer.from(text + r.eol, 'utf8'));
  }
  return { file: Buffer.concat(parts), lines, texts };
}

/** Index of the record repeating g2's key in another chunk. */
const CROSS = 13;
/** With crossDup false, record 13 gets a key of its own (a good row): everything else is the same file. */
function scenario(crossDup: boolean) {
  const recs = crossDup ? records : records.map((r, i) => (i === CROSS ? { ...r, key: 'g12', bad: null } : r));
  return { recs, ...buildCsv(recs) };
}

const ws = testWorkspace('bad-rows');

/** Score a file through the CLI (killed after 20 s, so a hang fails this test instead of the suite). */
async function cliRun(name: string, file: Buffer, maxRejected: number, date: string) {
  const dir = path.join(ws.tmp.dir, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'data.csv'), file);
  const specPath = writeSpec(dir, `${name}.yaml`, typedSpec({ name, passthrough: ['note'], sink: { table: `scores.${name.replaceAll('-', '_')}` }, batch_size: 2, chunk_rows: 5, max_rejected: maxRejected }));
  const cli = await runCli(['run', specPath, '--json', '--threads', '2', '--date', date], { cwd: dir, env: { DATABASE_URL: ws.db.url }, timeoutMs: 20_000 });
  expect(cli.signal, `batchinfer run ${name} did not finish in 20 s (killed); stderr: ${cli.stderr}`).toBeNull();
  expect(cli.stderr).not.toMatch(stackFrame);
  const out = JSON.parse(cli.stdout.trim()) as { run_id: number; status: string; rows_read: number; rows_scored: number; rows_rejected: number; chunks_total: number; chunks_done: number; error: string | null; resumed: boolean };
  return { cli, out, table: `scores.${name.replaceAll('-', '_')}` };
}

describe('bad rows', () => {
  it('the generator agrees with a hand count of lines', () => {
    const { file, lines } = scenario(true);
    expect(file.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect([lines[3], lines[4], lines[5], lines[15], lines[16], lines[17], lines[20]]).toEqual([5, 6, 9, 19, 20, 22, 25]);
  });

  for (const crossDup of [true, false]) {
    it(`rejects each bad row with its line and reason, scores the rest byte for byte, counts add up (${crossDup ? 'with' : 'without'} a key repeated across chunks)`, ws.track(async () => {
      const { recs, file, lines, texts } = scenario(crossDup);
      const total = recs.length;
      const nRejected = recs.filter((r) => r.bad !== null).length;
      const { cli, out, table } = await cliRun(crossDup ? 'bad-cross' : 'bad-local', file, 10, '2026-11-02');
      expect(cli.code, cli.stderr).toBe(0);
      expect(out).toMatchObject({ status: 'succeeded', error: null, chunks_total: 5, chunks_done: 5, rows_read: total, rows_scored: total - nRejected, rows_rejected: nRejected });
      expect(out.rows_scored + out.rows_rejected).toBe(out.rows_read);

      const [run] = await query(ws.db.url, 'SELECT status, rows_read, rows_scored, rows_rejected FROM batchinfer.runs WHERE run_id = $1', [out.run_id]);
      expect(run).toEqual({ status: 'succeeded', rows_read: String(total), rows_scored: String(total - nRejected), rows_rejected: String(nRejected) });
      const chunks = await query<{ status: string; rows_read: string; rows_scored: string; rows_rejected: string }>(ws.db.url, 'SELECT status, rows_read, rows_scored, rows_rejected FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk', [out.run_id]);
      expect(chunks.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done', 'done']);
      expect(chunks.map((c) => Number(c.rows_read))).toEqual([5, 5, 5, 5, 1]);
      for (const c of chunks) expect(Number(c.rows_scored) + Number(c.rows_rejected)).toBe(Number(c.rows_read));
      const sum = (k: 'rows_scored' | 'rows_rejected') => chunks.reduce((n, c) => n + Number(c[k]), 0);
      expect([sum('rows_scored'), sum('rows_rejected')]).toEqual([total - nRejected, nRejected]);

      // Rejects: each parse reject with its chunk, line, reason, key and raw text; g2's repeat in another chunk on one of its two lines.
      const rejects = await query<{ chunk: number; line: string; key: string | null; reason: string; raw: string }>(ws.db.url, 'SELECT chunk, line, key, reason, raw FROM batchinfer.rejects WHERE run_id = $1 ORDER BY line', [out.run_id]);
      expect(rejects).toHaveLength(nRejected);
      let g2Lost = -1;
      if (crossDup) {
        const g2 = rejects.filter((r) => r.key === 'g2');
        expect(g2).toHaveLength(1);
        expect([lines[1], lines[CROSS]]).toContain(Number(g2[0].line));
        expect(g2[0].reason).toBe('duplicate key "g2" (already seen in this run)');
        g2Lost = Number(g2[0].line) === lines[1] ? 1 : CROSS;
      }
      const expected = recs
        .map((r, i) => ({ r, i }))
        .filter(({ r, i }) => r.bad !== null && !(crossDup && i === CROSS))
        .map(({ r, i }) => ({ chunk: Math.floor(i / 5), line: String(lines[i]), key: r.key === '' ? null : r.key, reason: r.bad, raw: texts[i] }));
      expect(rejects.filter((r) => r.key !== 'g2')).toEqual(expected);

      // Scored rows: the right keys and sums, passthrough bytes identical to the file's.
      const rows = await query<{ id: string; note: Buffer; s: number; run_id: string }>(ws.db.url, `SELECT id, convert_to(note, 'UTF8') AS note, s, run_id FROM ${table} ORDER BY id`);
      const want = recs.filter((r, i) => (r.bad === null || (crossDup && i === CROSS)) && i !== g2Lost);
      expect(rows.map((r) => r.id).sort()).toEqual(want.map((r) => r.key).sort());
      for (const r of want) {
        const row = rows.find((x) => x.id === r.key)!;
        if (!r.quoted) expect(file.includes(Buffer.from(`,${r.note}${r.eol}`, 'utf8'))).toBe(true);
        expect(Buffer.isBuffer(row.note)).toBe(true);
        expect(row.note.equals(Buffer.from(r.note, 'utf8')), `note of ${r.key}: ${JSON.stringify(row.note.toString())} vs ${JSON.stringify(r.note)}`).toBe(true);
        expect(Math.abs(row.s - (Number(r.a) + Number(r.b) + Number(r.c)))).toBeLessThan(1e-5);
        expect(row.run_id).toBe(String(out.run_id));
      }
    }));
  }

  it('with max_rejected: 0 the same file fails (exit 1), quoting the first reasons with their lines', ws.track(async () => {
    const { recs, file, lines } = scenario(true);
    const nRejected = recs.filter((r) => r.bad !== null).length;
    const { cli, out } = await cliRun('bad-strict', file, 0, '2026-11-03');
    expect(cli.code, cli.stderr).toBe(1);
    expect(out).toMatchObject({ status: 'failed', rows_read: recs.length, rows_rejected: nRejected, chunks_done: 5, resumed: false });
    expect(out.error).toContain(`${nRejected} of ${recs.length} rows rejected, over max_rejected 0 (0 allowed)`);
    // The first reasons (by chunk, line) are quoted; the in-chunk duplicate of g1 is always among them.
    expect(out.error).toContain(`line ${lines[3]}: duplicate key "g1" (already seen in this run)`);
    const first = await query<{ line: string; reason: string }>(ws.db.url, 'SELECT line, reason FROM batchinfer.rejects WHERE run_id = $1 ORDER BY chunk, line LIMIT 3', [out.run_id]);
    expect(first).toHaveLength(3);
    for (const r of first) expect(out.error).toContain(`line ${r.line}: ${r.reason}`);
    const [run] = await query(ws.db.url, 'SELECT status, error FROM batchinfer.runs WHERE run_id = $1', [out.run_id]);
    expect(run).toEqual({ status: 'failed', error: out.error });
  }));
});
