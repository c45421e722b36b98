import { connectPg } from '../db/connect.js';
import { errorMessage } from '../errors.js';
import { previewRows, type PreviewReject } from '../preview/preview-rows.js';
import { rejectBudget } from '../runs/finish-run.js';
import { checkResultTable, resultColumns } from '../sink/result-table.js';
import type { JobSpec } from '../spec/job-spec.js';
import { canonicalUuid } from '../sources/uuid-keys.js';

/** Rows of the input validate reads and scores, as a run would: enough to meet a bad file early, cheap on any size. */
export const validateSampleRows = 1_000;
/** Rejects shown in full (line and reason); the rest are counted. */
const shownRejects = 5;

/** What validate found reading the first rows of the input. */
export interface SampleFindings {
  /** input rows read (scored or rejected) */
  rows: number;
  scorable: number;
  rejected: number;
  /** the first few, in input order */
  firstRejects: PreviewReject[];
  /** what the scorable rows' keys look like: integers (canonical, 64-bit) or text; none when no row was scorable */
  keysLookLike: 'integers' | 'uuids' | 'text' | 'none';
}

/** What validate found about the result table. */
export interface TableFindings {
  /** false: the results database could not be looked in (the embedded server exists but is stopped) */
  checked: boolean;
  exists?: boolean;
  /** columns a run would add (sink.on_schema_change: append_new_columns) */
  adds?: string[];
}

/** One spec's validation, printed as is by `validate --json`. */
export interface JobFindings {
  spec: string;
  ok: boolean;
  job?: string;
  modelVersion?: string;
  resultTable?: string;
  resultColumns?: number;
  sample?: SampleFindings;
  table?: TableFindings;
  /** what a run would do that the user may not expect, or could do faster; not a failure */
  notes: string[];
  /** each a reason `run` would fail */
  errors: string[];
}

/** A key a bigint key column would take exactly as written (no sign, no leading zeros), within 64 bits. */
const canonicalInt = /^-?(0|[1-9]\d{0,17})$/;

/**
 * Check a job as a run would meet it, writing nothing: spec, model and source (checkJob), then the
 * first `validateSampleRows` input rows read and scored through the run's own reader and model,
 * and, when a results database is at hand, the existing result table against the columns the job
 * writes. Every finding that would make `run` fail is an error; `ok` means run will not fail on them.
 */
export async function validateJob(
  spec: JobSpec,
  opts: {
    logicalDate: string;
    sourceDatabaseUrl: string;
    /** where the result table would be: a URL, 'none' (no results database exists yet, so neither does the table) or 'unknown' (one exists but is not running) */
    results: { url: string } | 'none' | 'unknown';
    signal?: AbortSignal;
  },
): Promise<JobFindings> {
  const found: JobFindings = { spec: spec.specLabel, ok: false, job: spec.name, resultTable: `${spec.sink.schema}.${spec.sink.table}`, notes: [], errors: [] };
  const preview = await previewRows({ spec, logicalDate: opts.logicalDate, databaseUrl: opts.sourceDatabaseUrl, rows: validateSampleRows, keepRejects: true, unplanned: true, signal: opts.signal });
  found.modelVersion = preview.modelVersion;
  const columns = resultColumns(spec, preview.outputs, preview.passthroughTypes);
  found.resultColumns = preview.outputs.length;

  const rows = preview.rows.length + preview.rejects.length;
  const sample: SampleFindings = {
    rows,
    scorable: preview.rows.length,
    rejected: preview.rejects.length,
    firstRejects: preview.rejects.slice(0, shownRejects),
    keysLookLike:
      preview.rows.length === 0
        ? 'none'
        : preview.rows.every((r) => typeof r.key === 'number' || canonicalInt.test(r.key))
          ? 'integers'
          : preview.rows.every((r) => typeof r.key === 'string' && canonicalUuid(r.key) !== undefined)
            ? 'uuids'
            : 'text',
  };
  found.sample = sample;
  const budget = rejectBudget(spec.maxRejected, rows);
  if (sample.rejected > budget)
    found.errors.push(
      `${spec.specLabel}: source: ${sample.rejected} of the first ${rows} rows are rejected, over max_rejected ${spec.maxRejected} (${budget} allowed): a run would fail; first: ${sample.firstRejects.map(describeReject).join('; ')}. Fix the input, or raise max_rejected`,
    );
  if (rows === 0) found.notes.push('the input has no rows for this date: a run would score nothing');
  if (spec.keyType === 'text' && sample.keysLookLike === 'integers') found.notes.push('keys look like integers: key_type: bigint would be faster (and a smaller result table)');
  if (spec.keyType === 'text' && sample.keysLookLike === 'uuids') found.notes.push('keys look like UUIDs: key_type: uuid would be faster, a smaller result table, and joins with uuid columns without a cast');

  if (opts.results === 'unknown') found.table = { checked: false };
  else if (opts.results === 'none') found.table = { checked: true, exists: false, adds: [] };
  else {
    try {
      const client = await connectPg(opts.results.url, { purpose: 'validate' });
      try {
        const t = await checkResultTable(client, spec, columns);
        found.table = { checked: true, exists: t.exists, adds: t.adds };
        found.errors.push(...t.problems);
        if (t.adds.length) found.notes.push(`a run adds column${t.adds.length > 1 ? 's' : ''} ${t.adds.map((c) => `"${c}"`).join(', ')} to ${found.resultTable} (sink.on_schema_change: append_new_columns); its earlier rows show NULL there`);
      } finally {
        await client.end().catch(() => undefined);
      }
    } catch (err) {
      found.table = { checked: false };
      found.errors.push(`${spec.specLabel}: sink.table: could not check ${found.resultTable}: ${errorMessage(err)}`);
    }
  }
  found.ok = found.errors.length === 0;
  return found;
}

/** "line 7 (key 6): value "x" in column "a" is not a number" */
export function describeReject(r: PreviewReject): string {
  const at = [r.line !== null ? `line ${r.line}` : null, r.key !== null ? `key ${r.key}` : null].filter(Boolean);
  return `${at.length ? `${at[0]}${at[1] ? ` (${at[1]})` : ''}: ` : ''}${r.reason}`;
}
