import os from 'node:os';
import type { Tensor } from 'onnxruntime-node';
import type { RowBatch } from '../sources/source.js';
import { type ColumnProfile, type ProfileRole } from './column-profile.js';

/** What a run profiles: its input columns (per model input, in tensor order) and numeric outputs, each with the run's bin edges. */
export interface ProfilePlan {
  /** per model input (spec order): its columns' edges, in tensor order */
  inputs: { columns: string[]; edges: number[][] }[];
  outputs: { column: string; output: string; index: number; edges: number[] }[];
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Output element types profiled (strings are not). */
export const numericOutputTypes = new Set(['float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'bool']);

/**
 * One chunk's profile, filled batch by batch from the arrays scoring already holds (no copy, no
 * object per row). Per column: shifted sums Σ(x-K), Σ(x-K)² (K: the middle of its edges, so the sums
 * stay well-conditioned) give mean and m2 without a division per value; extremes, zeros, non-finite
 * values and a histogram over the run's edges.
 */
export class ChunkProfiler {
  private readonly n: number;
  private readonly roles: ProfileRole[] = [];
  private readonly names: string[] = [];
  private readonly edges: number[][] = [];
  private readonly shift: Float64Array;
  private readonly e0: Float64Array;
  private readonly inv: Float64Array;
  private readonly nb: Int32Array;
  private readonly off: Int32Array;
  /** each column's second histogram lane (see inputColumn) */
  private readonly off2: Int32Array;
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;
  private readonly mn: Float64Array;
  private readonly mx: Float64Array;
  private readonly zeros: Float64Array;
  private readonly bad: Float64Array;
  private readonly seen: Float64Array;
  private readonly hist: Int32Array;
  /** first profiled column of each model input */
  private readonly inputBase: number[] = [];
  private readonly outputBase: number;
  private scratch = new Float64Array(0);

  constructor(private readonly plan: ProfilePlan) {
    for (const input of plan.inputs) {
      this.inputBase.push(this.names.length);
      input.columns.forEach((c, j) => this.add('input', c, input.edges[j]));
    }
    this.outputBase = this.names.length;
    for (const o of plan.outputs) this.add('output', o.column, o.edges);
    const n = (this.n = this.names.length);
    [this.shift, this.e0, this.inv, this.s1, this.s2, this.zeros, this.bad, this.seen] = Array.from({ length: 8 }, () => new Float64Array(n));
    this.mn = new Float64Array(n).fill(Infinity);
    this.mx = new Float64Array(n).fill(-Infinity);
    this.nb = new Int32Array(n);
    this.off = new Int32Array(n);
    this.off2 = new Int32Array(n);
    let total = 0;
    this.edges.forEach((e, g) => {
      const nb = e.length - 1;
      this.nb[g] = nb;
      this.off[g] = total;
      total += nb;
      this.e0[g] = e[0];
      this.inv[g] = nb / (e[nb] - e[0]);
      this.shift[g] = (e[0] + e[nb]) / 2;
    });
    for (let g = 0; g < n; g++) this.off2[g] = total + this.off[g];
    this.hist = new Int32Array(2 * total);
  }

  private add(role: ProfileRole, name: string, edges: number[]): void {
    this.roles.push(role);
    this.names.push(name);
    this.edges.push(edges);
  }

  /** Profile the batch's scorable rows: every input column, and the numeric outputs in `results`. */
  addBatch(batch: RowBatch, results: Record<string, Tensor>): void {
    const n = batch.n;
    for (let i = 0; i < this.plan.inputs.length; i++) {
      const w = this.plan.inputs[i].columns.length;
      for (let j = 0; j < w; j++) this.inputColumn(this.inputBase[i] + j, batch.features[i], j, w, n * w);
    }
    for (let o = 0; o < this.plan.outputs.length; o++) {
      const spec = this.plan.outputs[o];
      const t = results[spec.output];
      if (!t) continue;
      const data = t.data as ArrayLike<number | bigint | boolean>;
      const stride = data.length / n;
      if (data instanceof Float32Array || data instanceof Float64Array) this.outputColumn(this.outputBase + o, data, spec.index, stride, n * stride);
      else {
        // Other element types (int64, int32, bool): this output's values, as doubles.
        const scratch = (this.scratch = this.scratch.length >= n ? this.scratch : new Float64Array(n));
        if (data instanceof BigInt64Array && LITTLE_ENDIAN) {
          // int64 as two int32 halves: reading a BigInt64Array element allocates a BigInt
          const h = new Int32Array(data.buffer, data.byteOffset, data.length * 2);
          for (let r = 0, i = 2 * spec.index; r < n; r++, i += 2 * stride) scratch[r] = h[i + 1] * 4294967296 + (h[i] >>> 0);
        } else for (let r = 0; r < n; r++) scratch[r] = Number(data[r * stride + spec.index]);
        this.outputColumn(this.outputBase + o, scratch, 0, 1, n);
      }
    }
  }

  /**
   * One input column of a batch: values v[start], v[start + step], ... below end. Column by column, so
   * the column's sums, extremes and bin geometry stay in registers; only its histogram is memory. No
   * check for NaN or Infinity: the sources reject rows with a non-finite feature before scoring.
   */
  private inputColumn(g: number, v: Float32Array, start: number, step: number, end: number): void {
    const hist = this.hist;
    const sh = this.shift[g];
    const lo = this.e0[g];
    const iv = this.inv[g];
    const top = this.nb[g] - 1;
    const xlo = lo + 1 / iv;
    const xhi = lo + top / iv;
    // Two rows per turn, each with its own sums and its own copy of the histogram (lane 0 at o, lane 1
    // at o2): two independent chains instead of one, about a third less time per value.
    const o = this.off[g];
    const o2 = this.off2[g];
    let a1 = 0;
    let a2 = 0;
    let b1 = 0;
    let b2 = 0;
    let mn = this.mn[g];
    let mx = this.mx[g];
    let zeros = 0;
    let k = start;
    for (const step2 = 2 * step; k + step < end; k += step2) {
      const x = v[k];
      const y = v[k + step];
      const d = x - sh;
      const e = y - sh;
      a1 += d;
      a2 += d * d;
      b1 += e;
      b2 += e * e;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      if (y < mn) mn = y;
      if (y > mx) mx = y;
      zeros += +(x === 0) + +(y === 0);
      // The bin: below the second edge the first, from the last inner edge up the last (values outside
      // the edges included), else the arithmetic one (safe to truncate in that range).
      hist[o + (x < xlo ? 0 : x >= xhi ? top : ((x - lo) * iv) | 0)]++;
      hist[o2 + (y < xlo ? 0 : y >= xhi ? top : ((y - lo) * iv) | 0)]++;
    }
    if (k < end) {
      const x = v[k];
      const d = x - sh;
      a1 += d;
      a2 += d * d;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      zeros += +(x === 0);
      hist[o + (x < xlo ? 0 : x >= xhi ? top : ((x - lo) * iv) | 0)]++;
    }
    this.s1[g] += a1 + b1;
    this.s2[g] += a2 + b2;
    this.mn[g] = mn;
    this.mx[g] = mx;
    this.zeros[g] += zeros;
    this.seen[g] += ((end - start + step - 1) / step) | 0;
  }

  /** An output column: like inputColumn, over any numeric array, NaN and ±Infinity counted apart (a model may return them). */
  private outputColumn(g: number, v: ArrayLike<number>, start: number, step: number, end: number): void {
    const hist = this.hist;
    const sh = this.shift[g];
    const lo = this.e0[g];
    const iv = this.inv[g];
    const top = this.nb[g] - 1;
    const o = this.off[g];
    let a1 = 0;
    let a2 = 0;
    let mn = this.mn[g];
    let mx = this.mx[g];
    let zeros = 0;
    let bad = 0;
    for (let k = start; k < end; k += step) {
      const x = v[k];
      if (x - x !== 0) {
        bad++;
        continue;
      }
      const d = x - sh;
      a1 += d;
      a2 += d * d;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      zeros += +(x === 0);
      const t = (x - lo) * iv;
      let b = (t > 1e9 ? 1e9 : t < -1e9 ? -1e9 : t) | 0;
      b &= ~(b >> 31);
      b -= top;
      b = (b & (b >> 31)) + top;
      hist[o + b]++;
    }
    this.s1[g] += a1;
    this.s2[g] += a2;
    this.mn[g] = mn;
    this.mx[g] = mx;
    this.zeros[g] += zeros;
    this.bad[g] += bad;
    this.seen[g] += ((end - start + step - 1) / step) | 0;
  }

  /** The chunk's profile per column. */
  profiles(): ColumnProfile[] {
    return this.names.map((column, g) => {
      const count = this.seen[g] - this.bad[g];
      const counts = Array.from(this.hist.subarray(this.off[g], this.off[g] + this.nb[g]), (c, i) => c + this.hist[this.off2[g] + i]);
      if (count === 0) return { role: this.roles[g], column, count: 0, nonFinite: this.bad[g], min: null, max: null, mean: null, m2: null, zeros: 0, edges: this.edges[g], counts };
      const mean = this.s1[g] / count;
      return {
        role: this.roles[g],
        column,
        count,
        nonFinite: this.bad[g],
        min: this.mn[g],
        max: this.mx[g],
        mean: this.shift[g] + mean,
        m2: Math.max(0, this.s2[g] - this.s1[g] * mean),
        zeros: this.zeros[g],
        edges: this.edges[g],
        counts,
      };
    });
  }
}
