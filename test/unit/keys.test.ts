import { describe, expect, it } from 'vitest';
import { SeenKeys, bigintKey, numberKeyOfInt8 } from '../../src/sources/keys.js';

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
