/**
 * Keys of `key_type: uuid`. A chunk's key set holds each key in its canonical text, the form
 * PostgreSQL prints (36 characters, lower case, hyphens at 8-13-18-23), so "A0EE…" and "a0ee…" are one
 * key, a duplicate; the COPY encoder turns that text into the column's 16 bytes (CopyWriter.uuid).
 */

const HYPHEN = 45;

/** 0-15 for an ASCII hex digit, -1 otherwise */
const hexValue = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) hexValue[48 + c] = c;
for (let c = 0; c < 6; c++) hexValue[97 + c] = hexValue[65 + c] = 10 + c;

/** buf[s, e) is a UUID in canonical form (the common case: no string is made for it). */
export function isCanonicalUuid(buf: Uint8Array, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = buf[s + i];
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== HYPHEN) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * The canonical text of a UUID spelled as PostgreSQL's uuid input accepts it: upper or lower case,
 * optionally in braces, a hyphen optional after any group of four hex digits but the last (so
 * "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}" and "a0eebc999c0b4ef8bb6d6bb9bd380a11" too); undefined
 * when it is not a UUID.
 */
export function canonicalUuid(text: string): string | undefined {
  let p = 0;
  const braces = text.charCodeAt(0) === 123;
  if (braces) p++;
  let hex = '';
  for (let byte = 0; byte < 16; byte++) {
    const hi = hexValue[text.charCodeAt(p) & 0xff];
    const lo = hexValue[text.charCodeAt(p + 1) & 0xff];
    if (hi < 0 || lo < 0 || text.charCodeAt(p) > 0x7f || text.charCodeAt(p + 1) > 0x7f) return undefined;
    hex += text.slice(p, p + 2).toLowerCase();
    p += 2;
    if (text.charCodeAt(p) === HYPHEN && byte % 2 === 1 && byte < 15) p++;
  }
  if (braces) {
    if (text.charCodeAt(p) !== 125) return undefined;
    p++;
  }
  if (p !== text.length) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The reason a key is refused for `key_type: uuid`. */
export function notUuidReason(key: string): string {
  return `key "${key.length > 40 ? key.slice(0, 40) + '…' : key}" is not a UUID (key_type: uuid)`;
}

/** Write the 16 bytes of the canonical UUID text src[s, s + 36) at dst[q]. */
export function uuidBytes(src: Uint8Array, s: number, dst: Uint8Array, q: number): void {
  let i = s;
  const end = s + 36;
  while (i < end) {
    if (src[i] === HYPHEN) i++;
    dst[q++] = (hexValue[src[i]] << 4) | hexValue[src[i + 1]];
    i += 2;
  }
}
