import { UsageError } from '../errors.js';
import { feedableInputTypes, formatShape, sqlTypes, type ModelSignature } from '../model/signature.js';
import { provenanceColumns, latestViewSuffix } from '../spec/job-spec.js';
import { identifierBytes, maxIdentifierBytes, plainIdentifier } from '../sql/identifiers.js';
import { defaults } from '../defaults.js';
import type { CsvSample } from './sample-csv.js';
import { canonicalUuid } from '../sources/uuid-keys.js';

/** An output with more values per row than this gets no columns of its own: a newcomer picks the few that matter. */
const maxIndexedColumns = 16;
/** Text a CSV reader takes as a number (the sample's test for numeric columns). */
const numberText = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;
const integerText = /^[+-]?\d{1,18}$/;

export interface DraftOptions {
  sig: ModelSignature;
  sample: CsvSample;
  /** job name (also the result table's name, made a plain SQL name) */
  name: string;
  /** --key, when given */
  key?: string;
  /** paths as the spec writes them: relative to the spec file, forward slashes */
  modelPath: string;
  csvPath: string;
  /** how the user named them, for the head comment and messages */
  modelLabel: string;
  csvLabel: string;
}

export interface Draft {
  text: string;
  key: string;
  inputs: { name: string; columns: string[] }[];
  outputs: { column: string; output: string; index?: number }[];
  /** header columns no input uses (besides the key) */
  leftOut: string[];
}

/**
 * A starting job spec for a model and a CSV: the key, inputs from the header by the model's declared
 * widths, one result column per output value, every key commented. Throws a UsageError when no spec
 * that validate passes can be guessed (no key, too few numeric columns, a model batchinfer can't feed).
 */
export function draftSpec(o: DraftOptions): Draft {
  const { sig, sample } = o;
  const { header } = sample;
  if (header.length === 0) throw new UsageError(`${o.csvLabel}: the file is empty; expected a header row naming the columns`);
  const values = (column: string) => {
    const i = header.indexOf(column);
    return sample.rows.map((r) => r[i] ?? '').filter((v) => v.trim() !== '');
  };

  const key = pickKey(o);
  const keyValues = values(key);
  const keyType = keyValues.length === 0 ? 'text' : keyValues.every((v) => integerText.test(v)) ? 'bigint' : keyValues.every((v) => canonicalUuid(v) !== undefined) ? 'uuid' : 'text';

  // Columns an input can take: numeric in every sampled row, plain SQL names, not the key, in header order.
  const why = new Map<string, string>();
  const candidates: string[] = [];
  for (const column of header) {
    if (column === key) continue;
    const vs = values(column);
    if (!plainIdentifier.test(column)) why.set(column, 'not a plain SQL name');
    else if (vs.length === 0) why.set(column, 'empty in the first rows');
    else if (!vs.every((v) => numberText.test(v))) why.set(column, 'not numeric');
    else candidates.push(column);
  }

  let batchSize: number | undefined;
  const inputs: Draft['inputs'] = [];
  const inputNotes: string[] = [];
  let next = 0;
  sig.inputs.forEach((input, i) => {
    const at = `${o.modelLabel}: input "${input.name}" ${formatShape(input.shape)}`;
    if (!(feedableInputTypes as readonly string[]).includes(input.type)) throw new UsageError(`${at}: the model wants ${input.type}; batchinfer feeds ${feedableInputTypes.join(', ')} tensors, so this model can't be scored as it is`);
    if (input.shape.length !== 2) throw new UsageError(`${at}: rank ${input.shape.length}; batchinfer feeds [batch, columns]: export the model with a 2-D input`);
    const [batch, width] = input.shape;
    if (typeof batch === 'number' && batch >= 0) {
      if (batch !== 1) throw new UsageError(`${at}: a fixed batch of ${batch} rows; batchinfer's last batch is shorter: export the model with a symbolic batch dimension`);
      batchSize = 1;
    }
    const left = candidates.length - next;
    let w: number;
    if (typeof width === 'number' && width >= 0) w = width;
    else if (i === sig.inputs.length - 1) w = left; // an open width: the last input takes what is left
    else throw new UsageError(`${at}: its width is not declared and other inputs follow; write inputs by hand (batchinfer inspect ${o.modelLabel})`);
    if (w < 1 || w > left) {
      const have = candidates.slice(next);
      throw new UsageError(
        `${at} needs ${w} numeric column${w === 1 ? '' : 's'} but ${o.csvLabel} has ${left} left (besides the key "${key}")${have.length ? `: ${have.join(', ')}` : ''}${why.size ? `; not usable: ${[...why].map(([c, r]) => `${c} (${r})`).join(', ')}` : ''}`,
      );
    }
    const columns = candidates.slice(next, next + w);
    next += w;
    inputs.push({ name: input.name, columns });
    inputNotes.push(`#   ${input.name} ${formatShape(input.shape)}: ${columns.length} numeric columns, ${columns[0]} .. ${columns[columns.length - 1]}`);
  });
  for (const c of candidates.slice(next)) why.set(c, 'more numeric columns than the model takes');
  const leftOut = header.filter((c) => c !== key && why.has(c));

  const taken = new Set<string>([key.toLowerCase(), ...provenanceColumns]);
  const columnFor = (base: string) => {
    let name = base.replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z_]/.test(name)) name = `out_${name}`;
    name = name.slice(0, maxIdentifierBytes - 4);
    let unique = name;
    for (let n = 2; taken.has(unique.toLowerCase()); n++) unique = `${name}_${n}`;
    taken.add(unique.toLowerCase());
    return unique;
  };
  const outputs: Draft['outputs'] = [];
  const outputNotes: string[] = [];
  for (const out of sig.outputs) {
    const shape = formatShape(out.shape);
    if (!out.isTensor) {
      outputNotes.push(`# skipped "${out.name}": not a tensor (e.g. scikit-learn's ZipMap), it can't be stored; export the model with zipmap=False`);
      continue;
    }
    if (!sqlTypes[out.type]) {
      outputNotes.push(`# skipped "${out.name}" ${out.type} ${shape}: batchinfer can't store ${out.type} values`);
      continue;
    }
    const last = out.shape[out.shape.length - 1];
    if (out.shape.length <= 1 || (out.shape.length === 2 && last === 1)) {
      outputs.push({ column: columnFor(out.name), output: out.name });
    } else if (out.shape.length === 2 && typeof last === 'number' && last > 1 && last <= maxIndexedColumns) {
      for (let i = 0; i < last; i++) outputs.push({ column: columnFor(`${out.name}_${i}`), output: out.name, index: i });
    } else {
      outputNotes.push(`# skipped "${out.name}" ${out.type} ${shape}: too many or unknown values per row; add the ones you need, e.g. ${columnFor(`${out.name}_0`)}: { output: ${yamlText(out.name)}, index: 0 }`);
    }
  }
  if (outputs.length === 0)
    throw new UsageError(`${o.modelLabel}: no output batchinfer can store (its outputs: ${sig.outputs.map((x) => `"${x.name}" ${x.isTensor ? `${x.type} ${formatShape(x.shape)}` : 'non-tensor'}`).join(', ')})`);

  const table = tableName(o.name);
  const suggestPassthrough = leftOut.filter((c) => plainIdentifier.test(c) && !taken.has(c.toLowerCase()));
  const lines = [
    `# Job spec drafted by \`batchinfer init\` from ${o.modelLabel} and ${o.csvLabel}: check it, change what you like.`,
    '# Paths are relative to this file. Every key: batchinfer validate <this file> names what is wrong.',
    '',
    '# Job name: names its runs in `batchinfer runs`.',
    `name: ${yamlText(o.name)}`,
    'model:',
    '  # The ONNX model to score with (batchinfer inspect <model> lists its inputs and outputs).',
    `  path: ${JSON.stringify(o.modelPath)}`,
    '# Where rows come from: a CSV file with a header row. A dated file takes the run\'s date, quoted: path: "data/in-{{ds}}.csv".',
    '# (or a query: postgres: { query: "SELECT ..." })',
    `source:`,
    `  csv: { path: ${JSON.stringify(o.csvPath)} }`,
    '# Column identifying a row: unique within a run; the result table\'s key.',
    `key: ${yamlText(key)}`,
    `# SQL type of the key in the result table: bigint, uuid or text.${keyType === 'bigint' ? ' The first keys are integers.' : keyType === 'uuid' ? ' The first keys are UUIDs.' : ''}`,
    `key_type: ${keyType}`,
    '# Model input -> source columns, in the order the model expects them (the model\'s declared width):',
    ...inputNotes,
    leftOut.length ? `# Left out: ${leftOut.map((c) => `${c} (${why.get(c)})`).join(', ')}` : '# Every column besides the key is used.',
    'inputs:',
    ...inputs.map((i) => `  ${yamlText(i.name)}: [${i.columns.map(yamlText).join(', ')}]`),
    '# Result column -> model output; index: the position in an output with several values per row.',
    'outputs:',
    ...outputs.map((x) => `  ${x.column}: { output: ${yamlText(x.output)}${x.index === undefined ? '' : `, index: ${x.index}`} }`),
    ...outputNotes,
    '# Source columns copied to each result row as text.',
    suggestPassthrough.length ? `# passthrough: [${suggestPassthrough.join(', ')}]` : '# passthrough: [column, ...]',
    `# Result table (schema.table): created on the first run; ${table}${latestViewSuffix} shows the newest run per date.`,
    `sink: { table: scores.${table} }`,
    ...(batchSize === 1 ? ['# Rows per model call: the model takes one row at a time.', 'batch_size: 1'] : [`# Rows per model call (default ${defaults.batchSize}):`, `# batch_size: ${defaults.batchSize}`]),
    `# Rows per chunk, the unit of retry and commit (default ${defaults.chunkRows}):`,
    `# chunk_rows: ${defaults.chunkRows}`,
    '# Rejected rows (unparsable, duplicate key) a run may have: a count, or a fraction below 1 (default 0: any reject fails the run):',
    `# max_rejected: ${defaults.maxRejected}`,
    '# Fewest rows a run must read; fewer (the day\'s data not there yet) fails it as "input not ready", exit 3 (default: no minimum):',
    '# min_rows: 1',
    '# When a scheduler runs it (optional; checked by validate):',
    '# schedule: { cron: "0 2 * * *", timezone: UTC }',
    '',
  ];
  return { text: lines.join('\n'), key, inputs, outputs, leftOut };
}

function pickKey(o: DraftOptions): string {
  const { header } = o.sample;
  if (o.key !== undefined) {
    if (!header.includes(o.key)) throw new UsageError(`--key ${o.key}: no such column in ${o.csvLabel} (its columns: ${header.join(', ')})`);
    if (!plainIdentifier.test(o.key)) throw new UsageError(`--key ${o.key}: must be a plain SQL name (letters, digits, _; not starting with a digit); rename the column`);
    return o.key;
  }
  const found =
    header.find((c) => /^(id|key)$/i.test(c) && plainIdentifier.test(c)) ?? header.find((c) => /_id$/i.test(c) && plainIdentifier.test(c));
  if (!found) throw new UsageError(`${o.csvLabel}: no key column found (id, key or *_id); pass --key COLUMN, the column identifying a row (its columns: ${header.join(', ')})`);
  return found;
}

/** The result table's name from the job name: a plain SQL name, short enough for its _latest view. */
function tableName(name: string): string {
  let t = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!/^[a-z_]/.test(t)) t = `t_${t}`;
  while (identifierBytes(t) > maxIdentifierBytes - latestViewSuffix.length) t = t.slice(0, -1);
  return t;
}

/** A name as YAML text: bare when YAML reads it back as that string, else double-quoted (JSON is valid YAML). */
function yamlText(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) ? s : JSON.stringify(s);
}
