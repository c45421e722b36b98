/**
 * Binary COPY tuples put in the order of their first field's bytes (the key), so the server inserts a
 * chunk's keys into the (run_id, key) B-tree in order: consecutive inserts land in the same leaf pages
 * instead of one random leaf per row (random keys such as UUIDs). The order of rows within a COPY
 * changes nothing else: a chunk's duplicates are settled before the COPY, and which row of a key wins
 * between chunks is settled from the source's order (process-chunk.ts, resolveDuplicates).
 */

/** (key prefix, tuple index) pairs as 64-bit words, sorted natively; written as 32-bit halves (no BigInt per row) */
let words = new BigUint64Array(1 << 16);
let halves = new Uint32Array(words.buffer);
let perm = new Int32Array(1 << 16);
/** which 32-bit half of a 64-bit word is the low one */
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

function keyLen(buf: Uint8Array, t: number): number {
  return (buf[t + 2] << 24) | (buf[t + 3] << 16) | (buf[t + 4] << 8) | buf[t + 5];
}

/** Bytewise order of a[as, as + na) and b[bs, bs + nb) (shorter first on a common prefix, as COLLATE "C"). */
function compareBytes(a: Uint8Array, as: number, na: number, b: Uint8Array, bs: number, nb: number): number {
  const n = Math.min(na, nb);
  for (let i = 0; i < n; i++) {
    const d = a[as + i] - b[bs + i];
    if (d !== 0) return d;
  }
  return na - nb;
}

/** Order of the keys of the tuples at a and b. */
function compareKeys(buf: Uint8Array, a: number, b: number): number {
  return compareBytes(buf, a + 6, keyLen(buf, a), buf, b + 6, keyLen(buf, b));
}

/**
 * Whether the keys of the n tuples at starts[0..n) in buf ascend, the first after `after` (the last
 * key sent before them) when given, shorter keys first, then bytewise (ids in numeric order ascend:
 * "9" < "10"): such rows are sent as they come, without waiting for the chunk. Random keys (UUIDs) do
 * not, and are worth sorting; ids in order gain nothing from it (measured).
 */
export function tuplesAscend(buf: Uint8Array, starts: Int32Array, n: number, after: Uint8Array | undefined): boolean {
  if (n === 0) return true;
  if (after !== undefined && idOrder(after, 0, after.length, buf, starts[0] + 6, keyLen(buf, starts[0])) > 0) return false;
  for (let i = 1; i < n; i++) {
    const a = starts[i - 1];
    const b = starts[i];
    if (idOrder(buf, a + 6, keyLen(buf, a), buf, b + 6, keyLen(buf, b)) > 0) return false;
  }
  return true;
}

function idOrder(a: Uint8Array, as: number, na: number, b: Uint8Array, bs: number, nb: number): number {
  return na !== nb ? na - nb : compareBytes(a, as, na, b, bs, nb);
}

/** The key bytes of the tuple at t, copied. */
export function keyOfTuple(buf: Uint8Array, t: number): Buffer {
  return Buffer.from(buf.subarray(t + 6, t + 6 + Math.max(0, keyLen(buf, t))));
}

/**
 * The n tuples of buf[0, end), starting at starts[0..n) (each: int16 field count, then its fields, the
 * first one the key: int32 length and its bytes), in key order. The sorted copy goes to buf[end, 2 *
 * end) (buf must hold that much: one native copyWithin per tuple, no allocation) and is returned as a
 * view of it; when the keys already ascend, buf[0, end) is returned as it is.
 */
export function sortTuplesByKey(buf: Buffer, end: number, starts: Int32Array, n: number): Buffer {
  if (buf.length < 2 * end) throw new Error(`sortTuplesByKey: buffer of ${buf.length} bytes cannot hold ${end} more`);
  let ascending = true;
  for (let i = 1; i < n && ascending; i++) if (compareKeys(buf, starts[i - 1], starts[i]) > 0) ascending = false;
  if (ascending || n >= 1 << 24) return buf.subarray(0, end);
  if (words.length < n) {
    words = new BigUint64Array(Math.max(n, words.length * 2));
    halves = new Uint32Array(words.buffer);
  }
  if (perm.length < n) perm = new Int32Array(Math.max(n, perm.length * 2));
  // Each tuple as one 64-bit word: its key's first 6 bytes (5 past 65,536 tuples) above its index,
  // sorted natively; keys whose prefixes tie are then settled by comparing their bytes. (6 bytes, not
  // 4: a UUID's first 4 characters are only 16 bits, which 50,000 keys share in runs.)
  const indexBits = n <= 1 << 16 ? 16 : 24;
  const indexMask = indexBits === 16 ? 0xffff : 0xffffff;
  for (let i = 0; i < n; i++) {
    const t = starts[i];
    const k = t + 6;
    const len = keyLen(buf, t);
    halves[2 * i + HI] = (((len > 0 ? buf[k] : 0) << 24) | ((len > 1 ? buf[k + 1] : 0) << 16) | ((len > 2 ? buf[k + 2] : 0) << 8) | (len > 3 ? buf[k + 3] : 0)) >>> 0;
    const low = indexBits === 16 ? ((len > 4 ? buf[k + 4] : 0) << 24) | ((len > 5 ? buf[k + 5] : 0) << 16) : (len > 4 ? buf[k + 4] : 0) << 24;
    halves[2 * i + LO] = (low | i) >>> 0;
  }
  words.subarray(0, n).sort();
  for (let i = 0; i < n; i++) perm[i] = halves[2 * i + LO] & indexMask;
  for (let i = 0; i < n; ) {
    const hi = halves[2 * i + HI];
    const lo = halves[2 * i + LO] >>> indexBits;
    let j = i + 1;
    while (j < n && halves[2 * j + HI] === hi && halves[2 * j + LO] >>> indexBits === lo) j++;
    if (j - i > 1) {
      const run = Array.from(perm.subarray(i, j));
      run.sort((x, y) => compareKeys(buf, starts[x], starts[y]) || x - y);
      perm.set(run, i);
    }
    i = j;
  }
  let q = end;
  for (let i = 0; i < n; i++) {
    const k = perm[i];
    const t = starts[k];
    const e = k + 1 < n ? starts[k + 1] : end;
    buf.copyWithin(q, t, e);
    q += e - t;
  }
  return buf.subarray(end, 2 * end);
}
