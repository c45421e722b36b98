import type pg from 'pg';
import { monitoringOf, type JobSpec } from '../spec/job-spec.js';
import { emptyProfile, mergeProfiles, psi, stddevOf, type ColumnProfile, type ProfileRole } from './column-profile.js';

export type DriftStatus = 'ok' | 'warn' | 'fail';

/** A column over a drift threshold. */
export interface DriftedColumn {
  role: ProfileRole;
  column: string;
  psi: number;
}

/** What a run's profile says at its end (null/empty: no profile or no reference). */
export interface DriftOutcome {
  /** the largest PSI of any column compared with a reference */
  max_psi: number | null;
  drift_status: DriftStatus | null;
  warnings: string[];
  /** guarded columns above drift_fail, worst first: the publish guard fails the run */
  failing: DriftedColumn[];
}

export const noDrift: DriftOutcome = { max_psi: null, drift_status: null, warnings: [], failing: [] };

const fmt = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(3));
export const describeColumn = (c: DriftedColumn) => `${c.role === 'output' ? 'output ' : ''}${c.column} (PSI ${fmt(c.psi)})`;

/**
 * Merge the done chunks' profiles into the run's (batchinfer.run_profiles), compare each column with
 * its reference (PSI over the shared edges) and judge the drift of the monitored columns against
 * drift_warn and drift_fail. Idempotent: a second finisher writes the same rows.
 */
export async function finishProfile(client: pg.ClientBase, runId: number, spec: JobSpec): Promise<DriftOutcome> {
  // Arrays as JSON, which JSON.parse reads natively (pg's array parser is slow, cold, at a small run's end);
  // a non-finite edge comes as a string ("Infinity") that Number reads.
  const skeleton = await client.query<{ role: ProfileRole; column_name: string; bin_edges: (number | string)[]; reference_counts: number[] | null }>(
    `SELECT role, column_name, to_json(bin_edges) AS bin_edges, to_json(reference_counts) AS reference_counts FROM batchinfer.run_profiles WHERE run_id = $1`,
    [runId],
  );
  if (skeleton.rows.length === 0) return noDrift;
  const chunks = await client.query<{ role: ProfileRole; column_name: string; count: string; non_finite: string; min: number | null; max: number | null; mean: number | null; m2: number | null; zeros: string; bin_counts: number[] }>(
    `SELECT p.role, p.column_name, p.count, p.non_finite, p.min, p.max, p.mean, p.m2, p.zeros, to_json(p.bin_counts) AS bin_counts
       FROM batchinfer.chunk_profiles p JOIN batchinfer.chunks c USING (run_id, chunk)
      WHERE p.run_id = $1 AND c.status = 'done' ORDER BY p.chunk`,
    [runId],
  );
  const merged = new Map<string, ColumnProfile>();
  for (const s of skeleton.rows) merged.set(`${s.role}:${s.column_name}`, emptyProfile(s.role, s.column_name, s.bin_edges.map(Number)));
  for (const c of chunks.rows) {
    const key = `${c.role}:${c.column_name}`;
    const into = merged.get(key);
    if (!into || c.bin_counts.length !== into.counts.length) continue; // written under other edges: not comparable (cannot happen within one run)
    merged.set(
      key,
      mergeProfiles(into, {
        role: c.role,
        column: c.column_name,
        count: Number(c.count),
        nonFinite: Number(c.non_finite),
        min: c.min,
        max: c.max,
        mean: c.mean,
        m2: c.m2,
        zeros: Number(c.zeros),
        edges: into.edges,
        counts: c.bin_counts.map(Number),
      }),
    );
  }
  const m = monitoringOf(spec);
  const listed = m.columns ? new Set(m.columns) : undefined;
  // Warned about: the listed columns, default all. Guarded (drift_fail): the listed columns, default the
  // inputs only: the guard refuses runs whose inputs drifted; outputs shift with them (or with a new
  // model) and warn, unless listed.
  const warns = (c: { column: string }) => !listed || listed.has(c.column);
  const guards = (c: { role: ProfileRole; column: string }) => (listed ? listed.has(c.column) : c.role === 'input');
  const scored: DriftedColumn[] = [];
  const rows = skeleton.rows.map((s) => {
    const p = merged.get(`${s.role}:${s.column_name}`)!;
    const value = s.reference_counts ? psi(p.counts, s.reference_counts.map(Number)) : null;
    if (value !== null) scored.push({ role: s.role, column: s.column_name, psi: value });
    return { role: s.role, column_name: s.column_name, count: p.count, non_finite: p.nonFinite, min: p.min, max: p.max, mean: p.mean, stddev: stddevOf(p), zeros: p.zeros, bin_counts: p.counts, psi: value };
  });
  await client.query(
    `UPDATE batchinfer.run_profiles r SET count = t.count, non_finite = t.non_finite, min = t.min, max = t.max, mean = t.mean, stddev = t.stddev, zeros = t.zeros, bin_counts = t.bin_counts, psi = t.psi
       FROM jsonb_to_recordset($2::jsonb) AS t(role text, column_name text, count bigint, non_finite bigint, min float8, max float8, mean float8, stddev float8, zeros bigint, bin_counts bigint[], psi float8)
      WHERE r.run_id = $1 AND r.role = t.role AND r.column_name = t.column_name`,
    [runId, JSON.stringify(rows)],
  );
  if (scored.length === 0) return noDrift;
  scored.sort((a, b) => b.psi - a.psi);
  const failing = m.driftFail === undefined ? [] : scored.filter((c) => guards(c) && c.psi > m.driftFail!);
  const warned = scored.filter((c) => (warns(c) || guards(c)) && c.psi > m.driftWarn && !failing.includes(c));
  const warnings = warned.map((c) => `drift: ${describeColumn(c)} above drift_warn ${m.driftWarn}`);
  return { max_psi: scored[0].psi, drift_status: failing.length ? 'fail' : warned.length ? 'warn' : 'ok', warnings, failing };
}

/** The publish guard's error on a run (the prefix `batchinfer accept` looks for). */
export const DRIFT_GUARD = 'drift guard:';

export function driftGuardError(runId: number, failing: DriftedColumn[], driftFail: number): string {
  return `${DRIFT_GUARD} PSI above drift_fail ${driftFail} in ${failing.map(describeColumn).join(', ')}; its rows are kept (WHERE run_id = ${runId}) but not published to _latest; see \`batchinfer report ${runId}\`, then \`batchinfer accept ${runId}\` to publish it`;
}
