import { describe, expect, it } from 'vitest';
import { numeric, typedText } from '../../src/sources/typed-text.js';

const parse = (type: Parameters<typeof typedText>[0], text: string) => typedText(type)!(text);

describe('typed passthrough text -> binary COPY values', () => {
  it('empty text is NULL; text needs no parser', () => {
    expect(parse('date', '')).toBeNull();
    expect(parse('numeric', '  ')).toBeNull();
    expect(typedText('text')).toBeUndefined();
  });

  it('dates and timestamps count from 2000-01-01 (days, microseconds); impossible ones are reasons', () => {
    expect((parse('date', '2000-01-02') as Buffer).readInt32BE()).toBe(1);
    expect((parse('date', '1999-12-31') as Buffer).readInt32BE()).toBe(-1);
    expect(parse('date', '2026-02-29')).toBe('is not a date (YYYY-MM-DD)');
    expect(parse('date', '12/01/2026')).toBe('is not a date (YYYY-MM-DD)');
    expect((parse('timestamp', '2000-01-01 00:00:01.5') as Buffer).readBigInt64BE()).toBe(1_500_000n);
    expect((parse('timestamptz', '2000-01-01T02:00:00+02:00') as Buffer).readBigInt64BE()).toBe(0n);
    expect(parse('timestamp', '2000-01-01 00:00:00Z')).toMatch(/^has an offset; declare it timestamptz/);
    expect(parse('timestamp', '2000-01-01 24:00:00')).toMatch(/^is not a timestamp/);
  });

  it('integers are range-checked per type; floats must be finite', () => {
    expect((parse('smallint', '-32768') as Buffer).readInt16BE()).toBe(-32768);
    expect(parse('smallint', '32768')).toBe('is out of range for smallint');
    expect(parse('integer', '2147483648')).toBe('is out of range for integer');
    expect((parse('bigint', '-9223372036854775808') as Buffer).readBigInt64BE()).toBe(-(2n ** 63n));
    expect(parse('bigint', '9223372036854775808')).toBe('is out of range for bigint');
    expect(parse('bigint', '1e3')).toBe('is not an integer');
    expect(parse('real', '1e39')).toBe('is not a finite number');
    expect((parse('double precision', '1e39') as Buffer).readDoubleBE()).toBe(1e39);
    expect(parse('double precision', 'NaN')).toBe('is not a finite number');
    expect(Array.from(parse('boolean', 'YES') as Buffer)).toEqual([1]);
    expect(Array.from(parse('boolean', 'off') as Buffer)).toEqual([0]);
  });

  it('numeric: base-10000 digits, weight, sign and display scale as PostgreSQL stores them', () => {
    const fields = (t: string) => {
      const b = numeric(t)!;
      const n = b.readInt16BE(0);
      return { weight: b.readInt16BE(2), sign: b.readUInt16BE(4), dscale: b.readInt16BE(6), digits: Array.from({ length: n }, (_, i) => b.readInt16BE(8 + 2 * i)) };
    };
    expect(fields('123.45')).toEqual({ weight: 0, sign: 0, dscale: 2, digits: [123, 4500] });
    expect(fields('-0.001')).toEqual({ weight: -1, sign: 0x4000, dscale: 3, digits: [10] });
    expect(fields('1e5')).toEqual({ weight: 1, sign: 0, dscale: 0, digits: [10] });
    expect(fields('-0.00')).toEqual({ weight: 0, sign: 0, dscale: 2, digits: [] });
    expect(numeric('1.2.3')).toBeUndefined();
    expect(numeric('.')).toBeUndefined();
    expect(numeric('1e100000')).toBeUndefined();
  });
});
