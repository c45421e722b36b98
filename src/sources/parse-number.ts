/**
 * Decimal text to number, straight from bytes. The fast path (mantissa < 2^53, |exponent| <= 22) is
 * exact: both operands are exactly representable, so one IEEE division or multiplication rounds
 * correctly (Clinger's fast path). Everything else falls back to Number() on the text.
 */
const pow10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_SAFE = 2 ** 53;

/** NaN means "not a number"; the caller tells empty, non-numeric and non-finite apart with classifyBad(). */
export function parseNumber(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  let neg = false;
  let c = buf[i];
  if (c === 45 /* - */ || c === 43 /* + */) {
    neg = c === 45;
    i++;
  }
  let mant = 0;
  let digits = 0;
  let exp = 0;
  while (i < end && (c = buf[i] - 48) >= 0 && c <= 9) {
    mant = mant * 10 + c;
    digits++;
    i++;
  }
  if (i < end && buf[i] === 46 /* . */) {
    i++;
    while (i < end && (c = buf[i] - 48) >= 0 && c <= 9) {
      mant = mant * 10 + c;
      digits++;
      exp--;
      i++;
    }
  }
  if (digits === 0) return slowPath(buf, start, end);
  if (i < end && (buf[i] | 32) === 101 /* e */) {
    i++;
    let eneg = false;
    if (buf[i] === 45 || buf[i] === 43) {
      eneg = buf[i] === 45;
      i++;
    }
    let e = 0;
    let edigits = 0;
    while (i < end && (c = buf[i] - 48) >= 0 && c <= 9) {
      if (e < 100000) e = e * 10 + c;
      edigits++;
      i++;
    }
    if (edigits === 0) return NaN;
    exp += eneg ? -e : e;
  }
  if (i !== end) return slowPath(buf, start, end);
  if (mant >= MAX_SAFE || exp < -22 || exp > 22) return Number(latin1(buf, start, end));
  const v = exp < 0 ? mant / pow10[-exp] : mant * pow10[exp];
  return neg ? -v : v;
}

/** Text with surrounding spaces, or anything odd: strict decimal syntax only (no hex, no "Infinity"). */
function slowPath(buf: Uint8Array, start: number, end: number): number {
  const text = latin1(buf, start, end).trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

/** Why a feature's text is not a usable float32. */
export function badNumberReason(text: string, column: string): string {
  const t = text.trim();
  if (t === '') return `empty value in column "${column}"`;
  if (/^[+-]?(nan|inf|infinity)$/i.test(t)) return `non-finite value "${t}" in column "${column}"`;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return `value "${t}" in column "${column}" overflows float32`;
  return `non-numeric value "${t.length > 40 ? t.slice(0, 40) + '…' : t}" in column "${column}"`;
}

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
