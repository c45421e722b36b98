/**
 * PostgreSQL binary COPY encoding. Binary skips float-to-text in JS and text-to-float in the server,
 * and text values go through byte for byte.
 */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
export const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** A growable buffer with the few big-endian writers COPY needs. */
export class CopyWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Bytes written so far, copied out; the writer starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  tupleStart(fields: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(fields, this.pos);
    this.pos += 2;
  }

  null(): void {
    this.ensure(4);
    this.buf.writeInt32BE(-1, this.pos);
    this.pos += 4;
  }

  float4(v: number): void {
    this.ensure(8);
    this.buf.writeInt32BE(4, this.pos);
    this.buf.writeFloatBE(v, this.pos + 4);
    this.pos += 8;
  }

  float8(v: number): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeDoubleBE(v, this.pos + 4);
    this.pos += 12;
  }

  int2(v: number): void {
    this.ensure(6);
    this.buf.writeInt32BE(2, this.pos);
    this.buf.writeInt16BE(v, this.pos + 4);
    this.pos += 6;
  }

  int4(v: number): void {
    this.ensure(8);
    this.buf.writeInt32BE(4, this.pos);
    this.buf.writeInt32BE(v, this.pos + 4);
    this.pos += 8;
  }

  int8(v: bigint): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeBigInt64BE(v, this.pos + 4);
    this.pos += 12;
  }

  /** An int8 from a number known to be a safe integer: no BigInt allocation. */
  int8FromNumber(v: number): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    const hi = Math.floor(v / 4294967296);
    this.buf.writeInt32BE(hi, this.pos + 4);
    this.buf.writeUInt32BE(v - hi * 4294967296, this.pos + 8);
    this.pos += 12;
  }

  bool(v: boolean): void {
    this.ensure(5);
    this.buf.writeInt32BE(1, this.pos);
    this.buf[this.pos + 4] = v ? 1 : 0;
    this.pos += 5;
  }

  text(s: string): void {
    const max = s.length * 3;
    this.ensure(4 + max);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeInt32BE(n, this.pos);
    this.pos += 4 + n;
  }

  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }
}

/** Encoded provenance fields (run_id, logical_date, model_version, scored_at), the same for every row of a chunk. */
export function provenanceBytes(runId: number, logicalDate: string, modelVersion: string, scoredAt: Date): Buffer {
  const w = new CopyWriter(256);
  w.int8FromNumber(runId);
  w.int4(Math.round((Date.parse(`${logicalDate}T00:00:00Z`) - PG_EPOCH_MS) / 86_400_000));
  w.text(modelVersion);
  w.int8(BigInt(scoredAt.getTime() - PG_EPOCH_MS) * 1000n);
  return w.take();
}

