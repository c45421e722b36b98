/**
 * A column's profile as stored (batchinfer.chunk_profiles, run_profiles): counts, extremes, mean and m2
 * (Welford's sum of squared deviations, mergeable across chunks by Chan's formula) and a histogram over
 * fixed, equal-width bin edges (values outside the edges count in the first or last bin).
 */
export type ProfileRole = 'input' | 'output';

export interface ColumnProfile {
  role: ProfileRole;
  column: string;
  /** finite values seen */
  count: number;
  /** NaN and ±Infinity, not in any other figure */
  nonFinite: number;
  /** null when count = 0 */
  min: number | null;
  max: number | null;
  mean: number | null;
  /** sum of squared deviations from the mean */
  m2: number | null;
  zeros: number;
  /** bins + 1 equal-width edges */
  edges: number[];
  counts: number[];
}

/** A column's identity in maps: role and name. */
export const columnKey = (role: ProfileRole, column: string) => `${role}:${column}`;

export function emptyProfile(role: ProfileRole, column: string, edges: number[]): ColumnProfile {
  return { role, column, count: 0, nonFinite: 0, min: null, max: null, mean: null, m2: null, zeros: 0, edges, counts: new Array<number>(edges.length - 1).fill(0) };
}

/**
 * Merge two profiles of the same column with the same edges (Chan et al.'s pairwise update of mean and
 * m2: the result equals one pass over both parts, up to rounding).
 */
export function mergeProfiles(a: ColumnProfile, b: ColumnProfile): ColumnProfile {
  if (a.counts.length !== b.counts.length) throw new Error(`profile of ${a.role} column "${a.column}": bin counts of different lengths (${a.counts.length}, ${b.counts.length}) cannot be merged`);
  const counts = a.counts.map((c, i) => c + b.counts[i]);
  const base = { role: a.role, column: a.column, nonFinite: a.nonFinite + b.nonFinite, zeros: a.zeros + b.zeros, edges: a.edges, counts };
  if (b.count === 0) return { ...a, ...base };
  if (a.count === 0) return { ...b, ...base };
  const n = a.count + b.count;
  const delta = b.mean! - a.mean!;
  return {
    ...base,
    count: n,
    min: Math.min(a.min!, b.min!),
    max: Math.max(a.max!, b.max!),
    mean: a.mean! + (delta * b.count) / n,
    m2: a.m2! + b.m2! + (delta * delta * a.count * b.count) / n,
  };
}

/** Sample standard deviation (n - 1); 0 for a single value, null for none. */
export function stddevOf(p: ColumnProfile): number | null {
  if (p.count === 0 || p.m2 === null) return null;
  return p.count > 1 ? Math.sqrt(Math.max(0, p.m2) / (p.count - 1)) : 0;
}

/** Inner bins of a histogram made from a sample's range; one more bin on each side takes what falls outside it. */
export const SAMPLE_BINS = 20;

/**
 * Equal-width edges for a column first seen in a sample: SAMPLE_BINS bins over [lo, hi], plus an
 * underflow and an overflow bin of the same width (which, as the first and last bins, take every value
 * below lo or from hi up). A constant or empty sample gets a unit-wide range around its value.
 */
export function sampleEdges(lo: number, hi: number, bins = SAMPLE_BINS): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (hi <= lo) {
    const half = Math.max(Math.abs(lo) * 0.05, 0.5);
    [lo, hi] = [lo - half, lo + half];
  }
  const w = (hi - lo) / bins;
  return Array.from({ length: bins + 3 }, (_, i) => (i === 1 ? lo : i === bins + 1 ? hi : lo + (i - 1) * w));
}

/**
 * Which bin a value falls in (equal-width edges: first edge e0, 1 / width inv, nb bins), out-of-range
 * values in the first or last bin. The one binning rule: chunks and references bin alike.
 */
export function binOf(x: number, e0: number, inv: number, nb: number): number {
  const t = (x - e0) * inv;
  return t >= nb ? nb - 1 : t < 1 ? 0 : t | 0;
}

/**
 * Population stability index of `current` against `reference` (bin counts over the same edges):
 * sum over bins of (p - q) * ln(p / q), with p and q the bins' shares, each at least `epsilon` so an
 * empty bin gives a large but finite term, never Infinity. Null when either side has no values.
 */
export function psi(current: ArrayLike<number>, reference: ArrayLike<number>, epsilon = PSI_EPSILON): number | null {
  if (current.length !== reference.length) return null;
  let nc = 0;
  let nr = 0;
  for (let i = 0; i < current.length; i++) {
    nc += current[i];
    nr += reference[i];
  }
  if (nc === 0 || nr === 0) return null;
  let s = 0;
  for (let i = 0; i < current.length; i++) {
    const p = Math.max(current[i] / nc, epsilon);
    const q = Math.max(reference[i] / nr, epsilon);
    s += (p - q) * Math.log(p / q);
  }
  return s;
}

/** The smallest share a bin counts with in the PSI (an empty bin's); 1e-4 is the usual choice. */
export const PSI_EPSILON = 1e-4;
