import { defaults } from '../defaults.js';

/**
 * A row's key on its way from source to sink. Text keys are strings. bigint keys are numbers when
 * they have at most 15 digits (exact in a double) and their canonical decimal text (as Postgres
 * prints it) otherwise: every key value has exactly one representation, so a Set finds duplicates,
 * and the common integer id costs no string per row.
 */
export type Key = string | number;

const MAX_NUMBER_KEY = 999_999_999_999_999;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** A bigint key from its canonical decimal text. */
export function bigintKey(canonical: string): Key {
  const digits = canonical.charCodeAt(0) === 45 ? canonical.length - 1 : canonical.length;
  return digits <= 15 ? Number(canonical) : canonical;
}

/** A bigint key from decimal text as a user may spell it ("+7", "007", "-0"); undefined when it is not a 64-bit integer. */
export function parseBigintKey(text: string): Key | undefined {
  if (!isInt8(text)) return undefined;
  return bigintKey(isCanonicalInt(text) ? text : BigInt(text).toString());
}

/** "7", "-7", "0": the form Postgres prints; "007", "+7", "-0" are the same key spelled otherwise. */
function isCanonicalInt(text: string): boolean {
  const c0 = text.charCodeAt(0);
  if (c0 === 43) return false;
  const first = c0 === 45 ? 1 : 0;
  return !(text.charCodeAt(first) === 48 && (text.length > first + 1 || first === 1));
}

function isInt8(text: string): boolean {
  // Up to 18 digits always fits; only 19-digit keys need the exact range check.
  const n = text.length;
  let i = text.charCodeAt(0) === 45 || text.charCodeAt(0) === 43 ? 1 : 0;
  if (i === n) return false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return false;
  }
  if (n <= 18) return true;
  if (!/^[+-]?\d{1,19}$/.test(text)) return false;
  const v = BigInt(text);
  return v >= INT8_MIN && v <= INT8_MAX;
}

/** A bigint key from the two halves of a binary int8 when it is a number Key; undefined when it is text. */
export function numberKeyOfInt8(hi: number, lo: number): number | undefined {
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * 4294967296 + lo;
    if (v >= -MAX_NUMBER_KEY && v <= MAX_NUMBER_KEY) return v;
  }
  return undefined;
}

/**
 * The keys a chunk has produced so far, to reject duplicates. While numeric keys ascend (an id
 * column read in order, the usual case) a comparison with the last one proves a key new; the Set is
 * built only when keys stop ascending. Reusable chunk after chunk (reset), so a long run does not
 * churn the heap.
 */
export class SeenKeys {
  private set: Set<Key> | undefined;
  private last = -Infinity;
  private ascending = new Float64Array(1024);
  private count = 0;

  constructor(taken?: ReadonlySet<Key>) {
    this.reset(taken);
  }

  /** Forget every key; start from the keys other chunks took, if any. */
  reset(taken?: ReadonlySet<Key>): void {
    this.set = taken && taken.size > 0 ? new Set(taken) : undefined;
    this.last = -Infinity;
    this.count = 0;
  }

  /** Record a key; false when it was already there. */
  add(key: Key): boolean {
    if (this.set === undefined) {
      if (typeof key === 'number' && key > this.last) {
        this.last = key;
        if (this.count === this.ascending.length) {
          const bigger = new Float64Array(this.count * 2);
          bigger.set(this.ascending);
          this.ascending = bigger;
        }
        this.ascending[this.count++] = key;
        return true;
      }
      this.set = new Set<Key>(this.ascending.subarray(0, this.count));
    }
    if (this.set.has(key)) return false;
    this.set.add(key);
    return true;
  }
}

/**
 * Why a text key can't be a result-table key, or null: longer than maxBytes in UTF-8 (a B-tree entry
 * holds at most 2704 bytes, so a longer key would fail the whole chunk, on every rerun). Every source
 * rejects such a row with this reason.
 */
export function keyLengthProblem(key: string, maxBytes: number = defaults.maxKeyBytes): string | null {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: the usual short key needs no count.
  if (key.length * 3 <= maxBytes) return null;
  const bytes = Buffer.byteLength(key, 'utf8');
  return bytes > maxBytes ? `key is ${bytes} bytes; the limit is ${maxBytes}` : null;
}
