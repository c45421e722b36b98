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

/** A plain decimal, e.g. -1.5e3 or .5: what a feature's text may be (no hex, no "Infinity"). */
export const decimalText = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Text with surrounding spaces, or anything odd: strict decimal syntax only (no hex, no "Infinity"). */
function slowPath(buf: Uint8Array, start: number, end: number): number {
  const text = latin1(buf, start, end).trim();
  return decimalText.test(text) ? Number(text) : NaN;
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
  if (decimalText.test(t)) return `value "${t}" in column "${column}" overflows float32`;
  return `non-numeric value "${t.length > 40 ? t.slice(0, 40) + '…' : t}" in column "${column}"`;
}

/** Result of scanNumber (a module slot, so the hot loop allocates nothing). */
export const scanned = { value: Number.NaN };

/**
 * Find-the-delimiter and parse in one pass: reads a plain decimal from `start`, stops at the first
 * byte that can't continue it, and returns that position. scanned.value is NaN when the text is not
 * a fast-path number (the caller then takes the general path). It may read past the caller's limit
 * (out-of-range reads give undefined, which stops every loop): callers check the stop position.
 */
export function scanNumber(buf: Uint8Array, start: number): number {
  let i = start;
  let c = buf[i];
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    c = buf[++i];
  }
  let mant = 0;
  let digits = 0;
  let exp = 0;
  let d: number;
  while ((d = buf[i] - 48) >= 0 && d <= 9) {
    mant = mant * 10 + d;
    digits++;
    i++;
  }
  if (buf[i] === 46) {
    i++;
    while ((d = buf[i] - 48) >= 0 && d <= 9) {
      mant = mant * 10 + d;
      digits++;
      exp--;
      i++;
    }
  }
  if ((buf[i] | 32) === 101) {
    i++;
    let eneg = false;
    if (buf[i] === 45 || buf[i] === 43) eneg = buf[i++] === 45;
    let e = 0;
    let ed = 0;
    while ((d = buf[i] - 48) >= 0 && d <= 9) {
      if (e < 100000) e = e * 10 + d;
      ed++;
      i++;
    }
    if (ed === 0) digits = 0;
    exp += eneg ? -e : e;
  }
  if (digits === 0 || mant >= MAX_SAFE || exp < -22 || exp > 22) scanned.value = Number.NaN;
  else {
    const v = exp < 0 ? mant / pow10[-exp] : mant * pow10[exp];
    scanned.value = neg ? -v : v;
  }
  return i;
}

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
