import { describe, expect, it } from 'vitest';
import { SeenKeys, bigintKey, numberKeyOfInt8 } from '../../src/sources/keys.js';
import { hashBytes, TextKeySet } from '../../src/sources/text-keys.js';

describe('SeenKeys', () => {
  it('finds duplicates while keys ascend, after they stop, and among mixed numbers and text', () => {
    const seen = new SeenKeys();
    const added = [1, 2, 5, 9, 3, 5, 1, 10, '12345678901234567', 11, '12345678901234567', 9].map((k) => seen.add(k));
    expect(added).toEqual([true, true, true, true, true, false, false, true, true, true, false, false]);
  });

  it('starts from keys other chunks took', () => {
    const seen = new SeenKeys(new Set([7, 'x']));
    expect([seen.add(1), seen.add(7), seen.add('x'), seen.add(8), seen.add(1)]).toEqual([true, false, false, true, false]);
  });
  it('is reusable: after reset every key is new again, also past its first storage size', () => {
    const seen = new SeenKeys();
    for (let k = 0; k < 5000; k++) expect(seen.add(k)).toBe(true);
    expect(seen.add(4321)).toBe(false);
    seen.reset(new Set([3]));
    expect([seen.add(4321), seen.add(3), seen.add(1)]).toEqual([true, false, true]);
    seen.reset();
    expect([seen.add(3), seen.add(2), seen.add(3)]).toEqual([true, true, false]);
  });
});

describe('TextKeySet', () => {
  const add = (set: TextKeySet, k: string) => set.addString(k) >= 0;
  it('finds duplicates by bytes, keeps each key retrievable, and starts from keys other chunks took', () => {
    const set = new TextKeySet(new Set(['taken', 7]));
    const ids = ['a', 'b', '', 'é', 'a', 'taken', '7', 'ab', 'é', 'x'.repeat(100)].map((k) => set.addString(k));
    expect(ids.map((id) => id >= 0)).toEqual([true, true, true, true, false, false, false, true, false, true]);
    expect(set.text(ids[0])).toBe('a');
    expect(set.text(ids[3])).toBe('é');
    expect(set.text(ids[9])).toBe('x'.repeat(100));
    const buf = Buffer.from('..b..');
    expect(set.addBytes(buf, 2, 3)).toBe(-1);
  });

  it('grows past its first sizes, stays exact, and forgets everything on reset', () => {
    const set = new TextKeySet();
    for (let k = 0; k < 20_000; k++) expect(add(set, `customer-${k}-${'y'.repeat(k % 7)}`)).toBe(true);
    for (let k = 0; k < 20_000; k += 997) expect(add(set, `customer-${k}-${'y'.repeat(k % 7)}`)).toBe(false);
    expect(set.text(12_345)).toBe(`customer-12345-${'y'.repeat(12_345 % 7)}`);
    set.reset(new Set(['customer-3-yyy']));
    expect([add(set, 'customer-3-yyy'), add(set, 'customer-4-yyyy'), add(set, 'customer-4-yyyy')]).toEqual([false, true, false]);
  });

  it('needs no table while keys ascend (shorter first, then bytewise) and finds every earlier key once they stop', () => {
    const set = new TextKeySet();
    const ids = Array.from({ length: 3000 }, (_, i) => String(i + 1)); // "1" .. "3000": ascending
    for (const k of ids) expect(add(set, k)).toBe(true);
    expect(add(set, '3000')).toBe(false); // the last one again
    expect(add(set, '17')).toBe(false); // an early one: the table is built from every key so far
    expect(add(set, '0')).toBe(true);
    for (const k of ['1', '999', '2999', '0']) expect(add(set, k)).toBe(false);
    expect(add(set, '3001')).toBe(true);
    set.reset();
    expect([add(set, 'b'), add(set, 'a'), add(set, 'b'), add(set, 'ab'), add(set, 'a')]).toEqual([true, true, false, true, false]);
    set.reset(new Set(['5']));
    expect([add(set, '6'), add(set, '5'), add(set, '7')]).toEqual([true, false, true]);
  });

  it('settles equal hashes by comparing bytes: colliding keys are both kept', () => {
    // Two strings with the same 32-bit hash (the set's), found by search.
    const set = new TextKeySet();
    const hash = (s: string) => {
      const b = Buffer.from(s);
      return hashBytes(b, 0, b.length) >>> 0;
    };
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const k = `k${String(i).padStart(7, '0')}`; // one length: the bytes must settle it, not the lengths
      const h = hash(k); // a full 32-bit collision (birthday: ~100k tries)
      const other = seen.get(h);
      if (other !== undefined) pair = [other, k];
      else seen.set(h, k);
    }
    expect([add(set, 'zz'), add(set, 'a')]).toEqual([true, true]); // keys stopped ascending: the hash table is in use
    expect([add(set, pair[0]), add(set, pair[1]), add(set, pair[0]), add(set, pair[1])]).toEqual([true, true, false, false]);
  });
});

describe('bigint keys', () => {
  it('are numbers up to 15 digits and canonical text beyond, from text and from binary int8 alike', () => {
    expect(bigintKey('999999999999999')).toBe(999999999999999);
    expect(bigintKey('-999999999999999')).toBe(-999999999999999);
    expect(bigintKey('1000000000000000')).toBe('1000000000000000');
    const int8 = (v: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(v);
      return numberKeyOfInt8(b.readInt32BE(0), b.readUInt32BE(4)) ?? v.toString();
    };
    for (const v of [0n, 1n, -1n, 4294967296n, -4294967297n, 999999999999999n, -999999999999999n, 1000000000000000n, -1000000000000000n, 2n ** 63n - 1n, -(2n ** 63n)])
      expect(int8(v)).toBe(bigintKey(v.toString()));
  });
});
