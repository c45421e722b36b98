import type { z } from 'zod';

/**
 * Schema problems as a user reads them: the key path, what is wrong with what they wrote, and what to
 * write instead, with an example. zod's own wording ("Invalid input: expected record, received
 * array") never reaches a user: its issues are mapped here by kind, and a key's help (below) says
 * what it takes.
 */

/** What a key takes, as a noun phrase after "write", and a line of YAML showing it. */
interface KeyHelp {
  write: string;
  example: string;
}

const h = (write: string, example: string): KeyHelp => ({ write, example });

/**
 * Every key of the spec, by its path pattern: `*` is a name the user chose (a model input, a result
 * column), `[]` an element of a list. A unit test checks every key of the schema has its line here.
 */
export const keyHelp: Record<string, KeyHelp> = {
  '': h('a mapping of spec keys (model, source, key, inputs, outputs, sink, ...)', 'model: { path: ../models/wine/model.onnx }'),
  name: h('a job name of letters, digits, . _ -', 'name: wine-quality'),
  model: h('a mapping with the model file', 'model: { path: ../models/wine/model.onnx }'),
  'model.path': h('the ONNX file, relative to the spec file', 'path: ../models/wine/model.onnx'),
  'model.version': h('a version label, as text (quote dates and numbers)', 'version: "2026-11-01"'),
  source: h('a mapping with exactly one of csv or postgres', 'source: { csv: { path: "data/wine-{{ds}}.csv" } }'),
  'source.csv': h('a mapping with the CSV file', 'csv: { path: "data/wine-{{ds}}.csv" }'),
  'source.csv.path': h('the CSV file, relative to the spec file ({{ds}} is the logical date; quote it)', 'path: "data/wine-{{ds}}.csv"'),
  'source.postgres': h('a mapping with the query (and the source database url, when it is not the results database)', 'postgres: { query: "SELECT id, a, b FROM features WHERE day = {{ds}}" }'),
  'source.postgres.query': h('one SELECT returning the key, input and passthrough columns', 'query: "SELECT id, a, b FROM features WHERE day = {{ds}}"'),
  'source.postgres.url': h('a postgres:// URL, or ${NAME} to take it from the environment', 'url: "${SOURCE_DATABASE_URL}"'),
  key: h('the column that identifies a row (unique per run)', 'key: id'),
  key_type: h('text (the default), bigint or uuid: the SQL type of the key column', 'key_type: bigint'),
  inputs: h("a mapping of each model input to its source columns, in tensor order (batchinfer inspect <model.onnx> lists the model's inputs)", 'inputs: { float_input: [alcohol, malic_acid, ash] }'),
  'inputs.*': h('a list of source columns, in tensor order', 'float_input: [alcohol, malic_acid, ash]'),
  'inputs.*[]': h('a source column name', 'float_input: [alcohol, malic_acid, ash]'),
  outputs: h("a mapping of each result column to a model output (batchinfer inspect <model.onnx> lists the model's outputs)", 'outputs: { p_class_1: { output: probabilities, index: 1 } }'),
  'outputs.*': h('a mapping with the model output, and an index when the output holds several values per row', 'p_class_1: { output: probabilities, index: 1 }'),
  'outputs.*.output': h('the name of a model output', 'output: probabilities'),
  'outputs.*.index': h('a whole number >= 0: the position along the output\'s last axis', 'index: 1'),
  passthrough: h('a list of source columns copied to each result row, or for a CSV a map of column: SQL type', 'passthrough: [region, day] or passthrough: { day: date, amount: numeric }'),
  'passthrough[]': h('a source column name', 'passthrough: [region, day]'),
  sink: h('a mapping with the result table', 'sink: { table: scores.wine }'),
  'sink.table': h('schema.table (plain identifiers)', 'table: scores.wine'),
  'sink.on_schema_change': h('fail (the default) or append_new_columns', 'on_schema_change: append_new_columns'),
  batch_size: h('a whole number of rows per model call, from 1 to 1,000,000', 'batch_size: 1024'),
  chunk_rows: h('a whole number of rows per chunk, 1 or more', 'chunk_rows: 50000'),
  max_rejected: h('a fraction below 1, or a count of rows, 0 or more', 'max_rejected: 0.01'),
  min_rows: h('a whole number of rows, 0 or more', 'min_rows: 1'),
  retries: h('a mapping with attempts and backoff_ms', 'retries: { attempts: 3, backoff_ms: 1000 }'),
  'retries.attempts': h('a whole number of tries, from 1 to 100', 'attempts: 3'),
  'retries.backoff_ms': h('a whole number of milliseconds, 0 or more', 'backoff_ms: 1000'),
  monitoring: h('a mapping of profile and drift settings (all optional)', 'monitoring: { reference: previous, drift_warn: 0.1, drift_fail: 0.25 }'),
  'monitoring.profile': h('true or false: profile the run (and check drift)', 'profile: true'),
  'monitoring.profile_every': h('a whole number: profile one batch in this many (1: every row)', 'profile_every: 1'),
  'monitoring.reference': h("previous (the job's last succeeded run), a run id, or a .csv file of reference rows", 'reference: previous'),
  'monitoring.drift_warn': h('a PSI above which the run succeeds with a warning', 'drift_warn: 0.1'),
  'monitoring.drift_fail': h('a PSI above which the publish guard fails the run (at least drift_warn)', 'drift_fail: 0.25'),
  'monitoring.columns': h('a list of input or output columns that warn and fail', 'columns: [alcohol, proline]'),
  'monitoring.columns[]': h('an input or output column of this job', 'columns: [alcohol, proline]'),
  retention: h('a mapping with keep_runs_per_date and/or keep_days', 'retention: { keep_runs_per_date: 2, keep_days: 90 }'),
  'retention.keep_runs_per_date': h('a whole number of runs, 1 or more', 'keep_runs_per_date: 2'),
  'retention.keep_days': h('a whole number of days, 1 or more', 'keep_days: 90'),
  schedule: h('a mapping with at least a cron', 'schedule: { cron: "0 2 * * *", timezone: UTC }'),
  'schedule.cron': h('a cron expression in quotes: 5 fields, or 6 with seconds first', 'cron: "0 2 * * *"'),
  'schedule.timezone': h('an IANA timezone', 'timezone: Europe/Berlin'),
  'schedule.logical_date': h('previous_day (the default) or tick_date', 'logical_date: previous_day'),
  'schedule.catchup': h('true or false', 'catchup: true'),
  'schedule.catchup_limit': h('a whole number of ticks, 1 or more', 'catchup_limit: 7'),
  'schedule.overlap': h('skip (the default) or queue', 'overlap: skip'),
};

/** The keys each mapping takes, for "did you mean" and for listing them. */
export function knownKeysAt(path: ReadonlyArray<PropertyKey>): string[] {
  const at = pattern(path);
  const prefix = at === '' ? '' : `${at}.`;
  return Object.keys(keyHelp).filter((k) => k.startsWith(prefix) && k !== '' && !k.slice(prefix.length).includes('.') && !k.slice(prefix.length).includes('[') && !k.slice(prefix.length).includes('*')).map((k) => k.slice(prefix.length));
}

/** `a.b[2].c`, as the user finds it in the file. */
export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}

/** The help pattern of a path: names the user chose become `*`, list positions `[]`. */
export function pattern(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  p.forEach((part, i) => {
    if (typeof part === 'number') out += '[]';
    else if (i === 1 && (p[0] === 'inputs' || p[0] === 'outputs')) out += '.*';
    else out += `${out ? '.' : ''}${String(part)}`;
  });
  return out;
}

/** zod's default messages, which say what its types are, not what the user should write. */
const zodWording = /^(Invalid|Too (small|big)|Unrecognized|Expected|expected )/;

/** One or more lines (an unknown-keys issue names each key) for one schema issue, without the file label. */
export function specIssueLines(issue: z.core.$ZodIssue): string[] {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    return issue.keys.map((k) => {
      const keyPath = issue.path.length ? `${where}.${k}` : k;
      const guess = closest(k, known);
      return guess
        ? `${keyPath}: unknown key (did you mean "${guess}"?); remove it or fix its spelling`
        : `${keyPath}: unknown key; remove it or fix its spelling (keys here: ${known.join(', ')})`;
    });
  }
  // A bad record key (an output column name): its own checks say what is wrong.
  if (issue.code === 'invalid_key') return [`${where}: ${issue.issues.map((i) => (zodWording.test(i.message) ? 'is not a valid name' : i.message)).join('; ')}`];
  const input = (issue as { input?: unknown }).input;
  const help = keyHelp[pattern(issue.path)];
  const instead = help ? `write ${help.write}, e.g. ${help.example}` : 'see the README\'s "Job specs" for what it takes';
  if (issue.code === 'invalid_type' && input === undefined) return [`${where}: missing; ${help ? `add ${help.write}, e.g. ${help.example}` : 'add it'}`];
  // Messages the schema wrote itself already say what to write.
  if (!zodWording.test(issue.message)) return [`${where}: ${issue.message}`];
  if (input === null) return [`${where}: is empty; ${instead}`];
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int' && typeof input === 'number') return [`${where}: ${input} is not a whole number; ${instead}`];
      return [`${where}: ${show(input)} is ${kind(input)}; ${instead}`];
    case 'too_small':
      if (typeof input === 'string') return [`${where}: is empty; ${instead}`];
      if (Array.isArray(input)) return [`${where}: is an empty list; ${instead}`];
      return [`${where}: ${show(input)} is too small; ${instead}`];
    case 'too_big':
      return [`${where}: ${show(input)} is too large; ${instead}`];
    case 'invalid_value':
      return [`${where}: ${show(input)} is not allowed; ${help ? instead : `write one of ${issue.values.map(String).join(', ')}`}`];
    default:
      return [`${where}: ${show(input)} is not valid here; ${instead}`];
  }
}

/** What to do about a YAML syntax error (by the yaml package's error code), given the line it is on; '' when its own message says it. */
export function yamlHint(code: string, lineText: string): string {
  switch (code) {
    case 'DUPLICATE_KEY': {
      const key = /^\s*(?:-\s+)?([^\s:#][^:#]*?)\s*:/.exec(lineText)?.[1];
      return `: ${key ? `"${key}" is written twice in one mapping` : 'a key is written twice in one mapping'}; keep one`;
    }
    case 'TAB_AS_INDENT':
      return ': indent with spaces';
    case 'BAD_INDENT':
      return ': start the keys of one mapping at the same column (spaces), and close every [ with ] and { with } on the same line';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return ': quote a value that holds ": ", e.g. name: "a: b"';
    default:
      return '';
  }
}

/** A value as the user wrote it, in YAML-ish form, cut short. */
function show(v: unknown): string {
  let text: string;
  if (typeof v === 'string') text = JSON.stringify(v);
  else if (Array.isArray(v)) text = `[${v.map((x) => (typeof x === 'string' ? x : show(x))).join(', ')}]`;
  else if (v && typeof v === 'object') text = `{ ${Object.keys(v).join(', ')} }`;
  else text = String(v);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function kind(v: unknown): string {
  if (typeof v === 'string') return 'text';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'true/false';
  if (Array.isArray(v)) return 'a list';
  if (v && typeof v === 'object') return 'a mapping';
  return typeof v;
}

/** The known key nearest to a misspelt one (at most 2 edits away). */
export function closest(word: string, candidates: string[]): string | undefined {
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
