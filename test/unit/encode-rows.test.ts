import { describe, expect, it } from 'vitest';
import type { Tensor } from 'onnxruntime-node';
import { CopyWriter, provenanceBytes } from '../../src/sink/copy-binary.js';
import { encodeRows } from '../../src/sink/encode-rows.js';
import type { RowBatch } from '../../src/sources/source.js';

/** Decode binary COPY tuples back to [length, bytes] fields. */
function tuples(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let p = 0; p < buf.length; ) {
    const n = buf.readInt16BE(p);
    p += 2;
    const fields: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readInt32BE(p);
      p += 4;
      fields.push(buf.subarray(p, p + len));
      p += len;
    }
    out.push(fields);
  }
  return out;
}

describe('encodeRows', () => {
  it('writes int64 outputs and keys of every size exactly (no BigInt per value, no double rounding)', () => {
    const keys = [0, -1, 999999999999999, '9223372036854775807', '-9223372036854775808'];
    const cls = [-1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 4294967296n];
    const score = [0.1, -2.5, 3, 1e-3, 7];
    const batch: RowBatch = { n: keys.length, features: [], keys, passthrough: [], rejects: [], lines: null };
    const results = {
      cls: { data: BigInt64Array.from(cls), dims: [5] },
      // [n, 2] output, column index 1 taken
      pair: { data: Float32Array.from(score.flatMap((s) => [0, s])), dims: [5, 2] },
    } as unknown as Record<string, Tensor>;
    const w = new CopyWriter(16); // grows while writing
    const provenance = { bytes: provenanceBytes(42, '2026-01-02', 'v1', new Date('2026-01-02T03:04:05Z')), fields: 4 };
    encodeRows(w, batch, 'bigint', [
      { column: 'cls', output: 'cls', type: 'int64', sqlType: 'bigint' },
      { column: 'p', output: 'pair', index: 1, type: 'float32', sqlType: 'real' },
    ], results, provenance);
    const got = tuples(w.take());
    expect(got.map((f) => [f[0].readBigInt64BE().toString(), f[1].readBigInt64BE(), f[2].readFloatBE(), f[3].readBigInt64BE(), f[5].toString()])).toEqual(
      keys.map((k, i) => [String(k), cls[i], Math.fround(score[i]), 42n, 'v1']),
    );
    expect(got.every((f) => f.length === 7)).toBe(true);
  });

  it('leaves scored_at out when the table fills it: three provenance fields per tuple', () => {
    const batch: RowBatch = { n: 2, features: [], keys: [1, 2], passthrough: [], rejects: [], lines: null };
    const results = { s: { data: Float32Array.from([0.5, 0.25]), dims: [2] } } as unknown as Record<string, Tensor>;
    const w = new CopyWriter(16);
    encodeRows(w, batch, 'bigint', [{ column: 's', output: 's', type: 'float32', sqlType: 'real' }], results, { bytes: provenanceBytes(7, '2026-01-02', 'v2', undefined), fields: 3 });
    const got = tuples(w.take());
    expect(got.map((f) => [f.length, f[0].readBigInt64BE(), f[1].readFloatBE(), f[2].readBigInt64BE(), f[4].toString()])).toEqual([
      [5, 1n, 0.5, 7n, 'v2'],
      [5, 2n, 0.25, 7n, 'v2'],
    ]);
  });

  it("lend() hands out the writer's bytes without a copy; after renew() the lent bytes stay as they were", () => {
    const w = new CopyWriter(64);
    w.int4(1);
    const first = w.lend();
    expect(first.buffer).toBe(w.buf.buffer); // a view: the writer writes over it next
    w.renew();
    w.int4(2);
    expect(first.readInt32BE(4)).toBe(1);
    expect(w.lend().readInt32BE(4)).toBe(2);
  });
});
