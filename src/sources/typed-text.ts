import type { CsvPassthroughType } from '../spec/job-spec.js';

/**
 * CSV text as the binary COPY value of a declared SQL type (`passthrough: { day: date }`), checked
 * here so a bad value is a reject naming the column and the type, never a failed COPY. Returns the
 * field's bytes, or the reason it is not a value of the type. Empty text is SQL NULL (null).
 */
export type TypedText = (text: string) => Buffer | null | string;

/** Microseconds/days PostgreSQL counts from: 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;

const integer = /^[+-]?\d+$/;
const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const dateText = /^(\d{4})-(\d{2})-(\d{2})$/;
const timestampText = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const booleans = new Map(Object.entries({ true: true, t: true, yes: true, y: true, on: true, '1': true, false: false, f: false, no: false, n: false, off: false, '0': false }));

/** The parser for one declared type; undefined for text (kept as a string). */
export function typedText(type: CsvPassthroughType): TypedText | undefined {
  switch (type) {
    case 'text':
      return undefined;
    case 'date':
      return nullable((t) => {
        const m = dateText.exec(t);
        const ms = m && utc(+m[1], +m[2], +m[3], 0, 0, 0);
        if (ms === null || ms === undefined) return 'is not a date (YYYY-MM-DD)';
        const b = Buffer.allocUnsafe(4);
        b.writeInt32BE(Math.round((ms - PG_EPOCH_MS) / DAY_MS));
        return b;
      });
    case 'timestamp':
    case 'timestamptz':
      return nullable((t) => timestamp(t, type === 'timestamptz'));
    case 'numeric':
      return nullable((t) => numeric(t) ?? 'is not a number');
    case 'bigint':
      return nullable((t) => {
        if (!integer.test(t)) return 'is not an integer';
        const v = BigInt(t);
        if (v < -(2n ** 63n) || v >= 2n ** 63n) return 'is out of range for bigint';
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(v);
        return b;
      });
    case 'integer':
    case 'smallint':
      return nullable((t) => {
        if (!integer.test(t)) return 'is not an integer';
        const v = Number(t);
        const bytes = type === 'integer' ? 4 : 2;
        const max = 2 ** (bytes * 8 - 1);
        if (v < -max || v >= max) return `is out of range for ${type}`;
        const b = Buffer.allocUnsafe(bytes);
        if (bytes === 4) b.writeInt32BE(v);
        else b.writeInt16BE(v);
        return b;
      });
    case 'double precision':
    case 'real':
      return nullable((t) => {
        const v = decimal.test(t) ? Number(t) : NaN;
        if (!Number.isFinite(v) || (type === 'real' && !Number.isFinite(Math.fround(v)))) return 'is not a finite number';
        const b = Buffer.allocUnsafe(type === 'real' ? 4 : 8);
        if (type === 'real') b.writeFloatBE(v);
        else b.writeDoubleBE(v);
        return b;
      });
    case 'boolean':
      return nullable((t) => {
        const v = booleans.get(t.toLowerCase());
        return v === undefined ? 'is not a boolean (true/false, t/f, yes/no, 1/0)' : Buffer.from([v ? 1 : 0]);
      });
  }
}

/** Empty (or blank) text is NULL; otherwise the trimmed text is parsed. */
function nullable(parse: (t: string) => Buffer | string): TypedText {
  return (text) => {
    const t = text.trim();
    return t === '' ? null : parse(t);
  };
}

/** ms since 1970 of a valid UTC calendar time, or null (2026-02-30 is not a date). */
function utc(y: number, mo: number, d: number, h: number, mi: number, s: number): number | null {
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const at = new Date(ms);
  // Date.UTC maps years 0-99 to 1900-1999: set the year again.
  if (y < 100) at.setUTCFullYear(y);
  if (at.getUTCFullYear() !== y || at.getUTCMonth() !== mo - 1 || at.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return at.getTime();
}

/** timestamp: local time as written; timestamptz: needs its offset (Z, +02, +02:00), so no session timezone decides what it means. */
function timestamp(t: string, withZone: boolean): Buffer | string {
  const m = timestampText.exec(t);
  const ms = m && utc(+m[1], +m[2], +m[3], +m[4], +m[5], +(m[6] ?? 0));
  const shape = withZone ? 'YYYY-MM-DD HH:MM[:SS[.ffffff]] with an offset (Z, +02:00)' : 'YYYY-MM-DD HH:MM[:SS[.ffffff]]';
  if (!m || ms === null || ms === undefined) return `is not a ${withZone ? 'timestamptz' : 'timestamp'} (${shape})`;
  const zone = m[8];
  if (withZone && zone === undefined) return `has no offset; timestamptz needs one (${shape}), or declare it timestamp`;
  if (!withZone && zone !== undefined) return `has an offset; declare it timestamptz to keep it (${shape})`;
  let offsetMin = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offsetMin = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
  }
  const micros = BigInt(ms - PG_EPOCH_MS - offsetMin * 60_000) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0') || 0);
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(micros);
  return b;
}

/** A decimal as PostgreSQL's binary numeric: base-10000 digits around the decimal point, its weight, sign and display scale. */
export function numeric(t: string): Buffer | undefined {
  const m = decimal.exec(t);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const e = m[4] ? Number(m[4]) : 0;
  if (Math.abs(e) > 1000) return undefined;
  const fraction = m[3] ?? '';
  const dscale = Math.max(0, fraction.length - e);
  let digits = m[2] + fraction;
  let point = m[2].length + e; // the decimal point sits before digits[point]
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead).replace(/0+$/, '');
  point -= lead;
  const neg = m[1] === '-' && digits !== '';
  let groups: number[] = [];
  let weight = 0;
  if (digits !== '') {
    const padLeft = (((-point) % 4) + 4) % 4;
    digits = '0'.repeat(padLeft) + digits;
    point += padLeft;
    digits += '0'.repeat((4 - (digits.length % 4)) % 4);
    groups = Array.from({ length: digits.length / 4 }, (_, i) => Number(digits.slice(i * 4, i * 4 + 4)));
    weight = point / 4 - 1;
  }
  if (weight > 32767 || weight < -32768 || dscale > 16383) return undefined;
  const b = Buffer.allocUnsafe(8 + 2 * groups.length);
  b.writeInt16BE(groups.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(neg ? 0x4000 : 0, 4);
  b.writeInt16BE(dscale, 6);
  groups.forEach((g, i) => b.writeInt16BE(g, 8 + 2 * i));
  return b;
}
