/**
 * PostgreSQL binary COPY encoding. Binary skips float-to-text in JS and text-to-float in the server,
 * and text values go through byte for byte.
 */
import { uuidBytes } from '../sources/uuid-keys.js';
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
export const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * A growable buffer with the few big-endian writers COPY needs. Writes go through a DataView, which
 * the JIT inlines (Buffer's write methods check their arguments on every call).
 */
export class CopyWriter {
  buf: Buffer;
  private view: DataView;
  pos = 0;
  /** where each tuple since the last take() starts, when tracked (`trackTuples`): for sortTuplesByKey */
  tupleStarts: Int32Array | undefined;
  tuples = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Record where each tuple starts from now on (tupleStarts, tuples). */
  trackTuples(): void {
    this.tupleStarts ??= new Int32Array(1 << 16);
  }

  /** Room for n more bytes after pos. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /**
   * Bytes written so far as a view of the writer's buffer (no copy); the writer starts over in the same
   * buffer, so nothing may be written until whoever got the view is done with it, or renew() is called.
   */
  lend(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    this.tuples = 0;
    return out;
  }

  /** A new buffer of the same size: the old one stays with whoever holds a view of it (lend). */
  renew(): void {
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Bytes written so far, copied out; the writer starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    this.tuples = 0;
    return out;
  }

  tupleStart(fields: number): void {
    if (this.tupleStarts !== undefined) {
      if (this.tuples === this.tupleStarts.length) {
        const next = new Int32Array(this.tuples * 2);
        next.set(this.tupleStarts);
        this.tupleStarts = next;
      }
      this.tupleStarts[this.tuples++] = this.pos;
    }
    this.ensure(2);
    this.view.setInt16(this.pos, fields);
    this.pos += 2;
  }

  null(): void {
    this.ensure(4);
    this.view.setInt32(this.pos, -1);
    this.pos += 4;
  }

  float4(v: number): void {
    this.ensure(8);
    this.view.setInt32(this.pos, 4);
    this.view.setFloat32(this.pos + 4, v);
    this.pos += 8;
  }

  float8(v: number): void {
    this.ensure(12);
    this.view.setInt32(this.pos, 8);
    this.view.setFloat64(this.pos + 4, v);
    this.pos += 12;
  }

  int2(v: number): void {
    this.ensure(6);
    this.view.setInt32(this.pos, 2);
    this.view.setInt16(this.pos + 4, v);
    this.pos += 6;
  }

  int4(v: number): void {
    this.ensure(8);
    this.view.setInt32(this.pos, 4);
    this.view.setInt32(this.pos + 4, v);
    this.pos += 8;
  }

  int8(v: bigint): void {
    this.ensure(12);
    this.view.setInt32(this.pos, 8);
    this.view.setBigInt64(this.pos + 4, v);
    this.pos += 12;
  }

  /** An int8 given as its two 32-bit halves (high half signed). */
  int8Halves(hi: number, lo: number): void {
    this.ensure(12);
    this.view.setInt32(this.pos, 8);
    this.view.setInt32(this.pos + 4, hi);
    this.view.setUint32(this.pos + 8, lo);
    this.pos += 12;
  }

  /** An int8 from a number known to be a safe integer: no BigInt allocation. */
  int8FromNumber(v: number): void {
    const hi = Math.floor(v / 4294967296);
    this.int8Halves(hi, v - hi * 4294967296);
  }

  bool(v: boolean): void {
    this.ensure(5);
    this.view.setInt32(this.pos, 1);
    this.buf[this.pos + 4] = v ? 1 : 0;
    this.pos += 5;
  }

  text(s: string): void {
    const max = s.length * 3;
    this.ensure(4 + max);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.view.setInt32(this.pos, n);
    this.pos += 4 + n;
  }

  /** One field of bytes already in its type's binary form (a typed passthrough value). */
  field(bytes: Uint8Array): void {
    this.ensure(4 + bytes.length);
    this.view.setInt32(this.pos, bytes.length);
    this.buf.set(bytes, this.pos + 4);
    this.pos += 4 + bytes.length;
  }

  /** A text value from UTF-8 bytes src[s, e), copied in a loop (keys are short: a native copy call costs more). */
  textBytes(src: Uint8Array, s: number, e: number): void {
    const n = e - s;
    this.ensure(4 + n);
    this.view.setInt32(this.pos, n);
    const { buf } = this;
    let q = this.pos + 4;
    for (let i = s; i < e; i++) buf[q++] = src[i];
    this.pos = q;
  }

  /** A uuid value (16 bytes) from its canonical text src[s, s + 36). */
  uuid(src: Uint8Array, s: number): void {
    this.ensure(20);
    this.view.setInt32(this.pos, 16);
    uuidBytes(src, s, this.buf, this.pos + 4);
    this.pos += 20;
  }

  /** Bytes copied in a loop: for the few dozen of a row's provenance this beats a native copy call. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const { buf, pos } = this;
    for (let i = 0; i < n; i++) buf[pos + i] = bytes[i];
    this.pos += n;
  }
}

/**
 * Encoded provenance fields (run_id, logical_date, model_version, and scored_at unless undefined: the
 * table's default fills it), the same for every row of a chunk.
 */
export function provenanceBytes(runId: number, logicalDate: string, modelVersion: string, scoredAt: Date | undefined): Buffer {
  const w = new CopyWriter(256);
  w.int8FromNumber(runId);
  w.int4(Math.round((Date.parse(`${logicalDate}T00:00:00Z`) - PG_EPOCH_MS) / 86_400_000));
  w.text(modelVersion);
  if (scoredAt) w.int8(BigInt(scoredAt.getTime() - PG_EPOCH_MS) * 1000n);
  return w.take();
}

