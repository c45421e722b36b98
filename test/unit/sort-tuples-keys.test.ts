import { describe, expect, it } from 'vitest';
import { CopyWriter } from '../../src/sink/copy-binary.js';
import { keyOfTuple, sortTuplesByKey, tuplesAscend } from '../../src/sink/sort-tuples.js';

/** Decode binary COPY tuples to [key, rest] as text. */
function rows(buf: Buffer): [string, string][] {
  const out: [string, string][] = [];
  for (let p = 0; p < buf.length; ) {
    const n = buf.readInt16BE(p);
    p += 2;
    const fields: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readInt32BE(p);
      p += 4;
      fields.push(len < 0 ? 'NULL' : buf.subarray(p, p + len).toString('utf8'));
      p += Math.max(len, 0);
    }
    out.push([fields[0], fields.slice(1).join('|')]);
  }
  return out;
}

/** Tuples (key, a text value of varying width, a NULL, an int) through a tracking writer. */
function encode(keys: string[]): CopyWriter {
  const w = new CopyWriter(8); // grows while writing
  w.trackTuples();
  keys.forEach((k, i) => {
    w.tupleStart(4);
    w.text(k);
    w.text('v'.repeat(i % 7) + i);
    w.null();
    w.int4(i);
  });
  return w;
}

const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('sortTuplesByKey', () => {
  it('puts tuples in the bytewise order of their keys (COLLATE "C"), each tuple whole', () => {
    // equal 4-byte prefixes, shorter keys, multi-byte UTF-8, an empty key
    const keys = ['b0c', 'abcd2', 'abcd10', 'abcd1', 'abc', '', 'ä1', 'Zed', 'zz', 'abcd', '9', '10', 'a\u00e9', 'ab'];
    const w = encode(keys);
    const before = rows(w.buf.subarray(0, w.pos));
    w.ensure(w.pos);
    const sorted = sortTuplesByKey(w.buf, w.pos, w.tupleStarts!, w.tuples);
    expect(sorted.length).toBe(w.pos);
    const after = rows(sorted);
    expect(after.map(([k]) => k)).toEqual([...keys].sort(bytewise));
    // every tuple kept its own fields
    expect(new Map(after)).toEqual(new Map(before));
  });

  it('sorts 50,000 random UUID-like keys like Buffer.compare, and leaves ascending keys where they are', () => {
    let seed = 7;
    const rnd = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    const keys = Array.from({ length: 50_000 }, () => `${rnd().toString(16).padStart(8, '0')}-${rnd().toString(16)}`);
    keys.push('00000000-1', '00000000-0', '00000000'); // equal prefixes after the native sort
    const w = encode(keys);
    w.ensure(w.pos);
    const sorted = sortTuplesByKey(w.buf, w.pos, w.tupleStarts!, w.tuples);
    expect(sorted.byteOffset).not.toBe(w.buf.byteOffset);
    expect(rows(sorted).map(([k]) => k)).toEqual([...keys].sort(bytewise));

    const ids = Array.from({ length: 1000 }, (_, i) => String(100_000 + i));
    const v = encode(ids);
    v.ensure(v.pos);
    const same = sortTuplesByKey(v.buf, v.pos, v.tupleStarts!, v.tuples);
    expect(same.byteOffset).toBe(v.buf.byteOffset); // nothing copied
    expect(rows(same).map(([k]) => k)).toEqual(ids);
  });

  it('more than 65,536 tuples (5 prefix bytes beside a 24-bit index), short keys and ties', () => {
    let seed = 3;
    const rnd = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    const keys = Array.from({ length: 70_000 }, (_, i) => `${(rnd() % 5000).toString(36)}-${i}`);
    const w = encode(keys);
    w.ensure(w.pos);
    expect(rows(sortTuplesByKey(w.buf, w.pos, w.tupleStarts!, w.tuples)).map(([k]) => k)).toEqual([...keys].sort(bytewise));
  });

  it('tells whether keys ascend as ids do (shorter first, then bytewise), also after the last key already sent', () => {
    const w = encode(['9', '10', '11']);
    expect(tuplesAscend(w.buf, w.tupleStarts!, w.tuples, undefined)).toBe(true);
    expect(keyOfTuple(w.buf, w.tupleStarts![2]).toString()).toBe('11');
    expect(tuplesAscend(w.buf, w.tupleStarts!, w.tuples, Buffer.from('8'))).toBe(true);
    expect(tuplesAscend(w.buf, w.tupleStarts!, w.tuples, Buffer.from('100'))).toBe(false);
    const d = encode(['10', '9']);
    expect(tuplesAscend(d.buf, d.tupleStarts!, d.tuples, undefined)).toBe(false);
    const u = encode(['b1', 'a2']);
    expect(tuplesAscend(u.buf, u.tupleStarts!, u.tuples, undefined)).toBe(false);
  });

  it('a writer that takes its bytes starts counting tuples over', () => {
    const w = encode(['a', 'b']);
    expect(w.tuples).toBe(2);
    w.take();
    expect(w.tuples).toBe(0);
    w.tupleStart(1);
    w.text('c');
    expect(w.tupleStarts![0]).toBe(0);
  });
});
