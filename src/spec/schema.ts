import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { defaults } from '../defaults.js';

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain SQL identifier (letters, digits, _; not starting with a digit)');

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
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, . _ -')
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
    .refine((s) => (s.csv ? 1 : 0) + (s.postgres ? 1 : 0) === 1, 'needs exactly one of csv | postgres')
    .describe('where rows come from'),
  key: identifier.describe('column identifying a row; unique per run'),
  key_type: z.enum(['text', 'bigint']).default(defaults.keyType).describe('SQL type of the key column in the result table (default text)'),
  inputs: z
    .record(z.string().min(1), z.array(identifier).min(1))
    .refine((r) => Object.keys(r).length > 0, 'needs at least one model input')
    .describe('model input name -> source columns, in tensor order'),
  outputs: z
    .record(
      identifier,
      z.strictObject({
        output: z.string().min(1).describe('model output name'),
        index: z.number().int().min(0).optional().describe('position along the last axis; omit for outputs with one value per row'),
      }),
    )
    .refine((r) => Object.keys(r).length > 0, 'needs at least one result column')
    .describe('result column -> model output'),
  passthrough: z.array(identifier).default([]).describe('source columns copied to each result row as text'),
  sink: z
    .strictObject({
      table: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/, 'must be schema.table (plain identifiers)')
        .describe('result table, schema-qualified; created when missing'),
    })
    .describe('where predictions go'),
  batch_size: z.number().int().min(1).max(1_000_000).default(defaults.batchSize).describe('rows per session.run'),
  chunk_rows: z.number().int().min(1).default(defaults.chunkRows).describe('rows per chunk (unit of retry and commit)'),
  max_rejected: z.number().min(0).default(defaults.maxRejected).describe('fraction (<1) or count (>=1) of input rows that may be rejected'),
  schedule: z
    .strictObject({
      cron: z.string().refine((c) => validateCron(c), 'is not a valid cron expression (5 or 6 fields, e.g. "0 2 * * *")'),
      timezone: timezone.default(defaults.timezone),
    })
    .optional()
    .describe('when the scheduler runs this job'),
});

export type RawSpec = z.infer<typeof rawSpecSchema>;
