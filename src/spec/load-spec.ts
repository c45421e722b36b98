import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { rawSpecSchema, type RawSpec } from './schema.js';
import { provenanceColumns, type JobSpec, type ReferenceSpec } from './job-spec.js';

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
    const lines = [...new Set(doc.errors.map((e) => `${label}:${e.linePos?.[0]?.line ?? '?'}: YAML syntax: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`))];
    throw new UsageError(lines.slice(0, 3).join('\n') + (lines.length > 3 ? `\n${label}: (${lines.length - 3} more YAML errors after these)` : ''));
  }
  const js = (doc.toJS() ?? {}) as Record<string, unknown>;
  const urlTemplate = (js.source as { postgres?: { url?: unknown } } | undefined)?.postgres?.url;
  const missing: string[] = [];
  const expanded = expandEnv(js, env, [], missing);
  if (missing.length) throw new UsageError(missing.map((m) => `${label}: ${m}`).join('\n'));
  const parsed = rawSpecSchema.safeParse(expanded ?? {}, { reportInput: true });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${label}: ${formatIssue(i)}`).join('\n'));
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

function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}

const knownKeys: Record<string, string[]> = {
  '': Object.keys(rawSpecSchema.shape),
  model: ['path', 'version'],
  source: ['csv', 'postgres'],
  sink: ['table', 'on_schema_change'],
  schedule: ['cron', 'timezone', 'logical_date', 'catchup', 'catchup_limit', 'overlap'],
  retention: ['keep_runs_per_date', 'keep_days'],
  retries: ['attempts', 'backoff_ms'],
  monitoring: ['profile', 'profile_every', 'reference', 'drift_warn', 'drift_fail', 'columns'],
  'source.csv': ['path'],
  'source.postgres': ['query', 'url'],
  'outputs.*': ['output', 'index'],
};

function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const parent = formatPath(issue.path);
    return issue.keys
      .map((k) => {
        const where = issue.path.length ? `${parent}.${k}` : k;
        const guess = closest(k, knownKeys[issue.path[0] === 'outputs' && issue.path.length === 2 ? 'outputs.*' : issue.path.join('.')] ?? []);
        return `${where}: unknown key${guess ? ` (did you mean "${guess}"?)` : ''}; remove it or fix its spelling`;
      })
      .join('\n' + '');
  }
  // A bad record key (an output column name): its own checks say what is wrong, not "Invalid key in record".
  if (issue.code === 'invalid_key') return `${formatPath(issue.path)}: ${issue.issues.map((i) => i.message).join('; ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${formatPath(issue.path)}: is required (expected ${issue.expected})`;
  return `${formatPath(issue.path)}: ${issue.message}`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
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
  raw.passthrough.forEach((c, i) => claim(c, `passthrough[${i}]`));
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
    passthrough: raw.passthrough,
    sink: { schema, table, onSchemaChange: raw.sink.on_schema_change },
    batchSize: raw.batch_size,
    chunkRows: raw.chunk_rows,
    maxRejected: raw.max_rejected,
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
