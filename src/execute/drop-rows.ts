import type { RowBatch } from '../sources/source.js';

/** Remove the rows `drop` picks from a batch, compacting features, keys, lines and passthrough in place. */
export function dropRows(batch: RowBatch, drop: (row: number) => boolean): void {
  let out = 0;
  for (let r = 0; r < batch.n; r++) {
    if (drop(r)) continue;
    if (out !== r) {
      batch.features.forEach((f) => {
        const w = f.length / batch.keys.length;
        f.copyWithin(out * w, r * w, (r + 1) * w);
      });
      batch.keys[out] = batch.keys[r];
      if (batch.lines) batch.lines[out] = batch.lines[r];
      for (const p of batch.passthrough) p[out] = p[r];
    }
    out++;
  }
  batch.n = out;
}
