/**
 * `COPY ... TO STDOUT` as a readable stream of the raw COPY bytes, like pg-copy-streams' `to`, whose
 * connection handling it keeps, but with a faster protocol parser. Postgres sends one CopyData
 * message per row; pg-copy-streams makes a buffer (and several calls) per message, which for small
 * rows cost more than decoding them. This parser copies each socket read's payload bytes into one
 * buffer, so a consumer that parses the COPY format itself (BinaryCopyReader) gets big pieces.
 */
import { to as copyTo } from 'pg-copy-streams';

const COPY_DATA = 0x64;
const ERROR_RESPONSE = 0x45;
/** messages that may arrive inside copy-out mode without ending it */
const IN_COPY = new Set([0x48 /* CopyOutResponse */, COPY_DATA, 0x41 /* Notification */, 0x4e /* Notice */, 0x53 /* ParameterStatus */]);
/** payloads this short are copied in a loop: cheaper than a native copy call */
const SMALL = 64;

type CopyToStream = ReturnType<typeof copyTo>;
/** pg-copy-streams' internals this subclass relies on: package.json pins pg-copy-streams 7.0.0 for them */
interface Internals {
  _buffer: { push(b: Buffer): void };
  _detach(): void;
  _cleanup(): void;
}
const Base = Object.getPrototypeOf(copyTo('')).constructor as new (text: string) => CopyToStream;

class FastCopyOut extends Base {
  private rest: Buffer | null = null;
  private code = 0;
  /** payload bytes of the current message not read yet */
  private left = 0;

  /** Called by the base class with each socket read; returns false to stop reading (backpressure). */
  _parse(chunk: Buffer): boolean {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    const out = Buffer.allocUnsafe(buf.length);
    let o = 0;
    let p = 0;
    let end: 'done' | 'error' | undefined;
    while (p < buf.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, buf.length - p);
        if (this.code === COPY_DATA) {
          if (n < SMALL) for (let i = 0; i < n; i++) out[o + i] = buf[p + i];
          else buf.copy(out, o, p, p + n);
          o += n;
        }
        p += n;
        this.left -= n;
        if (this.left > 0) break;
        if (!IN_COPY.has(this.code)) {
          end = 'done';
          break;
        }
        continue;
      }
      if (buf.length - p < 5) {
        this.rest = buf.subarray(p);
        break;
      }
      if (buf[p] === ERROR_RESPONSE) {
        end = 'error';
        break;
      }
      this.code = buf[p];
      this.left = buf.readUInt32BE(p + 1) - 4;
      p += 5;
      if (this.left === 0 && !IN_COPY.has(this.code)) {
        end = 'done';
        break;
      }
    }
    const drained = o > 0 ? this.push(out.subarray(0, o)) : true;
    if (end) {
      // The rest (an error, or CommandComplete and ReadyForQuery) goes back to pg's own parser.
      const self = this as unknown as Internals;
      self._buffer.push(buf.subarray(p));
      self._detach();
      if (end === 'done') {
        this.push(null);
        self._cleanup();
      }
      return false;
    }
    return drained;
  }
}

export function copyOut(sql: string): CopyToStream {
  return new FastCopyOut(sql);
}
