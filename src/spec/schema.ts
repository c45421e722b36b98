import { z } from 'zod';
import { defaults } from '../defaults.js';
import { identifierBytes, maxIdentifierBytes, plainIdentifier, plainIdentifierRule } from '../sql/identifiers.js';
import { csvPassthroughTypes, latestViewSuffix } from './job-spec.js';
import { CronSchedule } from '../schedule/cron-schedule.js';

/** A source column the spec reads (a CSV header or a query's column). */
const identifier = z.string().regex(plainIdentifier, `must be a plain SQL identifier (${plainIdentifierRule}), e.g. customer_id`);

/** A name that becomes a result-table column: longer than PostgreSQL keeps, it would work once and break every later run. */
const columnName = identifier.superRefine((name, ctx) => {
  const bytes = identifierBytes(name);
  if (bytes > maxIdentifierBytes) ctx.addIssue({ code: 'custom', message: `"${name.slice(0, 20)}…" is ${bytes} bytes; PostgreSQL keeps only the first ${maxIdentifierBytes} bytes of a name: shorten it` });
});

/** schema.table of the result table: plain names, short enough for its `_latest` view, outside schemas that are not the user's. */
const sinkTable = z.string().superRefine((text, ctx) => {
  const parts = text.split('.');
  if (parts.length !== 2 || !parts.every((p) => plainIdentifier.test(p))) {
    ctx.addIssue({ code: 'custom', message: 'must be schema.table (plain identifiers), e.g. table: scores.wine' });
    return;
  }
  const [schema, table] = parts;
  const problem = (message: string) => ctx.addIssue({ code: 'custom', message });
  const lower = schema.toLowerCase();
  if (lower === 'batchinfer') problem(`schema "${schema}" holds batchinfer's own ledger; write results to another schema, e.g. scores.${table}`);
  else if (lower.startsWith('pg_') || lower === 'information_schema') problem(`schema "${schema}" belongs to PostgreSQL; write results to another schema, e.g. scores.${table}`);
  if (identifierBytes(schema) > maxIdentifierBytes) problem(`schema name is ${identifierBytes(schema)} bytes; PostgreSQL keeps only the first ${maxIdentifierBytes} bytes of a name: shorten it`);
  const maxTable = maxIdentifierBytes - latestViewSuffix.length;
  if (identifierBytes(table) > maxTable)
    problem(`table name is ${identifierBytes(table)} bytes; its view ${table.slice(0, 12)}…${latestViewSuffix} must fit PostgreSQL's ${maxIdentifierBytes}-byte names: shorten it to at most ${maxTable} bytes`);
});

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'is not a known IANA timezone (e.g. UTC, Europe/Berlin)');

/** What a user writes in jobs/*.yaml. Every key has a description and, where optional, a default. */
export const rawSpecSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, . _ - (starting with a letter or digit), e.g. name: wine-quality')
    .optional()
    .describe('job name; default: the spec file name without extension'),
  model: z
    .strictObject({
      path: z.string().min(1).describe('ONNX model file, relative to the spec file'),
      version: z.string().min(1).optional().describe("model version recorded on every row; default: first 12 hex chars of the file's sha256"),
    })
    .describe('the model to score with'),
  source: z
    .strictObject({
      csv: z
        .strictObject({
          path: z.string().min(1).describe('CSV file with a header row, relative to the spec file; {{ds}} is the logical date'),
        })
        .optional(),
      postgres: z
        .strictObject({
          query: z.string().min(1).describe('SELECT returning the key, input and passthrough columns; {{ds}} is bound as a parameter'),
          url: z.string().min(1).optional().describe('source database; default: the results database'),
        })
        .optional(),
    })
    .refine((s) => (s.csv ? 1 : 0) + (s.postgres ? 1 : 0) === 1, 'needs exactly one of csv or postgres, e.g. source: { csv: { path: "data/wine-{{ds}}.csv" } } or source: { postgres: { query: "SELECT id, a, b FROM features WHERE day = {{ds}}" } }')
    .describe('where rows come from'),
  key: columnName.describe('column identifying a row; unique per run'),
  key_type: z.enum(['text', 'bigint', 'uuid']).default(defaults.keyType).describe('SQL type of the key column in the result table: text (the default), bigint or uuid'),
  inputs: z
    // Feature columns never become SQL names of batchinfer's (a Postgres source quotes them): any header
    // name works, scikit-learn's "sepal length (cm)" too.
    .record(z.string().min(1), z.array(z.string().min(1).refine((c) => !c.includes('\0'), 'a column name cannot hold a NUL byte')).min(1))
    .refine((r) => Object.keys(r).length > 0, "needs at least one model input, e.g. inputs: { float_input: [alcohol, malic_acid, ash] } (batchinfer inspect <model.onnx> lists the model's inputs)")
    .describe('model input name -> source columns, in tensor order'),
  outputs: z
    .record(
      columnName,
      z.strictObject({
        output: z.string().min(1).describe('model output name'),
        index: z.number().int().min(0).optional().describe('position along the last axis; omit for outputs with one value per row'),
      }),
    )
    .refine((r) => Object.keys(r).length > 0, "needs at least one result column, e.g. outputs: { p_class_1: { output: probabilities, index: 1 } } (batchinfer inspect <model.onnx> lists the model's outputs)")
    .describe('result column -> model output'),
  passthrough: z
    .union(
      [
        z.array(columnName),
        // a refined string, not an enum: its message reaches the user (an enum's failure ends the union with a bare "Invalid input")
        z.record(columnName, z.string().refine((t) => (csvPassthroughTypes as readonly string[]).includes(t), `must be one of ${csvPassthroughTypes.join(', ')}`)),
      ],
      { error: 'must be a list of columns (e.g. [region, day]) or, for a CSV, a map of column: SQL type (e.g. { day: date, amount: numeric })' },
    )
    .default([])
    .describe('source columns copied to each result row: a list (CSV: text; Postgres: the query\'s column types), or for a CSV a map column -> SQL type (date, numeric, ...)'),
  sink: z
    .strictObject({
      table: sinkTable.describe('result table, schema-qualified; created when missing, and written by this job only'),
      on_schema_change: z
        .enum(['fail', 'append_new_columns'])
        .default('fail')
        .describe('when the job writes columns the existing table lacks (a renamed output, a new passthrough): fail (default) or append_new_columns (old rows get NULL there)'),
    })
    .describe('where predictions go'),
  batch_size: z.number().int().min(1).max(1_000_000).default(defaults.batchSize).describe('rows per session.run'),
  chunk_rows: z.number().int().min(1).default(defaults.chunkRows).describe('rows per chunk (unit of retry and commit)'),
  max_rejected: z.number().min(0).default(defaults.maxRejected).describe('fraction (<1) or count (>=1) of input rows that may be rejected'),
  min_rows: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('fewest input rows a run must read; fewer (a query returning 0 rows, a header-only CSV) ends the run failed as "input not ready" (exit 3); default: no minimum'),
  retries: z
    .strictObject({
      attempts: z.number().int().min(1).max(100).default(defaults.chunkAttempts).describe(`tries per chunk on a queue before it fails for good (default ${defaults.chunkAttempts})`),
      backoff_ms: z.number().int().min(0).default(defaults.chunkBackoffMs).describe(`wait before the first retry, doubling after each (default ${defaults.chunkBackoffMs})`),
    })
    .optional()
    .describe('retries of a queued chunk that failed for a transient reason (a lost connection, a deadlock); a failure retrying cannot fix fails at once'),
  retention: z
    .strictObject({
      keep_runs_per_date: z.number().int().min(1).optional().describe('succeeded runs kept per logical date, newest first (the one _latest shows is always kept); default: all'),
      keep_days: z.number().int().min(1).optional().describe('rows and rejects of runs that _latest does not show, and rejects of every run, go once their logical date is older than this; default: kept'),
    })
    .optional()
    .describe('what `batchinfer prune` (and every succeeded run of this job) deletes; failed and cancelled runs\' rows always go'),
  monitoring: z
    .strictObject({
      profile: z.boolean({ error: 'must be true or false' }).default(true).describe('profile every input and numeric output column while scoring (count, min, max, mean, stddev, zeros, histogram); default true'),
      profile_every: z
        .number({ error: 'must be a whole number >= 1' })
        .int('must be a whole number >= 1')
        .min(1, 'must be a whole number >= 1')
        .default(defaults.profileEvery)
        .describe(`profile one batch of rows in this many, counted from each chunk's first (a systematic sample); 1 profiles every row; default ${defaults.profileEvery}`),
      reference: z
        .union([z.number(), z.string()])
        .default('previous')
        .superRefine((v, ctx) => {
          const ok = typeof v === 'number' ? Number.isSafeInteger(v) && v >= 1 : v === 'previous' || /^\d+$/.test(v) || /\.csv$/i.test(v);
          if (!ok) ctx.addIssue({ code: 'custom', message: 'must be previous (the job\'s last succeeded run), a run id, or a .csv file of reference rows (relative to the spec file)' });
        })
        .describe("what drift is measured against: previous (default: the job's last succeeded run with a profile), a run id, or a baseline .csv with the job's key and input columns"),
      drift_warn: z.number({ error: 'must be a number >= 0 (a PSI)' }).min(0).default(defaults.driftWarn).describe(`a column whose PSI is above this makes the run succeed with a warning (default ${defaults.driftWarn})`),
      drift_fail: z.number({ error: 'must be a number >= 0 (a PSI)' }).min(0).optional().describe('a column whose PSI is above this fails the run (the publish guard: its rows never reach _latest until `batchinfer accept`); default: none'),
      columns: z.array(z.string().min(1)).min(1).optional().describe('the input and output columns whose drift warns and fails; default: every column warns, input columns fail (outputs shift with their inputs); every column is profiled and compared either way'),
    })
    .refine((m) => m.drift_fail === undefined || m.drift_fail >= m.drift_warn, { message: 'drift_fail must be >= drift_warn', path: ['drift_fail'] })
    .optional()
    .describe('per-run profiles and drift against a reference (see README "Monitoring")'),
  schedule: z
    .strictObject({
      cron: z
        .string()
        .superRefine((c, ctx) => {
          const s = CronSchedule.parse(c, 'UTC');
          if ('error' in s) ctx.addIssue({ code: 'custom', message: s.error });
        })
        .describe('when to tick: node-cron syntax, 5 fields (or 6 with seconds first); day-of-month AND day-of-week must both match'),
      timezone: timezone.default(defaults.timezone).describe('IANA timezone the cron and the logical dates are read in (default UTC)'),
      logical_date: z
        .enum(['previous_day', 'tick_date'], { error: 'must be previous_day (a tick scores the day before it; the default) or tick_date (the tick\'s own day)' })
        .default(defaults.logicalDate)
        .describe("a tick's logical date ({{ds}}): previous_day (default: a 02:00 run scores yesterday) or tick_date, in the timezone"),
      catchup: z.boolean({ error: 'must be true or false, e.g. catchup: true' }).default(defaults.catchup).describe('a starting scheduler creates the runs of ticks it missed since the last scheduled run (default false)'),
      catchup_limit: z
        .number({ error: 'must be a whole number >= 1' })
        .int('must be a whole number >= 1')
        .min(1, 'must be a whole number >= 1: how many missed ticks (the newest) a starting scheduler makes up')
        .default(defaults.catchupLimit)
        .describe('with catchup: at most this many missed ticks are made up, the newest; older ones are logged as skipped (default 7)'),
      overlap: z
        .enum(['skip', 'queue'], { error: 'must be skip (the default: no run while the previous one is active) or queue (a run anyway)' })
        .default(defaults.overlap)
        .describe("a tick while the job's previous scheduled run is still queued or running: skip it (default) or queue another run"),
    })
    .optional()
    .describe('when the scheduler runs this job'),
});

export type RawSpec = z.infer<typeof rawSpecSchema>;
