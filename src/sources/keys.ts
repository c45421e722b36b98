/**
 * A row's key on its way from source to sink. Text keys are strings. bigint keys are numbers when
 * they have at most 15 digits (exact in a double) and their canonical decimal text (as Postgres
 * prints it) otherwise: every key value has exactly one representation, so a Set finds duplicates,
 * and the common integer id costs no string per row.
 */
export type Key = string | number;

const MAX_NUMBER_KEY = 999_999_999_999_999;

/** A bigint key from its canonical decimal text. */
export function bigintKey(canonical: string): Key {
  const digits = canonical.charCodeAt(0) === 45 ? canonical.length - 1 : canonical.length;
  return digits <= 15 ? Number(canonical) : canonical;
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
