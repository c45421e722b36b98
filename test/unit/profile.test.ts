import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';
import { monitoringOf } from '../../src/spec/job-spec.js';
import type { Tensor } from 'onnxruntime-node';
import { ChunkProfiler, type ProfilePlan } from '../../src/monitoring/chunk-profiler.js';
import { emptyProfile, mergeProfiles, psi, sampleEdges, stddevOf, type ColumnProfile } from '../../src/monitoring/column-profile.js';
import type { RowBatch } from '../../src/sources/source.js';

/** A batch of rows x 2 feature columns (row-major) and one float output. */
function batch(rows: [number, number][]): { b: RowBatch; results: Record<string, Tensor> } {
  const f = new Float32Array(rows.length * 2);
  rows.forEach(([a, c], r) => {
    f[2 * r] = a;
    f[2 * r + 1] = c;
  });
  const out = new Float32Array(rows.map(([a, c]) => a + c));
  return {
    b: { n: rows.length, features: [f], keys: rows.map((_, i) => i), passthrough: [], rejects: [], lines: null },
    results: { y: { data: out, dims: [rows.length, 1] } as unknown as Tensor },
  };
}

const plan: ProfilePlan = {
  inputs: [{ columns: ['a', 'c'], edges: [sampleEdges(0, 10), sampleEdges(-1, 1)] }],
  outputs: [{ column: 'y', output: 'y', index: 0, edges: sampleEdges(0, 11) }],
};

function profileOf(rows: [number, number][]): ColumnProfile[] {
  const p = new ChunkProfiler(plan);
  for (let i = 0; i < rows.length; i += 7) {
    const { b, results } = batch(rows.slice(i, i + 7));
    p.addBatch(b, results);
  }
  return p.profiles();
}

// Deterministic pseudo-random rows (values exact in float32).
const rows: [number, number][] = Array.from({ length: 200 }, (_, i) => [((i * 37) % 101) / 8 - 1, i % 5 === 0 ? 0 : (((i * 13) % 17) - 8) / 4]);

describe('column profiles', () => {
  it('merged across chunks equal one pass over all rows (counts, extremes, zeros, histogram; mean and m2 to rounding)', () => {
    const one = profileOf(rows);
    const parts = [rows.slice(0, 60), rows.slice(60, 61), rows.slice(61, 150), rows.slice(150)].map(profileOf);
    const merged = one.map((_, c) => parts.map((p) => p[c]).reduce((a, b) => mergeProfiles(a, b), emptyProfile(one[c].role, one[c].column, one[c].edges)));
    for (let c = 0; c < one.length; c++) {
      const [m, o] = [merged[c], one[c]];
      expect({ ...m, mean: 0, m2: 0 }).toEqual({ ...o, mean: 0, m2: 0 });
      expect(m.mean!).toBeCloseTo(o.mean!, 10);
      expect(m.m2!).toBeCloseTo(o.m2!, 8);
    }
    // Against a plain two-pass computation.
    const a = rows.map((r) => r[0]);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const m2 = a.reduce((s, x) => s + (x - mean) ** 2, 0);
    expect(one[0].mean!).toBeCloseTo(mean, 10);
    expect(one[0].m2!).toBeCloseTo(m2, 8);
    expect(stddevOf(one[0])!).toBeCloseTo(Math.sqrt(m2 / (a.length - 1)), 10);
    expect(one[0]).toMatchObject({ count: 200, min: Math.min(...a), max: Math.max(...a), zeros: a.filter((x) => x === 0).length });
    expect(one[1].zeros).toBe(rows.filter((r) => r[1] === 0).length);
    expect(one[0].counts.reduce((s, x) => s + x, 0)).toBe(200);
  });

  it('bins out-of-range values into the first and last bins; an output\'s NaN and Infinity are counted apart', () => {
    const p = new ChunkProfiler(plan);
    const { b, results } = batch([[-100, 0], [1e30, 0], [-1e30, 0], [5, 0]]);
    (results.y.data as Float32Array).set([NaN, Infinity], 2);
    p.addBatch(b, results);
    const [a, , y] = p.profiles();
    expect(a.count).toBe(4);
    expect(a.counts[0]).toBe(2);
    expect(a.counts[a.counts.length - 1]).toBe(1);
    expect(a.counts.reduce((s, x) => s + x, 0)).toBe(4);
    expect([a.min, a.max]).toEqual([Math.fround(-1e30), Math.fround(1e30)]);
    expect([y.count, y.nonFinite]).toEqual([2, 2]);
    expect(y.counts.reduce((s, x) => s + x, 0)).toBe(2);
  });

  it('sample edges: 20 equal bins over the sample range plus under- and overflow bins; a constant sample gets a range', () => {
    const e = sampleEdges(0, 10);
    expect(e).toHaveLength(23);
    expect(e[1]).toBe(0);
    expect(e[21]).toBe(10);
    expect(e[0]).toBeCloseTo(-0.5);
    expect(e[22]).toBeCloseTo(10.5);
    const z = sampleEdges(0, 0);
    expect(z[1]).toBeLessThan(0);
    expect(z[21]).toBeGreaterThan(0);
  });
});

describe('population stability index', () => {
  it('matches a hand-computed value', () => {
    // shares p = .1 .2 .3 .4 vs q = .25 .25 .25 .25:
    // (.1-.25)ln(.4) + (.2-.25)ln(.8) + (.3-.25)ln(1.2) + (.4-.25)ln(1.6)
    const hand = -0.15 * Math.log(0.4) - 0.05 * Math.log(0.8) + 0.05 * Math.log(1.2) + 0.15 * Math.log(1.6);
    expect(hand).toBeCloseTo(0.2282, 4); // 0.13744 + 0.01116 + 0.00912 + 0.07050
    expect(psi([10, 20, 30, 40], [25, 25, 25, 25])).toBeCloseTo(hand, 12);
    expect(psi([1, 2, 3], [1, 2, 3])).toBe(0);
  });

  it('empty bins give a large finite value, never Infinity or NaN; no values at all gives null', () => {
    const v = psi([100, 0, 0], [0, 0, 100]);
    expect(Number.isFinite(v)).toBe(true);
    expect(v!).toBeGreaterThan(10);
    const w = psi([50, 50, 0], [50, 0, 50]);
    expect(Number.isFinite(w)).toBe(true);
    expect(psi([0, 0], [1, 1])).toBeNull();
    expect(psi([1, 1], [0, 0])).toBeNull();
  });
});

describe('the monitoring spec', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-monitoring-spec-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const BASE = 'model: { path: m.onnx }\nsource: { csv: { path: d.csv } }\nkey: id\ninputs: { x: [a, b] }\noutputs: { score: { output: y } }\nsink: { table: scores.t }\n';
  const load = (monitoring: string) => {
    fs.writeFileSync(path.join(dir, 'job.yaml'), BASE + monitoring);
    return loadSpec('job.yaml', dir);
  };
  const problems = (monitoring: string) => {
    try {
      load(monitoring);
    } catch (err) {
      return (err as Error).message.split('\n');
    }
    throw new Error('expected a spec error');
  };

  it('defaults: reference previous, warn at 0.1, no fail, profiling on', () => {
    expect(monitoringOf(load(''))).toEqual({ profile: true, profileEvery: 2, reference: { kind: 'previous' }, driftWarn: 0.1 });
    expect(load('monitoring: {}\n').monitoring).toMatchObject({ profile: true, reference: { kind: 'previous' }, driftWarn: 0.1, driftFail: undefined });
  });

  it('reference: a run id, or a CSV relative to the spec file', () => {
    expect(load('monitoring: { reference: 12, drift_fail: 0.3 }\n').monitoring).toMatchObject({ reference: { kind: 'run', runId: 12 }, driftFail: 0.3 });
    expect(load('monitoring: { reference: "12" }\n').monitoring?.reference).toEqual({ kind: 'run', runId: 12 });
    expect(load('monitoring: { reference: data/base.csv }\n').monitoring?.reference).toEqual({ kind: 'csv', path: path.join(dir, 'data/base.csv') });
  });

  it('every problem named with its key', () => {
    expect(problems('monitoring: { reference: yesterday, drift_warn: 0.3, drift_fail: 0.2, profil: true }\n')).toEqual([
      "job.yaml: monitoring.reference: must be previous (the job's last succeeded run), a run id, or a .csv file of reference rows (relative to the spec file)",
      'job.yaml: monitoring.profil: unknown key (did you mean "profile"?); remove it or fix its spelling',
      'job.yaml: monitoring.drift_fail: drift_fail must be >= drift_warn',
    ]);
    expect(problems('monitoring: { columns: [a, nope] }\n')).toEqual(['job.yaml: monitoring.columns[1]: "nope" is neither an input column nor an output column of this job']);
  });
});
