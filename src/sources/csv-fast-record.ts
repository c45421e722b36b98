import type { RowLayout } from './row-layout.js';
import type { KeyType } from '../spec/job-spec.js';

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;
const MAX_SAFE = 2 ** 53;
const pow10 = new Float64Array(Array.from({ length: 23 }, (_, i) => 10 ** i));
const pow10i = new Int32Array([1, 10, 100, 1000]);

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
  /** a view of the buffer fastRecord last read, for its 4-byte reads */
  view: DataView | undefined;
  viewOf: Uint8Array | undefined;
}

/** A plan when every feature column feeds exactly one slot; otherwise undefined (general path only). */
export function fastPlan(layout: RowLayout, keyType: KeyType): FastPlan | undefined {
  const n = layout.columnCount;
  const plan: FastPlan = { role: new Uint8Array(n), input: new Int32Array(n), pos: new Int32Array(n), textStart: new Int32Array(n), textEnd: new Int32Array(n), key: new Float64Array(1), single: layout.inputWidths.length === 1, view: undefined, viewOf: undefined };
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
      // The sign without a branch: half the values of a centred feature are negative, a branch on it
      // mispredicts every other value (the whole record ~14% faster without it, session 10).
      const minus = +(buf[p] === 45);
      p += minus;
      const sign = 1 - 2 * minus;
      // Digits accumulate in int32 arithmetic (the common 6-9 digit decimal); more digits are read
      // again in double arithmetic below. A digit test is one unsigned comparison, `(d >>> 0) <= 9`; a read
      // past the buffer's end gives undefined, which `| 0` makes a non-digit (-48), as NaN was before. One
      // comparison instead of two: the whole record ~9% faster (docs/performance.md, session 9).
      const first = p;
      let mant = 0;
      let d = (buf[p] | 0) - 48;
      while (d >>> 0 <= 9) {
        mant = (mant * 10 + d) | 0;
        d = (buf[++p] | 0) - 48;
      }
      let digits = p - first;
      let decimals = 0;
      if (d === -2) {
        // The fraction four bytes at a time (SWAR): each 4-byte word gives its count of leading digits and
        // their value in a few integer operations, instead of a byte loop whose exit, after a varying number
        // of digits, mispredicts (the whole record ~15% faster, session 10; inline: as a function it was
        // not). A byte is a digit when its high nibble is 3 and stays 3 with 6 added (0x30-0x39); a carry or
        // borrow between bytes only starts at a non-digit, so it only touches bytes after the first
        // non-digit, which are not used. It stops, as the byte loop does, at the reader's 0 byte after the
        // data; the buffer's last 3 bytes are read one at a time.
        const dot = ++p;
        if (plan.viewOf !== buf) {
          plan.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
          plan.viewOf = buf;
        }
        const view = plan.view!;
        const stop = buf.length - 4;
        for (;;) {
          if (p > stop) {
            for (d = (buf[p] | 0) - 48; d >>> 0 <= 9; d = (buf[++p] | 0) - 48) mant = (mant * 10 + d) | 0;
            break;
          }
          const x = view.getUint32(p, true); // the byte at p lowest
          const nonDigit = ((x & 0xf0f0f0f0) ^ 0x30303030) | (((x + 0x06060606) & 0xf0f0f0f0) ^ 0x30303030);
          if (nonDigit === 0) {
            let v = (x - 0x30303030) | 0; // four digits, 0-9 each
            v = (Math.imul(v, 10) + (v >>> 8)) & 0x00ff00ff; // pairs, in bytes 0 and 2
            mant = (Math.imul(mant, 10000) + (v & 0xff) * 100 + (v >>> 16)) | 0;
            p += 4;
            continue;
          }
          const k = (31 - Math.clz32(nonDigit & -nonDigit)) >> 3; // leading digits: 0-3
          if (k > 0) {
            let v = ((x - 0x30303030) << (32 - 8 * k)) | 0; // moved to the top bytes, zeros (leading 0 digits) below
            v = (Math.imul(v, 10) + (v >>> 8)) & 0x00ff00ff;
            mant = (Math.imul(mant, pow10i[k]) + (v & 0xff) * 100 + (v >>> 16)) | 0;
            p += k;
          }
          break;
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
      // times ±1: exact, and -0 for "-0" as negation gives
      if (single) out0[base0 + pos[f]] = v * sign;
      else {
        const ii = input[f];
        features[ii][r * widths[ii] + pos[f]] = v * sign;
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

