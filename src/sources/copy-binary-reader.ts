import { SourceError } from '../errors.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Incremental reader of COPY ... TO STDOUT (FORMAT binary): feed it buffers as they arrive and call
 * next() for each complete tuple; fields are read as (offset, length) into `buf`, length -1 for NULL.
 */
export class BinaryCopyReader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
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
    const rest = this.buf.length - this.pos;
    this.buf = rest > 0 ? Buffer.concat([this.buf.subarray(this.pos), data]) : data;
    this.pos = 0;
  }

  /** True when a tuple was decoded into starts/lengths; false when more data is needed or the trailer was read. */
  next(): boolean {
    const b = this.buf;
    let p = this.pos;
    if (!this.headerDone) {
      if (b.length - p < 19) return false;
      if (!b.subarray(p, p + 11).equals(SIGNATURE)) throw new SourceError('COPY binary stream has a bad signature');
      const ext = b.readUInt32BE(p + 15);
      if (b.length - p < 19 + ext) return false;
      this.pos = p = p + 19 + ext;
      this.headerDone = true;
    }
    if (b.length - p < 2) return false;
    const n = b.readInt16BE(p);
    if (n === -1) {
      this.done = true;
      this.pos = p + 2;
      return false;
    }
    if (n !== this.fieldCount) throw new SourceError(`COPY binary tuple has ${n} fields, expected ${this.fieldCount}`);
    p += 2;
    for (let i = 0; i < n; i++) {
      if (b.length - p < 4) return false;
      const len = b.readInt32BE(p);
      p += 4;
      this.starts[i] = p;
      this.lengths[i] = len;
      if (len > 0) {
        if (b.length - p < len) return false;
        p += len;
      }
    }
    this.pos = p;
    return true;
  }
}
