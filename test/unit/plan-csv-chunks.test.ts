import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHeader, planCsvChunks, readCsvHeader, type CsvChunkRange } from '../../src/sources/plan-csv-chunks.js';
import type { ChunkRange } from '../../src/sources/source.js';
import { cleanupTmp, makeSpec, readAll, writeCsv, type Row } from './csv-helpers.js';

afterAll(cleanupTmp);

const H = 'id,a,b,c,note\n';
const range = (c: ChunkRange) => c.range as unknown as CsvChunkRange;

/** Ten records, several with newlines (LF and CRLF) and doubled quotes inside quoted fields. */
const QUOTED =
  H +
  '1,1,2,3,"a\nb"\n' + // 2-3
  '2,1,2,3,plain\n' + // 4
  '3,1,2,3,"x\n\ny"\n' + // 5-7
  '4,1,2,3,"q ""\n"" q"\n' + // 8-9
  '5,1,2,3,"c\r\nd"\n' + // 10-11
  '6,1,2,3,"\n"\n' + // 12-13
  '7,1,2,3,e\n' + // 14
  '8,1,2,3,"f,\n,g"\n' + // 15-16
  '9,1,2,3,"""\n"""\n' + // 17-18
  '10,1,2,3,"end\n"'; // 19-20, no final line break, ends on a closing quote
const QUOTED_LINES = [2, 4, 5, 8, 10, 12, 14, 15, 17, 19];

const strip = (rows: Row[]) => rows.map((r) => ({ key: r.key, line: r.line, features: r.features, passthrough: r.passthrough }));

describe('planCsvChunks', () => {
  it('cuts chunks on record boundaries even inside quoted newlines, with the right firstLine', async () => {
    const file = writeCsv(QUOTED);
    const plan = await planCsvChunks(file, 3, 1 << 16);
    expect(plan.header).toEqual(['id', 'a', 'b', 'c', 'note']);
    expect(plan.headerEnd).toBe(H.length);
    expect(plan.fileBytes).toBe(Buffer.byteLength(QUOTED));
    const ranges = plan.chunks.map(range);
    expect(plan.chunks.map((c) => c.chunk)).toEqual([0, 1, 2, 3]);
    expect(ranges[0].startByte).toBe(plan.headerEnd);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i].startByte).toBe(ranges[i - 1].endByte);
    expect(ranges.at(-1)!.endByte).toBe(plan.fileBytes);
    // records 1, 4, 7, 10 start the chunks
    expect(ranges.map((r) => r.firstLine)).toEqual([2, 8, 14, 19]);
    const bytes = Buffer.from(QUOTED);
    expect(ranges.map((r) => bytes.toString('utf8', r.startByte, r.startByte + 2))).toEqual(['1,', '4,', '7,', '10']);
  });

  it('reading chunk by chunk gives exactly the rows of reading the file as one chunk', async () => {
    const file = writeCsv(QUOTED);
    const whole = await readAll(makeSpec(), file);
    expect(whole.chunks).toHaveLength(1);
    expect(whole.rejects).toEqual([]);
    expect(whole.rows.map((r) => r.line)).toEqual(QUOTED_LINES);
    expect(whole.rows.at(-1)!.passthrough).toEqual(['end\n']);
    for (const chunkRows of [1, 2, 3, 4, 9, 10]) {
      const parts = await readAll(makeSpec({ chunkRows }), file);
      expect(parts.chunks).toHaveLength(Math.ceil(10 / chunkRows));
      expect(parts.rejects).toEqual([]);
      expect(strip(parts.rows)).toEqual(strip(whole.rows));
      // each chunk's firstLine is the line of its first row
      expect(parts.chunks.map((c) => range(c).firstLine)).toEqual(QUOTED_LINES.filter((_, i) => i % chunkRows === 0));
    }
  });

  it('counts plannedRows per chunk as the records in it', async () => {
    const withBreak = await planCsvChunks(writeCsv(H + '1,1,1,1,a\n2,1,1,1,b\n3,1,1,1,c\n4,1,1,1,d\n5,1,1,1,e\n'), 3, 1 << 16);
    expect(withBreak.chunks.map((c) => c.plannedRows)).toEqual([3, 2]);
    const without = await planCsvChunks(writeCsv(H + '1,1,1,1,a\n2,1,1,1,b\n3,1,1,1,c\n4,1,1,1,d\n5,1,1,1,e'), 3, 1 << 16);
    expect(without.chunks.map((c) => c.plannedRows)).toEqual([3, 2]);
  });

  it('works with read buffers smaller than a record, for the planner and the reader', async () => {
    const crlf = QUOTED.replaceAll('\n', '\r\n');
    for (const text of [QUOTED, crlf]) {
      const file = writeCsv(text);
      const expected = strip((await readAll(makeSpec(), file)).rows);
      expect(expected).toHaveLength(10);
      const expectedPlan = (await planCsvChunks(file, 3, 1 << 16)).chunks;
      for (const readBytes of [1, 2, 3, 5, 7, 11, 16, 31]) {
        expect((await planCsvChunks(file, 3, readBytes)).chunks).toEqual(expectedPlan);
        const one = await readAll(makeSpec(), file, readBytes);
        expect(one.rejects).toEqual([]);
        expect(strip(one.rows)).toEqual(expected);
        const parts = await readAll(makeSpec({ chunkRows: 3 }), file, readBytes);
        expect(parts.rejects).toEqual([]);
        expect(strip(parts.rows)).toEqual(expected);
      }
    }
  });

  it('agrees with the whole-file read on random CSVs, for any chunk size and read size', async () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['a', ',', '"', '\n', '\r\n', ' ', 'é', '日'];
    for (let iter = 0; iter < 60; iter++) {
      const nl = rand(2) ? '\r\n' : '\n';
      const expected: Array<[string, number, string]> = [];
      let text = H.replace('\n', nl);
      let line = 2;
      const n = 1 + rand(12);
      for (let k = 0; k < n; k++) {
        if (rand(5) === 0) (text += nl), line++; // blank line
        let note = '';
        for (let j = rand(6); j > 0; j--) note += pieces[rand(pieces.length)];
        const quoted = rand(2) === 1 || /[",\r\n]/.test(note);
        text += `k${k},${rand(100)},1.5,-2,${quoted ? `"${note.replaceAll('"', '""')}"` : note}`;
        expected.push([`k${k}`, line, note]);
        line += 1 + (note.match(/\n/g)?.length ?? 0);
        if (k < n - 1 || rand(2)) text += nl;
      }
      const file = writeCsv(text);
      const chunkRows = 1 + rand(4);
      const readBytes = 1 + rand(24);
      const got = await readAll(makeSpec({ chunkRows }), file, readBytes);
      expect(got.rejects, `iteration ${iter}: ${JSON.stringify(text)}`).toEqual([]);
      expect(
        got.rows.map((r) => [r.key, r.line, r.passthrough[0]]),
        `iteration ${iter} (chunk_rows ${chunkRows}, readBytes ${readBytes}): ${JSON.stringify(text)}`,
      ).toEqual(expected);
      fs.rmSync(file);
    }
  });

  it('keeps chunks on record boundaries when an unquoted field holds a stray quote', async () => {
    // The reader takes 5" as literal text; the planner must not treat that quote as opening a quoted field.
    const text = H + '1,1,2,3,5" tall\n2,1,2,3,"x\ny"\n3,1,2,3,z\n4,1,2,3,w\n';
    const file = writeCsv(text);
    const whole = await readAll(makeSpec(), file);
    const parts = await readAll(makeSpec({ chunkRows: 1 }), file);
    expect(whole.rows.map((r) => r.key)).toEqual(['1', '2', '3', '4']);
    expect(strip(parts.rows)).toEqual(strip(whole.rows));
    expect(parts.rejects).toEqual(whole.rejects);
  });

  it('plans an empty file and a header-only file as zero chunks', async () => {
    const empty = await planCsvChunks(writeCsv(''), 3, 1 << 16);
    expect(empty).toEqual({ header: [], headerEnd: 0, fileBytes: 0, chunks: [] });
    for (const text of [H, H.trimEnd(), 'id,a,b,c,note\r\n']) {
      const plan = await planCsvChunks(writeCsv(text), 3, 4);
      expect(plan.header).toEqual(['id', 'a', 'b', 'c', 'note']);
      expect(plan.headerEnd).toBe(text.length);
      expect(plan.chunks).toEqual([]);
    }
    const { rows, chunks } = await readAll(makeSpec(), writeCsv(H));
    expect(chunks).toEqual([]);
    expect(rows).toEqual([]);
  });
});

describe('header parsing', () => {
  it('parseHeader strips the BOM and line break and honours quotes', () => {
    expect(parseHeader(Buffer.from('\uFEFF"id","a,b","say ""hi""",c\r\n'))).toEqual(['id', 'a,b', 'say "hi"', 'c']);
    expect(parseHeader(Buffer.from(''))).toEqual([]);
    expect(parseHeader(Buffer.from('only\n'))).toEqual(['only']);
  });

  it('readCsvHeader reads just the header record, even with a quoted newline in it', async () => {
    const file = writeCsv('\uFEFFid,"multi\nline",c\n1,2,3\n');
    expect(await readCsvHeader(file)).toEqual(['id', 'multi\nline', 'c']);
    const plan = await planCsvChunks(file, 10, 3);
    expect(plan.header).toEqual(['id', 'multi\nline', 'c']);
    expect(plan.chunks.map((c) => range(c).firstLine)).toEqual([3]);
    expect(await readCsvHeader(writeCsv('x,y'))).toEqual(['x', 'y']);
  });
});

describe('chunks of ids in order as text keys, marked to score last', () => {
  const ids = (from: number, to: number, key = (i: number) => String(i)) => {
    let s = 'x,id,f\n';
    for (let i = from; i <= to; i++) s += `${i % 7},${key(i)},0.5\n`;
    return s;
  };
  const marked = (chunks: ChunkRange[]) => chunks.filter((c) => c.scoreLast).map((c) => c.chunk);

  it('marks the chunks whose first id is shorter than the ids at the end of the file', async () => {
    // ids 1..20,000 in chunks of 1,000: chunks 0-9 start with 1 to 4 digits, the file ends with 5
    const plan = await planCsvChunks(writeCsv(ids(1, 20_000)), 1000, 1 << 16, { textKeyColumn: 1 });
    expect(plan.chunks).toHaveLength(20);
    expect(marked(plan.chunks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // the same plan otherwise: rows and ranges as without the hint
    const plain = await planCsvChunks(writeCsv(ids(1, 20_000)), 1000, 1 << 16);
    expect(plan.chunks.map((c) => [c.range, c.plannedRows])).toEqual(plain.chunks.map((c) => [c.range, c.plannedRows]));
    expect(marked(plain.chunks)).toEqual([]);
  });

  it('marks nothing for keys of one length (UUID-like), a small file, or a key it cannot read plainly', async () => {
    const fixed = (i: number) => `k-${String(i).padStart(8, '0')}`;
    expect(marked((await planCsvChunks(writeCsv(ids(1, 20_000, fixed)), 1000, 1 << 16, { textKeyColumn: 1 })).chunks)).toEqual([]);
    expect(marked((await planCsvChunks(writeCsv(ids(1, 3_000)), 1000, 1 << 16, { textKeyColumn: 1 })).chunks)).toEqual([]);
    // quoted keys: no hint (the hint is only for plain records)
    expect(marked((await planCsvChunks(writeCsv(ids(1, 20_000, (i) => `"${i}"`)), 1000, 1 << 16, { textKeyColumn: 1 })).chunks)).toEqual([]);
  });
});
