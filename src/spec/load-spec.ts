import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { UsageError } from '../errors.js';
import { rawSpecSchema, type RawSpec } from './schema.js';
import { formatPath, specIssueLines, yamlHint } from './spec-issues.js';
import { provenanceColumns, type CsvPassthroughType, type JobSpec, type ReferenceSpec } from './job-spec.js';

/** Load, validate and normalize a job spec. Throws one UsageError listing every problem, each with the file and key path. */
/**
 * `env`: values for `${NAME}` references in the spec's strings (secrets stay out of spec files and out of
 * the ledger, which keeps the reference, not the value).
 */
export function loadSpec(specPath: string, cwd = process.cwd(), env: Record<string, string | undefined> = {}): JobSpec {
  const abs = path.resolve(cwd, specPath);
  const label = path.relative(cwd, abs) || abs;
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    throw new UsageError(`${label}: cannot read job spec (${(err as NodeJS.ErrnoException).code ?? err}); pass the path of a jobs/*.yaml file`);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    // An unquoted {{ds}} is the usual cause (YAML reads `{` as a map): say that, once, not 40 parser lines.
    const unquoted = text.split('\n').findIndex((l) => /(^|[\s:,[{])[^'"\s#]*\{\{/.test(l.replace(/#.*$/, '')) && !/["'][^"']*\{\{[^"']*["']/.test(l));
    if (unquoted >= 0) throw new UsageError(`${label}:${unquoted + 1}: YAML syntax: a template like {{ds}} must be inside quotes in YAML, e.g. path: "data/scores-{{ds}}.csv"`);
    const textLines = text.split('\n');
    const lines = [
      ...new Set(
        doc.errors.map((e) => {
          const line = e.linePos?.[0]?.line;
          const what = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
          return `${label}:${line ?? '?'}: YAML syntax: ${what}${yamlHint(e.code, line === undefined ? '' : (textLines[line - 1] ?? ''))}`;
        }),
      ),
    ];
    throw new UsageError(lines.slice(0, 3).join('\n') + (lines.length > 3 ? `\n${label}: (${lines.length - 3} more YAML errors after these)` : ''));
  }
  const js = (doc.toJS() ?? {}) as Record<string, unknown>;
  const urlTemplate = (js.source as { postgres?: { url?: unknown } } | undefined)?.postgres?.url;
  const missing: string[] = [];
  const expanded = expandEnv(js, env, [], missing);
  if (missing.length) throw new UsageError(missing.map((m) => `${label}: ${m}`).join('\n'));
  const parsed = rawSpecSchema.safeParse(expanded ?? {}, { reportInput: true });
  if (!parsed.success) throw new UsageError(parsed.error.issues.flatMap((i) => specIssueLines(i)).map((line) => `${label}: ${line}`).join('\n'));
  const spec = normalize(parsed.data, abs, label);
  if (spec.source.kind === 'postgres' && typeof urlTemplate === 'string' && envReference.test(urlTemplate)) spec.source.urlTemplate = urlTemplate;
  return spec;
}

const envReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/;

/** Replace `${NAME}` in every string of the spec with the environment's value; a name not set is a problem. */
function expandEnv(v: unknown, env: Record<string, string | undefined>, at: (string | number)[], missing: string[]): unknown {
  if (typeof v === 'string')
    return v.replace(new RegExp(envReference.source, 'g'), (ref, name: string) => {
      const value = env[name];
      if (value === undefined) {
        missing.push(`${formatPath(at)}: ${ref} is not set in the environment; export ${name}=... before running (the ledger keeps the reference, never the value)`);
        return ref;
      }
      return value;
    });
  if (Array.isArray(v)) return v.map((x, i) => expandEnv(x, env, [...at, i], missing));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandEnv(x, env, [...at, k], missing)]));
  return v;
}

function normalize(raw: RawSpec, abs: string, label: string): JobSpec {
  const dir = path.dirname(abs);
  const problems: string[] = [];
  const resultColumns = new Map<string, string>();
  const claim = (column: string, where: string) => {
    const lower = column.toLowerCase();
    if ((provenanceColumns as readonly string[]).includes(lower)) problems.push(`${where}: "${column}" is a column batchinfer adds to every row; pick another name`);
    else if (resultColumns.has(lower)) problems.push(`${where}: result column "${column}" is also ${resultColumns.get(lower)}; names must be unique`);
    else resultColumns.set(lower, where);
  };
  claim(raw.key, 'key');
  const passthrough = Array.isArray(raw.passthrough) ? raw.passthrough : Object.keys(raw.passthrough);
  const passthroughTypes = Array.isArray(raw.passthrough) ? undefined : (Object.values(raw.passthrough) as CsvPassthroughType[]); // checked by the schema
  passthrough.forEach((c, i) => claim(c, Array.isArray(raw.passthrough) ? `passthrough[${i}]` : `passthrough.${c}`));
  // A query's columns have their types already: a cast in the query says it where SQL reads it.
  if (passthroughTypes?.length && raw.source.postgres)
    problems.push(`passthrough: a declared type (the map form) is for CSV sources; a Postgres source keeps the query's column types: list the columns (passthrough: [${passthrough.join(', ')}]) and cast in the query where needed (e.g. SELECT ${passthrough[0]}::${passthroughTypes[0]} AS ${passthrough[0]})`);
  for (const column of Object.keys(raw.outputs)) claim(column, `outputs.${column}`);
  const m = raw.monitoring;
  if (m?.columns) {
    const known = new Set([...Object.values(raw.inputs).flat(), ...Object.keys(raw.outputs)]);
    m.columns.forEach((c, i) => {
      if (!known.has(c)) problems.push(`monitoring.columns[${i}]: "${c}" is neither an input column nor an output column of this job`);
    });
  }
  if (problems.length) throw new UsageError(problems.map((p) => `${label}: ${p}`).join('\n'));

  const [schema, table] = raw.sink.table.split('.');
  return {
    name: raw.name ?? path.basename(abs).replace(/\.ya?ml$/i, ''),
    specPath: abs,
    specLabel: label,
    model: { path: path.resolve(dir, raw.model.path), version: raw.model.version },
    source: raw.source.csv
      ? { kind: 'csv', path: path.resolve(dir, raw.source.csv.path) }
      : { kind: 'postgres', query: raw.source.postgres!.query, url: raw.source.postgres!.url },
    key: raw.key,
    keyType: raw.key_type,
    inputs: Object.entries(raw.inputs).map(([name, columns]) => ({ name, columns })),
    outputs: Object.entries(raw.outputs).map(([column, o]) => ({ column, output: o.output, index: o.index })),
    passthrough,
    ...(passthroughTypes && { passthroughTypes }),
    sink: { schema, table, onSchemaChange: raw.sink.on_schema_change },
    batchSize: raw.batch_size,
    chunkRows: raw.chunk_rows,
    maxRejected: raw.max_rejected,
    minRows: raw.min_rows,
    schedule: raw.schedule && {
      cron: raw.schedule.cron,
      timezone: raw.schedule.timezone,
      logicalDate: raw.schedule.logical_date,
      catchup: raw.schedule.catchup,
      catchupLimit: raw.schedule.catchup_limit,
      overlap: raw.schedule.overlap,
    },
    retries: raw.retries && { attempts: raw.retries.attempts, backoffMs: raw.retries.backoff_ms },
    retention: raw.retention && { keepRunsPerDate: raw.retention.keep_runs_per_date, keepDays: raw.retention.keep_days },
    monitoring: m && {
      profile: m.profile,
      profileEvery: m.profile_every,
      reference: referenceOf(m.reference, dir),
      driftWarn: m.drift_warn,
      driftFail: m.drift_fail,
      columns: m.columns,
    },
  };
}

function referenceOf(v: number | string, dir: string): ReferenceSpec {
  if (typeof v === 'number') return { kind: 'run', runId: v };
  if (/^\d+$/.test(v)) return { kind: 'run', runId: Number(v) };
  if (v === 'previous') return { kind: 'previous' };
  return { kind: 'csv', path: path.resolve(dir, v) };
}
