import path from 'node:path';
import type pg from 'pg';
import type { InferenceSession } from 'onnxruntime-node';
import { defaults } from '../defaults.js';
import { FinalError } from '../errors.js';
import type { OutputColumn } from '../model/signature.js';
import type { RunRecord } from '../runs/ledger.js';
import { CsvSource } from '../sources/csv-source.js';
import type { ChunkRange, Source } from '../sources/source.js';
import { monitoringOf } from '../spec/job-spec.js';
import type { ProfilePlan } from './chunk-profiler.js';
import { columnKey, mergeProfiles, sampleEdges, type ColumnProfile, type ProfileRole } from './column-profile.js';
import { trace } from '../trace.js';
import { planWith, profileRows, profiledColumns } from './profile-rows.js';

/** What the run's chunks need to profile: the source and model they score with, and the chunk at hand (for a sample). */
export interface PlanDeps {
  client: pg.ClientBase;
  run: RunRecord;
  outputs: OutputColumn[];
  source: Source;
  session: InferenceSession;
  chunk: ChunkRange;
  signal?: AbortSignal;
}

/** A reference column: its edges, bin counts and summary. */
interface RefColumn {
  edges: number[];
  counts: number[];
  mean: number | null;
  min: number | null;
  max: number | null;
}

/**
 * The run's profile plan: each column's bin edges, the same for every chunk of the run. The first
 * chunk of a run to get here decides them and records them in batchinfer.run_profiles (one row per
 * column, counts zero until the run ends), with the reference they come from: the reference's own
 * edges (so its histogram and the run's compare bin for bin), or, for a column the reference lacks,
 * SAMPLE_BINS equal bins over the range of a sample (defaults.profileSampleRows rows in all, the first
 * rows of up to 8 chunks planned so far, scored once more) plus an underflow and an overflow bin.
 * Chunks deciding at once: the first insert wins (ON CONFLICT DO NOTHING) and everyone reads the rows
 * back. Undefined when the spec turns profiling off.
 */
export async function runProfilePlan(d: PlanDeps): Promise<ProfilePlan | undefined> {
  const spec = d.run.spec;
  if (!monitoringOf(spec).profile) return undefined;
  const columns = profiledColumns(spec, d.outputs);
  let stored = await storedEdges(d.client, d.run.runId);
  const lacking = () => columns.some((c) => !stored.has(columnKey(c.role, c.column)));
  if (lacking()) {
    trace('profile plan: deciding');
    stored = await decide(d, columns);
    trace('profile plan: decided');
    if (lacking()) stored = await storedEdges(d.client, d.run.runId); // another chunk decided some at once: its rows
  }
  return planWith(spec, d.outputs, (role, column) => {
    const e = stored.get(columnKey(role, column));
    if (!e) throw new Error(`run ${d.run.runId}: no bin edges recorded for ${role} column "${column}" in batchinfer.run_profiles`);
    return e;
  });
}

/** Chunks a sample is read from. */
const SAMPLE_CHUNKS = 8;

/** Up to SAMPLE_CHUNKS of the run's chunks planned so far, evenly spread, this chunk among them. */
async function sampleChunks(d: PlanDeps): Promise<ChunkRange[]> {
  const { rows } = await d.client.query<{ chunk: number; range: Record<string, unknown>; planned_rows: string | null }>(
    `SELECT chunk, range, planned_rows FROM batchinfer.chunks WHERE run_id = $1 ORDER BY chunk`,
    [d.run.runId],
  );
  const all = rows.map((r) => ({ chunk: r.chunk, range: r.range, plannedRows: r.planned_rows === null ? undefined : Number(r.planned_rows) }));
  if (all.length <= SAMPLE_CHUNKS) return all.some((c) => c.chunk === d.chunk.chunk) ? all : [d.chunk, ...all.slice(0, SAMPLE_CHUNKS - 1)];
  const picked = Array.from({ length: SAMPLE_CHUNKS - 1 }, (_, i) => all[Math.floor((i * all.length) / (SAMPLE_CHUNKS - 1))]).filter((c) => c.chunk !== d.chunk.chunk);
  return [d.chunk, ...picked];
}

/**
 * Arrays travel as JSON (to_json), which JSON.parse reads natively: pg's parser for float8[] took ~10 ms of a
 * 1,000-row run's start, cold. A non-finite float comes as a string ("Infinity"), which Number reads.
 */
const edgesOf = (rows: { role: ProfileRole; column_name: string; bin_edges: (number | string)[] }[]) => new Map(rows.map((r) => [columnKey(r.role, r.column_name), r.bin_edges.map(Number)]));

async function storedEdges(client: pg.ClientBase, runId: number): Promise<Map<string, number[]>> {
  const { rows } = await client.query<{ role: ProfileRole; column_name: string; bin_edges: (number | string)[] }>(`SELECT role, column_name, to_json(bin_edges) AS bin_edges FROM batchinfer.run_profiles WHERE run_id = $1`, [runId]);
  return edgesOf(rows);
}

/** Decide and record the run's edges; returns the rows this call recorded (a column another chunk recorded first is not among them). */
async function decide(d: PlanDeps, columns: { role: ProfileRole; column: string }[]): Promise<Map<string, number[]>> {
  const ref = await reference(d);
  const missing = columns.filter((c) => !ref.columns.has(columnKey(c.role, c.column)));
  let sampled = new Map<string, ColumnProfile>();
  if (missing.length) {
    // Only the range matters here: any edges do. The first rows of up to SAMPLE_CHUNKS chunks planned so
    // far, spread over them (a file sorted by some column shows more of its range than in one chunk).
    const plan = planWith(d.run.spec, d.outputs, () => [0, 1]);
    const chunks = await sampleChunks(d);
    const opts = { maxRowsPerChunk: Math.ceil(defaults.profileSampleRows / chunks.length), signal: d.signal, snapshot: d.run.sourceSnapshot ?? undefined };
    for (const c of chunks) {
      let part: Map<string, ColumnProfile>;
      try {
        part = await profileRows(d.source, d.session, d.run.spec, plan, [c], opts);
      } catch (err) {
        // Another chunk's bad input is that chunk's failure, met when it is scored; this chunk's own is this one's.
        if (c.chunk === d.chunk.chunk || d.signal?.aborted) throw err;
        continue;
      }
      for (const [key, p] of part) {
        const had = sampled.get(key);
        sampled.set(key, had ? mergeProfiles(had, p) : p); // same edges: the range merges
      }
    }
  }
  const rows = columns.map((c) => {
    const key = columnKey(c.role, c.column);
    const r = ref.columns.get(key);
    const s = sampled.get(key);
    const edges = r ? r.edges : sampleEdges(s?.min ?? NaN, s?.max ?? NaN);
    return {
      role: c.role,
      column_name: c.column,
      bin_edges: edges,
      bin_counts: new Array<number>(edges.length - 1).fill(0),
      reference: r ? ref.label : null,
      reference_run_id: r ? ref.runId : null,
      reference_counts: r?.counts ?? null,
      reference_mean: r?.mean ?? null,
      reference_min: r?.min ?? null,
      reference_max: r?.max ?? null,
    };
  });
  const recorded = await d.client.query<{ role: ProfileRole; column_name: string; bin_edges: (number | string)[] }>(
    `WITH recorded AS (
       INSERT INTO batchinfer.run_profiles (run_id, role, column_name, count, bin_edges, bin_counts, reference, reference_run_id, reference_counts, reference_mean, reference_min, reference_max)
       SELECT $1, t.role, t.column_name, 0, t.bin_edges, t.bin_counts, t.reference, t.reference_run_id, t.reference_counts, t.reference_mean, t.reference_min, t.reference_max
         FROM jsonb_to_recordset($2::jsonb) AS t(role text, column_name text, bin_edges float8[], bin_counts bigint[], reference text, reference_run_id bigint, reference_counts bigint[], reference_mean float8, reference_min float8, reference_max float8)
       ON CONFLICT (run_id, role, column_name) DO NOTHING
       RETURNING role, column_name, bin_edges)
     SELECT role, column_name, to_json(bin_edges) AS bin_edges FROM recorded`,
    [d.run.runId, JSON.stringify(rows)],
  );
  return edgesOf(recorded.rows);
}

/** The reference the spec names, as columns (none: the job has no earlier profiled run to compare with). */
async function reference(d: PlanDeps): Promise<{ label: string | null; runId: number | null; columns: Map<string, RefColumn> }> {
  const m = monitoringOf(d.run.spec);
  const r = m.reference;
  if (r.kind === 'csv') return { label: path.relative(d.run.projectRoot ?? process.cwd(), r.path) || r.path, runId: null, columns: await baseline(d, r.path) };
  // The named run, or the job's last succeeded run that has a profile (a run the guard failed is no
  // reference until accepted); one query, its profile's arrays as JSON (see edgesOf).
  const { rows } = await d.client.query<{ run_id: string; role: ProfileRole; column_name: string; bin_edges: (number | string)[]; bin_counts: number[]; mean: number | null; min: number | null; max: number | null }>(
    `SELECT p.run_id, p.role, p.column_name, to_json(p.bin_edges) AS bin_edges, to_json(p.bin_counts) AS bin_counts, p.mean, p.min, p.max
       FROM batchinfer.run_profiles p
      WHERE p.count > 0 AND p.run_id = ${
        r.kind === 'run'
          ? '$1::bigint'
          : `(SELECT r.run_id FROM batchinfer.runs r
               WHERE r.job = $1 AND r.run_id <> $2 AND r.status = 'succeeded' AND EXISTS (SELECT 1 FROM batchinfer.run_profiles q WHERE q.run_id = r.run_id AND q.count > 0)
               ORDER BY r.finished_at DESC NULLS LAST, r.run_id DESC LIMIT 1)`
      }`,
    r.kind === 'run' ? [r.runId] : [d.run.job, d.run.runId],
  );
  if (r.kind === 'run' && rows.length === 0)
    throw new FinalError(`${d.run.spec.specLabel}: monitoring.reference: run ${r.runId} has no profile in batchinfer.run_profiles (no such run, not finished, or profiled with monitoring.profile: false); name a finished run with a profile, or use previous`);
  if (rows.length === 0) return { label: null, runId: null, columns: new Map() };
  return {
    label: r.kind === 'run' ? 'run' : 'previous',
    runId: Number(rows[0].run_id),
    columns: new Map(rows.map((x) => [columnKey(x.role, x.column_name), { edges: x.bin_edges.map(Number), counts: x.bin_counts.map(Number), mean: x.mean, min: x.min, max: x.max }])),
  };
}

/**
 * A baseline CSV's profile: its rows read and scored like the job's own (the same key and input
 * columns), twice: once for each column's range, once into SAMPLE_BINS bins over it.
 */
async function baseline(d: PlanDeps, file: string): Promise<Map<string, RefColumn>> {
  const spec = { ...d.run.spec, source: { kind: 'csv' as const, path: file } };
  const source = new CsvSource(spec, { file, label: `monitoring.reference (${path.basename(file)})`, readBytes: defaults.csvReadBytes });
  try {
    let chunks: ChunkRange[];
    try {
      chunks = await source.plan({ signal: d.signal });
    } catch (err) {
      throw new FinalError(`${d.run.spec.specLabel}: monitoring.reference: the baseline ${file} cannot be read as this job's input: ${(err as Error).message}`);
    }
    const ranges = await profileRows(source, d.session, spec, planWith(spec, d.outputs, () => [0, 1]), chunks, { signal: d.signal });
    const edgesOf = (role: ProfileRole, column: string) => {
      const p = ranges.get(columnKey(role, column));
      return sampleEdges(p?.min ?? NaN, p?.max ?? NaN);
    };
    const full = await profileRows(source, d.session, spec, planWith(spec, d.outputs, edgesOf), chunks, { signal: d.signal });
    return new Map([...full].filter(([, p]) => p.count > 0).map(([k, p]) => [k, { edges: p.edges, counts: p.counts, mean: p.mean, min: p.min, max: p.max }]));
  } finally {
    await source.close().catch(() => undefined);
  }
}
