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

/** A bigint key from the two halves of a binary int8. */
export function bigintKeyOfInt8(hi: number, lo: number, asText: () => string): Key {
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * 4294967296 + lo;
    if (v >= -MAX_NUMBER_KEY && v <= MAX_NUMBER_KEY) return v;
  }
  return asText();
}
