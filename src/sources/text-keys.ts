import type { Key } from './keys.js';

/**
 * A 32-bit hash of buf[s, e), four bytes a step (a UUID is 9 steps, not 36 dependent multiplies),
 * mixed at the end (murmur3's finalizer) so the table's slot bits depend on every byte.
 */
export function hashBytes(buf: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5 ^ (e - s);
  let i = s;
  for (; i + 4 <= e; i += 4) h = Math.imul(h ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)), 0x01000193) ^ (h >>> 13);
  for (; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * A chunk's text keys as UTF-8 bytes: the duplicate check and the store the COPY encoder writes
 * from. Keys are copied into one growing byte arena. While they ascend (shorter first, then bytewise:
 * an id column in order, "1" ... "999", "1000" ...) a comparison with the last one proves a key new;
 * once they stop, keys are found through an open-addressing table of 32-bit hashes, equal hashes
 * settled by comparing the bytes, so a collision costs a comparison, never a wrong reject. No string and no Set entry per row: a Set of 50,000 strings per chunk cost
 * ~0.3 µs a row, and the strings it held lived long enough to be copied by every scavenge.
 * Reusable chunk after chunk (reset).
 */
export class TextKeySet {
  /** key bytes, key i at [starts[i], starts[i + 1]) */
  bytes: Buffer;
  starts: Int32Array;
  count = 0;
  private hashes: Int32Array;
  /** per slot, two words: key id + 1 (0 = empty) and the key's hash (one memory access a probe) */
  private table: Int32Array;
  private mask: number;
  /** every key so far ascends (see above): no table yet */
  private ascending = true;

  constructor(taken?: ReadonlySet<Key>) {
    this.bytes = Buffer.allocUnsafe(1 << 16);
    this.starts = new Int32Array(1025);
    this.hashes = new Int32Array(1024);
    this.table = new Int32Array(4096);
    this.mask = 2047;
    this.reset(taken);
  }

  /** Forget every key; start from the keys other chunks took, if any. */
  reset(taken?: ReadonlySet<Key>): void {
    this.count = 0;
    this.starts[0] = 0;
    this.ascending = true;
    if (taken) for (const k of taken) this.addString(String(k));
  }

  /** Every key so far came after the one before it (shorter first, then bytewise: ids in order). */
  get inOrder(): boolean {
    return this.ascending;
  }

  /** Record the key in buf[s, e); its id, or -1 when it was already there. */
  addBytes(buf: Uint8Array, s: number, e: number): number {
    if (this.ascending) {
      if (this.count === 0 || this.afterLast(buf, s, e)) return this.append(buf, s, e, 0);
      this.buildTable();
    }
    const h = hashBytes(buf, s, e);
    const { table, starts, mask } = this;
    const bytes = this.bytes;
    const len = e - s;
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const id = table[2 * slot] - 1;
      if (id < 0) break;
      if (table[2 * slot + 1] === h && starts[id + 1] - starts[id] === len) {
        let q = starts[id];
        let i = s;
        while (i < e && bytes[q] === buf[i]) {
          q++;
          i++;
        }
        if (i === e) return -1;
      }
      slot = (slot + 1) & mask;
    }
    const id = this.append(buf, s, e, h);
    table[2 * slot] = id + 1;
    table[2 * slot + 1] = h;
    // Keep the table at most half full: probes stay short.
    if (2 * this.count > this.mask) this.rehash();
    return id;
  }

  private append(buf: Uint8Array, s: number, e: number, h: number): number {
    const id = this.count;
    const len = e - s;
    const at = this.starts[id];
    if (at + len > this.bytes.length || id + 2 > this.starts.length) this.grow(len);
    const dst = this.bytes;
    for (let i = s, q = at; i < e; i++, q++) dst[q] = buf[i];
    this.starts[id + 1] = at + len;
    this.hashes[id] = h;
    this.count = id + 1;
    return id;
  }

  /** buf[s, e) sorts after the last key: longer, or as long and bytewise greater. */
  private afterLast(buf: Uint8Array, s: number, e: number): boolean {
    const { bytes, starts } = this;
    const ls = starts[this.count - 1];
    const len = e - s;
    const lastLen = starts[this.count] - ls;
    if (len !== lastLen) return len > lastLen;
    for (let i = 0; i < len; i++) {
      const a = buf[s + i];
      const b = bytes[ls + i];
      if (a !== b) return a > b;
    }
    return false;
  }

  /** Keys stopped ascending: hash every key so far into a table big enough for twice as many. */
  private buildTable(): void {
    this.ascending = false;
    let size = this.table.length >> 1;
    while (size < 4 * this.count) size *= 2;
    if (2 * size !== this.table.length) this.table = new Int32Array(2 * size);
    else this.table.fill(0);
    this.mask = size - 1;
    const { bytes, starts, hashes, table, mask } = this;
    for (let id = 0; id < this.count; id++) {
      const h = hashBytes(bytes, starts[id], starts[id + 1]);
      hashes[id] = h;
      let slot = (h ^ (h >>> 15)) & mask;
      while (table[2 * slot] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = id + 1;
      table[2 * slot + 1] = h;
    }
  }

  private scratch = new Uint8Array(64);

  /** Record a key given as a string (the general CSV path, an integer column read as text, other chunks' keys). */
  addString(key: string): number {
    const n = key.length;
    if (n <= this.scratch.length) {
      // ASCII (the usual key) byte by byte: cheaper than a native encode call per key
      const b = this.scratch;
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c >= 128) break;
        b[i] = c;
      }
      if (i === n) return this.addBytes(b, 0, n);
    }
    const b = Buffer.from(key, 'utf8');
    return this.addBytes(b, 0, b.length);
  }

  /** Record an integer key (an integer column read into a text key) by its decimal digits: no string. */
  addInteger(v: number): number {
    const b = this.scratch;
    let n = v < 0 ? -v : v;
    let i = b.length;
    do {
      const q = Math.floor(n / 10);
      b[--i] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
    if (v < 0) b[--i] = 45;
    return this.addBytes(b, i, b.length);
  }

  /** The key's text (for messages and the rare paths that need a string). */
  text(id: number): string {
    return this.bytes.toString('utf8', this.starts[id], this.starts[id + 1]);
  }

  private grow(len: number): void {
    if (this.starts[this.count] + len > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.starts[this.count] + len));
      this.bytes.copy(bigger, 0, 0, this.starts[this.count]);
      this.bytes = bigger;
    }
    if (this.count + 2 > this.starts.length) {
      const starts = new Int32Array(this.starts.length * 2);
      starts.set(this.starts);
      this.starts = starts;
      const hashes = new Int32Array(this.hashes.length * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
  }

  private rehash(): void {
    const size = (this.mask + 1) * 2;
    const table = new Int32Array(2 * size);
    const mask = size - 1;
    for (let id = 0; id < this.count; id++) {
      const h = this.hashes[id];
      let slot = (h ^ (h >>> 15)) & mask;
      while (table[2 * slot] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = id + 1;
      table[2 * slot + 1] = h;
    }
    this.table = table;
    this.mask = mask;
  }
}
