import { numberKeyOfInt8, type Key } from './keys.js';
import { SourceError } from '../errors.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Incremental reader of COPY ... TO STDOUT (FORMAT binary): feed it buffers as they arrive and call
 * next() for each complete tuple; fields are read as (offset, length) into `buf`, length -1 for NULL.
 * One buffer is reused (compacted, grown when needed), read through a DataView: no copy per tuple.
 */
export class BinaryCopyReader {
  buf: Buffer = Buffer.allocUnsafe(1 << 20);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  pos = 0;
  end = 0;
  private headerDone = false;
  done = false;
  /** per field of the current tuple: start offset and length (-1 = NULL) */
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
  /** 1 for fields that hold float4 values (for messages) */
  readonly floatFields: Uint8Array;

  constructor(readonly fieldCount: number) {
    this.starts = new Int32Array(fieldCount);
    this.lengths = new Int32Array(fieldCount);
    this.floatFields = new Uint8Array(fieldCount);
  }

  push(data: Buffer): void {
    const rest = this.end - this.pos;
    if (rest + data.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, rest + data.length));
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
      this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
    } else if (this.end + data.length > this.buf.length) this.buf.copy(this.buf, 0, this.pos, this.end);
    else {
      data.copy(this.buf, this.end);
      this.end += data.length;
      return;
    }
    this.pos = 0;
    this.end = rest;
    data.copy(this.buf, this.end);
    this.end += data.length;
  }

  /** A binary int8 as decimal text, without a BigInt when it is a safe integer. */
  int8Text(offset: number): string {
    const hi = this.view.getInt32(offset, false);
    if (hi >= -0x200000 && hi < 0x200000) return String(hi * 4294967296 + this.view.getUint32(offset + 4, false));
    return this.view.getBigInt64(offset, false).toString();
  }

  /** A binary int8 as a Key (number up to 15 digits, else text). */
  int8Key(offset: number): Key {
    return numberKeyOfInt8(this.view.getInt32(offset, false), this.view.getUint32(offset + 4, false)) ?? this.view.getBigInt64(offset, false).toString();
  }

  float4(offset: number): number {
    return this.view.getFloat32(offset, false);
  }

  /** True when a tuple was decoded into starts/lengths; false when more data is needed or the trailer was read. */
  next(): boolean {
    const { view, end } = this;
    let p = this.pos;
    if (!this.headerDone) {
      if (end - p < 19) return false;
      if (!this.buf.subarray(p, p + 11).equals(SIGNATURE)) throw new SourceError('COPY binary stream has a bad signature');
      const ext = view.getUint32(p + 15, false);
      if (end - p < 19 + ext) return false;
      this.pos = p = p + 19 + ext;
      this.headerDone = true;
    }
    if (end - p < 2) return false;
    const n = view.getInt16(p, false);
    if (n === -1) {
      this.done = true;
      this.pos = p + 2;
      return false;
    }
    if (n !== this.fieldCount) throw new SourceError(`COPY binary tuple has ${n} fields, expected ${this.fieldCount}`);
    p += 2;
    const { starts, lengths } = this;
    for (let i = 0; i < n; i++) {
      if (end - p < 4) return false;
      const len = view.getInt32(p, false);
      p += 4;
      starts[i] = p;
      lengths[i] = len;
      if (len > 0) {
        if (end - p < len) return false;
        p += len;
      }
    }
    this.pos = p;
    return true;
  }
}
