import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { cleanupTmp, makeSpec, readAll, rejectSummary, source, writeCsv } from './csv-helpers.js';

afterAll(cleanupTmp);

const H = 'id,a,b,c,note\n';
const f32 = (x: number) => Math.fround(x);

describe('CsvSource: RFC 4180 records', () => {
  it('reads quoted fields (commas, doubled quotes, LF and CRLF inside quotes) with the line each record starts on', async () => {
    const csv =
      H +
      '1,1.5,2,3,"hello, world"\n' + // line 2
      '2,0.1,-2e3,.5,"she said ""hi"""\n' + // 3
      '3,1,2,3,"line1\nline2"\n' + // 4-5
      '4,1,2,3,"crlf1\r\ncrlf2"\n' + // 6-7
      '5,1,2,3,tab\there back\\slash\n' + // 8
      '6,1,2,3,"ünïcødé 日本 🎉"\n' + // 9
      '7,1,2,3,\n' + // 10
      '8,1,2,3,"a,""b"",\nc"\n' + // 11-12
      '9,"4.25",5.,-0,plain\n'; // 13
    const spec = makeSpec();
    const { rows, rejects } = await readAll(spec, writeCsv(csv));
    expect(rejects).toEqual([]);
    expect(rows.map((r) => r.key)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(rows.map((r) => r.line)).toEqual([2, 3, 4, 6, 8, 9, 10, 11, 13]);
    expect(rows.map((r) => r.passthrough[0])).toEqual([
      'hello, world',
      'she said "hi"',
      'line1\nline2',
      'crlf1\r\ncrlf2',
      'tab\there back\\slash',
      'ünïcødé 日本 🎉',
      '',
      'a,"b",\nc',
      'plain',
    ]);
    expect(rows[0].features).toEqual([[1.5, 2, 3]]);
    expect(rows[1].features).toEqual([[f32(0.1), -2000, 0.5]]);
    expect(rows[8].features[0]).toEqual([4.25, 5, -0]);
  });

  it('handles CRLF line endings, a UTF-8 BOM, blank CRLF lines and a last line without a line break', async () => {
    const csv = '\uFEFFid,a,b,c,note\r\n1,1,2,3,x\r\n2,4,5,6,"q"\r\n\r\n3,7,8,9,last';
    const spec = makeSpec();
    const src = source(spec, writeCsv(csv));
    expect((await src.header()).names).toEqual(['id', 'a', 'b', 'c', 'note']);
    const { rows, rejects } = await readAll(spec, writeCsv(csv));
    expect(rejects).toEqual([]);
    expect(rows).toEqual([
      { key: '1', line: 2, features: [[1, 2, 3]], passthrough: ['x'] },
      { key: '2', line: 3, features: [[4, 5, 6]], passthrough: ['q'] },
      { key: '3', line: 5, features: [[7, 8, 9]], passthrough: ['last'] },
    ]);
  });

  it('skips blank lines but counts them', async () => {
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(H + '\n1,1,2,3,x\n\n\n2,1,2,3,y\n\n'));
    expect(rejects).toEqual([]);
    expect(rows.map((r) => [r.key, r.line])).toEqual([
      ['1', 3],
      ['2', 6],
    ]);
  });

  it('parses features to the float32 of the decimal text', async () => {
    const values = ['3.141592653589793', '-1e-7', '123456789', '1e38', '-3.4028234e38', '0.30000000000000004', '+7', '1E-45', '  2.5  '];
    const lines = values.map((v, i) => `${i},${v},${v},"${v}",n`).join('\n');
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(H + lines + '\n'));
    expect(rejects).toEqual([]);
    expect(rows.map((r) => r.features[0])).toEqual(values.map((v) => [f32(Number(v)), f32(Number(v)), f32(Number(v))]));
  });

  it('rejects each bad record with its starting line, key, reason and raw text', async () => {
    const csv =
      H +
      '1,1,2,3,ok\n' + // 2
      '2,,2,3,x\n' + // 3
      '3,1,abc,3,x\n' + // 4
      '4,1,2,nan,x\n' + // 5
      '5,inf,2,3,x\n' + // 6
      '6,-Infinity,2,3,x\n' + // 7
      '7,1e39,2,3,x\n' + // 8
      '8,1,2,3\n' + // 9
      '9,1,2,3,x,y\n' + // 10
      '1,1,2,3,dup\n' + // 11
      ',1,2,3,x\n' + // 12
      '12,1,2,zz,"multi\nline"\n' + // 13-14
      '13,1,"2"x,3,x\n' + // 15
      '14,1,2,3,fine\n' + // 16
      '15,1,2,3,"unterminated\nmore\n'; // 17-19 (EOF inside quotes: line 17 is one reject, line 18 a record of its own)
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(csv));
    expect(rows.map((r) => [r.key, r.line])).toEqual([
      ['1', 2],
      ['14', 16],
    ]);
    expect(rejects).toEqual([
      { line: 3, key: '2', reason: 'empty value in column "a"', raw: '2,,2,3,x' },
      { line: 4, key: '3', reason: 'non-numeric value "abc" in column "b"', raw: '3,1,abc,3,x' },
      { line: 5, key: '4', reason: 'non-finite value "nan" in column "c"', raw: '4,1,2,nan,x' },
      { line: 6, key: '5', reason: 'non-finite value "inf" in column "a"', raw: '5,inf,2,3,x' },
      { line: 7, key: '6', reason: 'non-finite value "-Infinity" in column "a"', raw: '6,-Infinity,2,3,x' },
      { line: 8, key: '7', reason: 'value "1e39" in column "a" overflows float32', raw: '7,1e39,2,3,x' },
      { line: 9, key: '8', reason: 'expected 5 fields, found 4', raw: '8,1,2,3' },
      { line: 10, key: '9', reason: 'expected 5 fields, found 6', raw: '9,1,2,3,x,y' },
      { line: 11, key: '1', reason: 'duplicate key "1" (already seen in this run)', raw: '1,1,2,3,dup' },
      { line: 12, key: null, reason: 'empty key column "id"', raw: ',1,2,3,x' },
      { line: 13, key: '12', reason: 'non-numeric value "zz" in column "c"', raw: '12,1,2,zz,"multi\nline"' },
      { line: 15, key: '13', reason: 'malformed quoted field 3: text after the closing quote', raw: '13,1,"2"x,3,x' },
      { line: 17, key: '15', reason: 'unterminated quote opened in column "note"', raw: '15,1,2,3,"unterminated' },
      { line: 18, key: 'more', reason: 'expected 5 fields, found 1', raw: 'more' },
    ]);
  });

  it('keeps line numbers right with CRLF endings and rejects', async () => {
    const csv = 'id,a,b,c,note\r\n1,1,2,3,"a\r\nb"\r\n2,x,2,3,n\r\n3,1,2,3,n\r\n';
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(csv));
    expect(rows.map((r) => [r.key, r.line, r.passthrough[0]])).toEqual([
      ['1', 2, 'a\r\nb'],
      ['3', 5, 'n'],
    ]);
    expect(rejects).toEqual([{ line: 4, key: '2', reason: 'non-numeric value "x" in column "a"', raw: '2,x,2,3,n' }]);
  });

  it('names the unterminated quote even when it is not in the last field, and reads on at the next line', async () => {
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(H + '1,1,2,3,ok\n2,1,"2,3,x\n3,1,2,3,y\n'));
    expect(rows.map((r) => r.key)).toEqual(['1', '3']);
    expect(rejects).toEqual([{ line: 3, key: '2', reason: 'unterminated quote opened in column "b"', raw: '2,1,"2,3,x' }]);
  });

  it('reads a last record that ends on a closing quote with no line break, at any read size', async () => {
    // After the header: a 17-byte record with a quote at offset 11, then an 11-byte record ending in a quote at EOF.
    const file = writeCsv(H + '1,1,2,3,"ab""cd"\n2,1,2,3,"e"');
    for (let readBytes = 1; readBytes <= 40; readBytes++) {
      const { rows, rejects } = await readAll(makeSpec(), file, readBytes);
      expect(rejects, `readBytes ${readBytes}`).toEqual([]);
      expect(rows.map((r) => [r.key, r.passthrough[0]])).toEqual([
        ['1', 'ab"cd'],
        ['2', 'e'],
      ]);
    }
  });

  it('checks keys against key_type bigint', async () => {
    const keys = ['12', '-9223372036854775808', '9223372036854775807', '9223372036854775808', '1.0', 'abc', ' 5', '0x1f'];
    const csv = H + keys.map((k) => `"${k}",1,2,3,n`).join('\n') + '\n';
    const { rows, rejects } = await readAll(makeSpec({ keyType: 'bigint' }), writeCsv(csv));
    expect(rows.map((r) => r.key)).toEqual(['12', '-9223372036854775808', '9223372036854775807']);
    expect(rejectSummary(rejects)).toEqual(
      ['9223372036854775808', '1.0', 'abc', ' 5', '0x1f'].map((k) => ({ line: keys.indexOf(k) + 2, reason: `key "${k}" is not a 64-bit integer (key_type: bigint)` })),
    );
  });

  it('reads plain decimals of any digit count on the fast path exactly as Number() does (rounded to float32)', async () => {
    const values = ['0', '-0', '7', '123456789', '1234567890', '0.000123456', '-0.0000000001234', '9007199254740991', '9007199254740993',
      '12345.678901234', '0.1', '-1.5', '999999999.9', '2147483647', '2147483648', '4294967296.25', '1.00000000000000000000001'];
    const rows = [];
    for (let i = 0; i < values.length; i += 3) rows.push([values[i], values[i + 1] ?? '1', values[i + 2] ?? '2']);
    const csv = H + rows.map((r, i) => `${i + 1},${r.join(',')},n`).join('\n') + '\n';
    const got = await readAll(makeSpec({ keyType: 'bigint' }), writeCsv(csv));
    expect(got.rejects).toEqual([]);
    expect(got.rows.map((r) => r.features[0])).toEqual(rows.map((r) => r.map((v) => f32(Number(v)))));
  });

  it('reads random decimals (signs, 0-12 integer and 0-24 fraction digits) as Number() does, at any read size', async () => {
    // The fast path reads a fraction four bytes at a time: every length, every position in the word, words
    // cut by the end of the read window (small reads) and the last bytes of the file.
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const digits = (n: number) => Array.from({ length: n }, () => String(rand(10))).join('');
    const value = () => {
      const int = digits(rand(13));
      const frac = rand(4) === 0 ? '' : '.' + digits(rand(25));
      const v = ['', '', '-', '+'][rand(4)] + (int === '' && frac.length < 2 ? '0' : int) + frac;
      return v;
    };
    const rows = Array.from({ length: 1500 }, () => [value(), value(), value()]);
    const csv = H + rows.map((r, i) => `${i + 1},${r.join(',')},n${i % 7 === 0 ? '\r' : ''}`).join('\n');
    for (const readBytes of [1 << 16, 97, 61]) {
      const got = await readAll(makeSpec(), writeCsv(csv), readBytes);
      expect(got.rejects).toEqual([]);
      expect(got.rows.map((r) => r.features[0])).toEqual(rows.map((r) => r.map((v) => f32(Number(v)))));
    }
  });

  it('treats spellings of one bigint key as one key, whichever parser path reads them', async () => {
    // '7' and '0' take the whole-record fast path; '007', '+7', '-0' the general one; 16+ digits stay text.
    const keys = ['7', '0', '123456789012345', '1234567890123456', '007', '+7', '-0', '01234567890123456', '-123456789012345'];
    const csv = H + keys.map((k) => `${k},1,2,3,n`).join('\n') + '\n';
    const { rows, rejects } = await readAll(makeSpec({ keyType: 'bigint' }), writeCsv(csv));
    expect(rows.map((r) => r.key)).toEqual(['7', '0', '123456789012345', '1234567890123456', '-123456789012345']);
    expect(rejectSummary(rejects)).toEqual([
      { line: 6, reason: 'duplicate key "7" (already seen in this run)' },
      { line: 7, reason: 'duplicate key "7" (already seen in this run)' },
      { line: 8, reason: 'duplicate key "0" (already seen in this run)' },
      { line: 9, reason: 'duplicate key "1234567890123456" (already seen in this run)' },
    ]);
  });

  it('rejects invalid UTF-8 and NUL bytes in passthrough columns, not in ignored ones', async () => {
    const csv = Buffer.concat([
      Buffer.from('id,a,b,c,note,junk\n'),
      Buffer.from('1,1,2,3,ab'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('cd,x\n2,1,2,3,\uFFFD ok,x\n3,1,2,3,ok,'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('\n4,1,2,3,a\0b,x\n'),
    ]);
    const { rows, rejects } = await readAll(makeSpec(), writeCsv(csv));
    expect(rows.map((r) => [r.key, r.passthrough[0]])).toEqual([
      ['2', '\uFFFD ok'],
      ['3', 'ok'],
    ]);
    expect(rejectSummary(rejects)).toEqual([
      { line: 2, reason: 'invalid UTF-8 in column "note"' },
      { line: 5, reason: 'NUL byte in column "note"' },
    ]);
    expect(rejects[0].key).toBe('1');
  });

  it('yields batches of at most batch_size rows', async () => {
    const csv = H + Array.from({ length: 5 }, (_, i) => `${i},${i},1,1,n`).join('\n') + '\n';
    const { rows, batchSizes } = await readAll(makeSpec({ batchSize: 2 }), writeCsv(csv));
    expect(batchSizes).toEqual([2, 2, 1]);
    expect(rows.map((r) => r.features[0][0])).toEqual([0, 1, 2, 3, 4]);
  });

  it('feeds a column to several inputs and positions, and a feature may also be passed through', async () => {
    const spec = makeSpec({
      inputs: [
        { name: 'p', columns: ['c', 'a'] },
        { name: 'q', columns: ['a'] },
      ],
      passthrough: ['b', 'note'],
    });
    const { rows } = await readAll(spec, writeCsv(H + '1,10,20.5,30,n\n'));
    expect(rows).toEqual([{ key: '1', line: 2, features: [[30, 10], [10]], passthrough: ['20.5', 'n'] }]);
  });

  it('reports every spec column missing from the header, and an empty file', async () => {
    const src = source(makeSpec({ passthrough: ['note', 'extra'] }), writeCsv('id,a,c,note\n1,1,2,n\n'));
    const err = await src.plan().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    const lines = (err as Error).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^unit\.yaml: inputs\.x\[1\]: column "b" is not in .*\(its columns: id, a, c, note\)$/);
    expect(lines[1]).toMatch(/^unit\.yaml: passthrough\[1\]: column "extra" is not in /);
    await expect(source(makeSpec(), writeCsv('')).plan()).rejects.toThrow(/the file is empty/);
  });
});
