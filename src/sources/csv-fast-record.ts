import type { RowLayout } from './row-layout.js';

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;
const MAX_SAFE = 2 ** 53;
const pow10 = new Float64Array(Array.from({ length: 23 }, (_, i) => 10 ** i));

/** What each column is to the fast path. */
export const enum FastRole {
  Ignore = 0,
  Feature = 1,
  Text = 2,
  /** a bigint key: plain canonical integer of up to 15 digits, read into `key` */
  IntKey = 3,
}

/** Per-column plan for fastRecord, derived once from the layout. */
export interface FastPlan {
  role: Uint8Array;
  /** Feature: model input index */
  input: Int32Array;
  /** Feature: position within the input's row */
  pos: Int32Array;
  /** Text (key and passthrough): where fastRecord leaves each field's [start, end) */
  textStart: Int32Array;
  textEnd: Int32Array;
  /** IntKey: the key of the record just read */
  key: Float64Array;
  /** every feature goes to input 0 (the usual model): one destination array */
  single: boolean;
}

/** A plan when every feature column feeds exactly one slot; otherwise undefined (general path only). */
export function fastPlan(layout: RowLayout, keyType: 'text' | 'bigint'): FastPlan | undefined {
  const n = layout.columnCount;
  const plan: FastPlan = { role: new Uint8Array(n), input: new Int32Array(n), pos: new Int32Array(n), textStart: new Int32Array(n), textEnd: new Int32Array(n), key: new Float64Array(1), single: layout.inputWidths.length === 1 };
  for (let fi = 0; fi < n; fi++) {
    const slots = layout.featureSlots[fi];
    const text = fi === layout.keyIndex || layout.passthroughSlot[fi] >= 0;
    if (slots.length > 1 || (slots.length === 1 && text)) return undefined;
    if (slots.length === 1) {
      plan.role[fi] = FastRole.Feature;
      [plan.input[fi], plan.pos[fi]] = slots[0];
    } else if (fi === layout.keyIndex && keyType === 'bigint' && layout.passthroughSlot[fi] < 0) plan.role[fi] = FastRole.IntKey;
    else plan.role[fi] = text ? FastRole.Text : FastRole.Ignore;
  }
  return plan;
}

/**
 * The common record in one tight loop: no quotes, plain decimals (no exponent), exactly the header's
 * field count, LF or CRLF. Features go straight into the batch; a bigint key into plan.key; text
 * fields are left as offsets in the plan. Returns the position after the record, or -1 for anything else (the general parser then
 * reads the record from its start, so both paths always agree).
 */
export function fastRecord(buf: Buffer, p: number, limit: number, plan: FastPlan, features: Float32Array[], widths: number[], r: number): number {
  const { role, input, pos, single } = plan;
  const out0 = features[0];
  const base0 = r * widths[0];
  const last = role.length - 1;
  for (let f = 0; f <= last; f++) {
    if (role[f] === FastRole.Feature) {
      let c = buf[p];
      let neg = false;
      if (c === 45) {
        neg = true;
        c = buf[++p];
      }
      // Digits accumulate in int32 arithmetic (the common 6-9 digit decimal); more digits are read
      // again in double arithmetic below. A digit test is one unsigned comparison, `(d >>> 0) <= 9`; a read
      // past the buffer's end gives undefined, which `| 0` makes a non-digit (-48), as NaN was before. One
      // comparison instead of two: the whole record ~9% faster (docs/performance.md, session 9).
      const first = p;
      let mant = 0;
      let d = (c | 0) - 48;
      while (d >>> 0 <= 9) {
        mant = (mant * 10 + d) | 0;
        d = (buf[++p] | 0) - 48;
      }
      let digits = p - first;
      let decimals = 0;
      if (d === -2) {
        const dot = ++p;
        d = (buf[p] | 0) - 48;
        while (d >>> 0 <= 9) {
          mant = (mant * 10 + d) | 0;
          d = (buf[++p] | 0) - 48;
        }
        decimals = p - dot;
        digits += decimals;
      }
      if (digits === 0 || p >= limit) return -1;
      let v: number;
      if (digits <= 9) v = mant / pow10[decimals];
      else {
        let m = 0;
        for (let q = first; q < p; q++) {
          const e = buf[q] - 48;
          if (e >= 0) m = m * 10 + e; // skips the '.'
        }
        if (m >= MAX_SAFE || decimals > 22) return -1;
        v = m / pow10[decimals];
      }
      if (single) out0[base0 + pos[f]] = neg ? -v : v;
      else {
        const ii = input[f];
        features[ii][r * widths[ii] + pos[f]] = neg ? -v : v;
      }
    } else if (role[f] === FastRole.IntKey) {
      // Only the canonical spelling ("0", "7", "-7"; no "+", "-0" or leading zeros) is taken here.
      let neg = false;
      if (buf[p] === 45) {
        neg = true;
        p++;
      }
      let v = 0;
      let digits = 0;
      let d = buf[p] - 48;
      if (d === 0) {
        d = buf[++p] - 48;
        if (neg || (d >= 0 && d <= 9)) return -1;
        digits = 1;
      } else
        while (d >= 0 && d <= 9) {
          v = v * 10 + d;
          digits++;
          d = buf[++p] - 48;
        }
      if (digits === 0 || digits > 15 || p >= limit) return -1;
      plan.key[0] = neg ? -v : v;
    } else {
      const s = p;
      if (buf[p] === QUOTE) return -1;
      for (let c = buf[p]; c !== COMMA && c !== LF; c = buf[++p]) if (p >= limit) return -1;
      if (p >= limit) return -1;
      plan.textStart[f] = s;
      plan.textEnd[f] = f === last && buf[p] === LF && p > s && buf[p - 1] === CR ? p - 1 : p;
    }
    const c = buf[p];
    if (f < last) {
      if (c !== COMMA) return -1;
    } else if (c === CR) {
      if (buf[++p] !== LF || p >= limit) return -1;
    } else if (c !== LF) return -1;
    p++;
  }
  return p;
}
