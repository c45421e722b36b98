import type { Tensor } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { checkJob } from '../execute/prepare-run.js';
import { buildFeeds, feedInputs } from '../model/feeds.js';
import type { OutputColumn } from '../model/signature.js';
import { nanRows } from '../sink/encode-rows.js';
import { openSource } from '../sources/open-source.js';
import type { Key } from '../sources/keys.js';
import { keyOf, type ChunkRange, type RowBatch } from '../sources/source.js';
import type { JobSpec } from '../spec/job-spec.js';
import { firstChunks } from './first-chunks.js';

export type PreviewValue = number | string | boolean;

export interface PreviewRow {
  key: Key;
  /** file line where the row starts; null for sources without lines */
  line: number | null;
  /** model input -> the values fed, in column order */
  inputs: Record<string, number[]>;
  /** result column -> the value a run would store */
  outputs: Record<string, PreviewValue>;
}

export interface PreviewReject {
  line: number | null;
  key: string | null;
  reason: string;
}

export interface Preview {
  rows: PreviewRow[];
  rejects: PreviewReject[];
  modelVersion: string;
  /** the result columns the model's outputs fill (as a run writes them) */
  outputs: OutputColumn[];
  /** the passthrough columns' SQL types (Source.passthroughTypes) */
  passthroughTypes: string[];
}

export interface PreviewOptions {
  spec: JobSpec;
  logicalDate: string;
  /** only read for a Postgres source without its own url */
  databaseUrl: string;
  /** input rows to look at (scored or rejected) */
  rows: number;
  /**
   * A source without lines can't tell which of a batch's scored and rejected rows came first: keep
   * its rejects within the `rows` (validate: a reject met is never left out) rather than its scored rows (default).
   */
  keepRejects?: boolean;
  /**
   * A Postgres source: read the query's rows as it returns them, one open key range, instead of planning
   * key-ordered chunks first (a sort of every key before the first row). Rows with a NULL key (the
   * last chunk of a run's plan) are not read.
   */
  unplanned?: boolean;
  signal?: AbortSignal;
}

/**
 * Score the first `rows` input rows of a job the way a run would (same checks, reader, model and
 * output columns) and return them instead of writing them: no ledger, no result table, no migrations.
 */
export async function previewRows(opts: PreviewOptions): Promise<Preview> {
  const { spec, signal } = opts;
  const want = opts.rows;
  const { model, outputs, passthroughTypes } = await checkJob(spec, opts.logicalDate, opts.databaseUrl);
  const fetches = [...new Set(outputs.map((o) => o.output))];
  const inputs = feedInputs(spec, model.session);
  const source = openSource(spec, opts.logicalDate, { databaseUrl: opts.databaseUrl });
  const rows: PreviewRow[] = [];
  const rejects: PreviewReject[] = [];
  try {
    const unplanned: ChunkRange[] | undefined = opts.unplanned && spec.source.kind === 'postgres' ? [{ chunk: 0, range: { lo: null, hi: null } }] : undefined;
    chunks: for await (const chunk of unplanned ?? firstChunks(source, signal)) {
      for await (const batch of source.read(chunk, { signal })) {
        for (const r of batch.rejects) rejects.push({ line: r.line, key: r.key, reason: r.reason });
        const k = Math.min(batch.n, want - rows.length);
        if (k > 0) {
          const { feeds, unfed } = buildFeeds(inputs, batch, k);
          const results = (await model.session.run(feeds, fetches)) as Record<string, Tensor>;
          const nan = nanRows(outputs, results, k);
          const decoded = decodeRows(spec, outputs, batch, results, k);
          decoded.forEach((row, r) => {
            if (unfed?.skip[r] === 1) rejects.push({ line: row.line, key: String(row.key), reason: unfed.reasons[r] });
            else if (nan?.skip[r] === 1) rejects.push({ line: row.line, key: String(row.key), reason: `model output NaN in column "${nan.columns[r]}"` });
            else rows.push(row);
          });
        }
        if (rows.length + rejects.length >= want) break chunks;
      }
    }
  } finally {
    await source.close();
  }
  return { ...firstInputRows(rows, rejects, want, opts.keepRejects ?? false), modelVersion: model.version, outputs, passthroughTypes };
}

/** The first `want` input rows in input order (by line, when the source has lines), scored or rejected. */
function firstInputRows(rows: PreviewRow[], rejects: PreviewReject[], want: number, keepRejects: boolean): { rows: PreviewRow[]; rejects: PreviewReject[] } {
  if (rows.length + rejects.length <= want) return { rows, rejects };
  if (rows.some((r) => r.line === null) || rejects.some((r) => r.line === null)) {
    if (keepRejects) return { rows: rows.slice(0, Math.max(0, want - rejects.length)), rejects: rejects.slice(0, want) };
    return { rows: rows.slice(0, want), rejects: rejects.slice(0, Math.max(0, want - rows.length)) };
  }
  const lines = [...rows.map((r) => r.line!), ...rejects.map((r) => r.line!)].sort((a, b) => a - b);
  const last = lines[want - 1];
  return { rows: rows.filter((r) => r.line! <= last), rejects: rejects.filter((r) => r.line! <= last) };
}

/** Each row's key, inputs and result columns; an output picks its value as encode-rows.ts does (row * stride + index). */
function decodeRows(spec: JobSpec, outputs: OutputColumn[], batch: RowBatch, results: Record<string, Tensor>, k: number): PreviewRow[] {
  const cols = outputs.map((o) => {
    const t = results[o.output];
    const stride = t.data.length / k;
    if (!Number.isInteger(stride) || stride < 1) throw new UsageError(`output "${o.output}" returned ${t.data.length} values for ${k} rows (shape [${t.dims.join(', ')}]); batchinfer needs a leading batch dimension`);
    if (o.index === undefined && stride !== 1) throw new UsageError(`outputs.${o.column}: output "${o.output}" returned shape [${t.dims.join(', ')}] (${stride} values per row); add index: 0..${stride - 1}`);
    if (o.index !== undefined && o.index >= stride) throw new UsageError(`outputs.${o.column}.index: ${o.index} is out of range for output "${o.output}" of shape [${t.dims.join(', ')}]; use 0..${stride - 1}`);
    return { column: o.column, data: t.data as ArrayLike<unknown>, float32: t.data instanceof Float32Array, stride, offset: o.index ?? 0 };
  });
  const rows: PreviewRow[] = [];
  for (let r = 0; r < k; r++) {
    const inputs: Record<string, number[]> = {};
    spec.inputs.forEach((input, i) => {
      const w = input.columns.length;
      inputs[input.name] = Array.from(batch.features[i].subarray(r * w, (r + 1) * w), shortestFloat32);
    });
    const values: Record<string, PreviewValue> = {};
    for (const c of cols) {
      const v = c.data[r * c.stride + c.offset];
      values[c.column] = c.float32 ? shortestFloat32(v as number) : plain(v);
    }
    rows.push({ key: keyOf(batch, r), line: batch.lines?.[r] ?? null, inputs, outputs: values });
  }
  return rows;
}

/**
 * A float32 as the shortest decimal that reads back as the same float32 (14.23, not 14.229999542236328):
 * what the CSV said, and what PostgreSQL prints for the `real` a run stores.
 */
function shortestFloat32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p < 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return Number(v.toPrecision(9));
}

/** int64 values as numbers when exact, else their decimal text (JSON has no bigint). */
function plain(v: unknown): PreviewValue {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return String(v);
}
