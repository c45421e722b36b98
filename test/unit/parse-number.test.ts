import { describe, expect, it } from 'vitest';
import { badNumberReason, FLOAT32_MAX, parseNumber } from '../../src/sources/parse-number.js';

/** parseNumber on text placed in the middle of a buffer, so reading outside [start, end) would show. */
function parse(text: string, before = '9', after = 'e7'): number {
  const buf = Buffer.from(before + text + after, 'latin1');
  return parseNumber(buf, before.length, before.length + Buffer.byteLength(text, 'latin1'));
}

let seed = 20260101;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const digits = (n: number) => Array.from({ length: n }, () => String(rand(10))).join('');

/** A random decimal: sign, integer part (maybe with leading zeros), fraction, exponent; always at least one digit. */
function randomDecimal(): string {
  const sign = ['', '', '-', '+'][rand(4)];
  const lead = rand(5) === 0 ? '0'.repeat(1 + rand(4)) : '';
  const long = rand(4) === 0;
  const int = rand(6) === 0 ? '' : lead + digits(rand(long ? 25 : 10));
  let frac = ['', '.', '.' + digits(1 + rand(long ? 25 : 8))][rand(3)];
  if (int === '' && frac.length <= 1) frac = '.' + digits(1 + rand(5));
  const exp = rand(3) === 0 ? ['e', 'E'][rand(2)] + ['', '-', '+'][rand(3)] + String(rand([5, 25, 400][rand(3)])) : '';
  return sign + int + frac + exp;
}

describe('parseNumber', () => {
  it('equals Number(text) exactly for 10k random decimals', () => {
    const bad: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const text = randomDecimal();
      const want = Number(text);
      expect(Number.isNaN(want), text).toBe(false);
      if (!Object.is(parse(text), want)) bad.push(`${text}: got ${parse(text)}, want ${want}`);
    }
    expect(bad).toEqual([]);
  });

  it('equals Number(text) on hand-picked forms and fast-path edges', () => {
    const cases = [
      '0', '-0', '+0', '0.0', '-0.0', '.5', '5.', '-.5', '+5.', '007', '00.25', '0.1', '0.2', '0.3',
      '1e22', '1e23', '1e-22', '1e-23', '123456789e-22', '9007199254740991', '9007199254740992', '9007199254740993',
      '9007199254740991e22', '9007199254740993e-5', '0.000000000000000000000000001', '123456789012345678901234567890',
      '1.7976931348623157e308', '1.7976931348623159e308', '1e309', '-1e309', '5e-324', '2e-324', '1e-400',
      '3.4028234663852886e38', '1E5', '1e+5', '1e-05', '1e0000000000000000000005', '1e99999999999', '0e99999',
      '2.2250738585072011e-308', '4.9406564584124654e-324', '0.1e1', '12345.6789e-3', ' 12 ', '\t-3.5 ',
    ];
    for (const text of cases) expect(Object.is(parse(text), Number(text)), `${JSON.stringify(text)}: got ${parse(text)}`).toBe(true);
  });

  it('is NaN for junk, including what Number() would accept', () => {
    const junk = ['1e', '1e+', '1E-', 'abc', '0x10', '0b1', '0o7', '', '1.2.3', 'Infinity', '-Infinity', 'inf', 'NaN', '.', '-', '+', 'e5', '.e5', '1,5', '1 2', '1_000', '--1', '+-1', '1e5.5', '5f', '1d', '١', '12abc', 'abc12'];
    for (const text of junk) expect(parse(text), JSON.stringify(text)).toBeNaN();
    // bounds are respected: digits right outside [start, end) are not taken
    expect(parse('1', '', '5')).toBe(1);
    expect(parse('1e', '', '5')).toBeNaN();
    expect(parse('', '-', '5')).toBeNaN();
  });
});

describe('badNumberReason', () => {
  it('tells empty, non-finite, overflowing and non-numeric text apart', () => {
    expect(badNumberReason('  ', 'a')).toBe('empty value in column "a"');
    expect(badNumberReason('NaN', 'a')).toBe('non-finite value "NaN" in column "a"');
    expect(badNumberReason('-inf', 'a')).toBe('non-finite value "-inf" in column "a"');
    expect(badNumberReason('+Infinity', 'a')).toBe('non-finite value "+Infinity" in column "a"');
    expect(badNumberReason('1e39', 'a')).toBe('value "1e39" in column "a" overflows float32');
    expect(badNumberReason('x'.repeat(50), 'a')).toBe(`non-numeric value "${'x'.repeat(40)}…" in column "a"`);
    expect(Math.fround(FLOAT32_MAX)).toBe(FLOAT32_MAX);
    expect(Number.isFinite(Math.fround(3.4028236e38))).toBe(false);
  });
});
