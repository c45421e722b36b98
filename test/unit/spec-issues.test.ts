import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import { rawSpecSchema } from '../../src/spec/schema.js';
import { keyHelp } from '../../src/spec/spec-issues.js';

/** Spec messages say what to write, in the spec's words: never the schema library's. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-spec-issues-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const parts = {
  model: 'model: { path: m.onnx }',
  source: 'source: { csv: { path: "d.csv" } }',
  key: 'key: id',
  inputs: 'inputs: { x: [a, b, c] }',
  outputs: 'outputs: { score: { output: sum } }',
  sink: 'sink: { table: scores.t }',
};
type Part = keyof typeof parts;

/** A valid spec with some of its lines replaced (null: left out) and more lines added. */
function spec(over: Partial<Record<Part, string | null>> = {}, extra = ''): string {
  return Object.entries({ ...parts, ...over }).filter(([, v]) => v !== null).map(([, v]) => v).join('\n') + `\n${extra}\n`;
}

function problems(yaml: string): string[] {
  fs.writeFileSync(path.join(dir, 'x.yaml'), yaml);
  try {
    loadSpec('x.yaml', dir);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected loadSpec to fail');
}

/** zod's phrases: none may reach a user. */
const zodPhrases = /Invalid input|Invalid option|expected record|expected object|expected string|expected number|expected array|expected int|received|Too small|Too big|Unrecognized key|Invalid key|is required \(/;

/** [what the user got wrong, the spec, the one message it must give] */
const cases: [string, string, string][] = [
  ['inputs missing', spec({ inputs: null }), "x.yaml: inputs: missing; add a mapping of each model input to its source columns, in tensor order (batchinfer inspect <model.onnx> lists the model's inputs), e.g. inputs: { float_input: [alcohol, malic_acid, ash] }"],
  ['inputs as a list', spec({ inputs: 'inputs: [a, b, c]' }), "x.yaml: inputs: [a, b, c] is a list; write a mapping of each model input to its source columns, in tensor order (batchinfer inspect <model.onnx> lists the model's inputs), e.g. inputs: { float_input: [alcohol, malic_acid, ash] }"],
  ['inputs empty mapping', spec({ inputs: 'inputs: {}' }), "x.yaml: inputs: needs at least one model input, e.g. inputs: { float_input: [alcohol, malic_acid, ash] } (batchinfer inspect <model.onnx> lists the model's inputs)"],
  ['an input with no columns', spec({ inputs: 'inputs: { x: [] }' }), 'x.yaml: inputs.x: is an empty list; write a list of source columns, in tensor order, e.g. float_input: [alcohol, malic_acid, ash]'],
  ['an input column as a scalar', spec({ inputs: 'inputs: { x: a }' }), 'x.yaml: inputs.x: "a" is text; write a list of source columns, in tensor order, e.g. float_input: [alcohol, malic_acid, ash]'],
  ['a number as a column name', spec({ inputs: 'inputs: { x: [1, b] }' }), 'x.yaml: inputs.x[0]: 1 is a number; write a source column name, e.g. float_input: [alcohol, malic_acid, ash]'],
  ['text for a number', spec({}, 'batch_size: "big"'), 'x.yaml: batch_size: "big" is text; write a whole number of rows per model call, from 1 to 1,000,000, e.g. batch_size: 1024'],
  ['a negative number', spec({}, 'batch_size: -5'), 'x.yaml: batch_size: -5 is too small; write a whole number of rows per model call, from 1 to 1,000,000, e.g. batch_size: 1024'],
  ['a fraction for a whole number', spec({}, 'chunk_rows: 1.5'), 'x.yaml: chunk_rows: 1.5 is not a whole number; write a whole number of rows per chunk, 1 or more, e.g. chunk_rows: 50000'],
  ['a number over the maximum', spec({}, 'batch_size: 5000000'), 'x.yaml: batch_size: 5000000 is too large; write a whole number of rows per model call, from 1 to 1,000,000, e.g. batch_size: 1024'],
  ['negative max_rejected', spec({}, 'max_rejected: -1'), 'x.yaml: max_rejected: -1 is too small; write a fraction below 1, or a count of rows, 0 or more, e.g. max_rejected: 0.01'],
  ['negative min_rows', spec({}, 'min_rows: -1'), 'x.yaml: min_rows: -1 is too small; write a whole number of rows, 0 or more, e.g. min_rows: 1'],
  ['a bad enum value', spec({}, 'key_type: int'), 'x.yaml: key_type: "int" is not allowed; write text (the default), bigint or uuid: the SQL type of the key column, e.g. key_type: bigint'],
  ['a bad nested enum value', spec({ sink: 'sink: { table: scores.t, on_schema_change: ignore }' }), 'x.yaml: sink.on_schema_change: "ignore" is not allowed; write fail (the default) or append_new_columns, e.g. on_schema_change: append_new_columns'],
  ['a scalar for a mapping', spec({ sink: 'sink: scores.t' }), 'x.yaml: sink: "scores.t" is text; write a mapping with the result table, e.g. sink: { table: scores.wine }'],
  ['model as a path', spec({ model: 'model: m.onnx' }), 'x.yaml: model: "m.onnx" is text; write a mapping with the model file, e.g. model: { path: ../models/wine/model.onnx }'],
  ['a nested key missing', spec({ model: 'model: { version: v1 }' }), 'x.yaml: model.path: missing; add the ONNX file, relative to the spec file, e.g. path: ../models/wine/model.onnx'],
  ['an empty string', spec({ model: 'model: { path: "" }' }), 'x.yaml: model.path: is empty; write the ONNX file, relative to the spec file, e.g. path: ../models/wine/model.onnx'],
  ['a key with no value', spec({ key: 'key:' }), 'x.yaml: key: is empty; write the column that identifies a row (unique per run), e.g. key: id'],
  ['neither csv nor postgres', spec({ source: 'source: {}' }), 'x.yaml: source: needs exactly one of csv or postgres, e.g. source: { csv: { path: "data/wine-{{ds}}.csv" } } or source: { postgres: { query: "SELECT id, a, b FROM features WHERE day = {{ds}}" } }'],
  ['csv as a path', spec({ source: 'source: { csv: d.csv }' }), 'x.yaml: source.csv: "d.csv" is text; write a mapping with the CSV file, e.g. csv: { path: "data/wine-{{ds}}.csv" }'],
  ['outputs as a list', spec({ outputs: 'outputs: [score]' }), "x.yaml: outputs: [score] is a list; write a mapping of each result column to a model output (batchinfer inspect <model.onnx> lists the model's outputs), e.g. outputs: { p_class_1: { output: probabilities, index: 1 } }"],
  ['an output as a name', spec({ outputs: 'outputs: { score: sum }' }), 'x.yaml: outputs.score: "sum" is text; write a mapping with the model output, and an index when the output holds several values per row, e.g. p_class_1: { output: probabilities, index: 1 }'],
  ['an output without output', spec({ outputs: 'outputs: { score: { index: 1 } }' }), 'x.yaml: outputs.score.output: missing; add the name of a model output, e.g. output: probabilities'],
  ['a negative index', spec({ outputs: 'outputs: { score: { output: sum, index: -1 } }' }), "x.yaml: outputs.score.index: -1 is too small; write a whole number >= 0: the position along the output's last axis, e.g. index: 1"],
  ['passthrough as a scalar', spec({}, 'passthrough: region'), 'x.yaml: passthrough: must be a list of columns (e.g. [region, day]) or, for a CSV, a map of column: SQL type (e.g. { day: date, amount: numeric })'],
  ['a column name SQL cannot take', spec({}, 'passthrough: [my-col]'), 'x.yaml: passthrough[0]: must be a plain SQL identifier (letters, digits, _; not starting with a digit), e.g. customer_id'],
  ['a number as the key', spec({ key: 'key: 5' }), 'x.yaml: key: 5 is a number; write the column that identifies a row (unique per run), e.g. key: id'],
  ['a bad job name', spec({}, 'name: "my job!"'), 'x.yaml: name: must be letters, digits, . _ - (starting with a letter or digit), e.g. name: wine-quality'],
  ['a table without schema', spec({ sink: 'sink: { table: wine }' }), 'x.yaml: sink.table: must be schema.table (plain identifiers), e.g. table: scores.wine'],
  ['a typo with a suggestion', spec({}, 'batchsize: 5'), 'x.yaml: batchsize: unknown key (did you mean "batch_size"?); remove it or fix its spelling'],
  ['a nested typo', spec({ sink: 'sink: { table: scores.t, on_schema_chnage: fail }' }), 'x.yaml: sink.on_schema_chnage: unknown key (did you mean "on_schema_change"?); remove it or fix its spelling'],
  ['a far-off unknown key lists the known ones', spec({ outputs: 'outputs: { score: { output: sum, column: s } }' }), 'x.yaml: outputs.score.column: unknown key; remove it or fix its spelling (keys here: output, index)'],
  ['a bad cron', spec({}, 'schedule: { cron: "61 * * * *" }'), 'x.yaml: schedule.cron: is not a valid cron expression (5 fields, or 6 with seconds first; e.g. "0 2 * * *")'],
  ['a cron as a number', spec({}, 'schedule: { cron: 5 }'), 'x.yaml: schedule.cron: 5 is a number; write a cron expression in quotes: 5 fields, or 6 with seconds first, e.g. cron: "0 2 * * *"'],
  ['a schedule without cron', spec({}, 'schedule: { timezone: UTC }'), 'x.yaml: schedule.cron: missing; add a cron expression in quotes: 5 fields, or 6 with seconds first, e.g. cron: "0 2 * * *"'],
  ['an unknown timezone', spec({}, 'schedule: { cron: "0 2 * * *", timezone: Mars }'), 'x.yaml: schedule.timezone: is not a known IANA timezone (e.g. UTC, Europe/Berlin)'],
  ['text for a boolean', spec({}, 'schedule: { cron: "0 2 * * *", catchup: yes please }'), 'x.yaml: schedule.catchup: must be true or false, e.g. catchup: true'],
  ['retries as a number', spec({}, 'retries: 3'), 'x.yaml: retries: 3 is a number; write a mapping with attempts and backoff_ms, e.g. retries: { attempts: 3, backoff_ms: 1000 }'],
  ['zero days to keep', spec({}, 'retention: { keep_days: 0 }'), 'x.yaml: retention.keep_days: 0 is too small; write a whole number of days, 1 or more, e.g. keep_days: 90'],
  ['a list for the whole spec', '- a\n- b\n', 'x.yaml: (top level): [a, b] is a list; write a mapping of spec keys (model, source, key, inputs, outputs, sink, ...), e.g. model: { path: ../models/wine/model.onnx }'],
];

describe('spec messages say what to write', () => {
  it.each(cases)('%s', (_what, yaml, message) => {
    expect(problems(yaml)).toEqual([message]);
  });

  it('no message of any case carries zod\'s wording; each names the key path and what to write', () => {
    const all = cases.flatMap(([, yaml]) => problems(yaml));
    all.push(...problems(''), ...problems(spec({}, 'retries: { attempts: 0, backoff_ms: -1 }\nmin_rows: x\nmax_rejected: [1]')));
    for (const line of all) {
      expect(line).not.toMatch(zodPhrases);
      expect(line).toMatch(/^x\.yaml: (\(top level\)|[A-Za-z_][\w.[\]-]*): /);
      expect(line).toMatch(/write|add|must|needs|remove|is not a (valid|known)/);
    }
    // an empty file: one "missing" line per required key, each with an example
    expect(problems('')).toEqual(['model', 'source', 'key', 'inputs', 'outputs', 'sink'].map((k) => expect.stringMatching(new RegExp(`^x\\.yaml: ${k}: missing; add .*, e\\.g\\. ${k}: `))));
  });

  it('YAML syntax errors name the line and say what to do', () => {
    expect(problems(spec({}, 'batch_size: 1\nbatch_size: 2'))).toEqual(['x.yaml:8: YAML syntax: Map keys must be unique: "batch_size" is written twice in one mapping; keep one']);
    expect(problems(spec({}, 'schedule:\n\tcron: "0 2 * * *"'))).toEqual(['x.yaml:8: YAML syntax: Tabs are not allowed as indentation: indent with spaces']);
    expect(problems(spec({}, 'schedule:\n  cron: "0 2 * * *"\n    timezone: UTC'))[0]).toMatch(/^x\.yaml:9: YAML syntax: .*: start the keys of one mapping at the same column/);
    expect(problems(spec({}, 'name: a: b'))).toEqual(['x.yaml:7: YAML syntax: Nested mappings are not allowed in compact mappings: quote a value that holds ": ", e.g. name: "a: b"']);
    expect(problems(spec({ sink: 'sink: { table: scores.t' }))[0]).toMatch(/^x\.yaml:\d+: YAML syntax: .*close every \[ with \] and \{ with \}/);
  });

  it('every key of the schema has its help (what to write and an example)', () => {
    const patterns: string[] = [];
    const walk = (schema: unknown, at: string) => {
      const def = (schema as { _zod: { def: Record<string, unknown> } })._zod.def;
      switch (def.type) {
        case 'optional':
        case 'default':
          return walk(def.innerType, at);
        case 'object':
          for (const [k, v] of Object.entries(def.shape as Record<string, unknown>)) {
            const p = at ? `${at}.${k}` : k;
            patterns.push(p);
            walk(v, p);
          }
          return;
        case 'record':
          patterns.push(`${at}.*`);
          return walk(def.valueType, `${at}.*`);
        case 'array':
          patterns.push(`${at}[]`);
          return walk(def.element, `${at}[]`);
      }
    };
    walk(rawSpecSchema, '');
    expect(patterns.length).toBeGreaterThan(30);
    for (const p of patterns) expect(keyHelp[p], p).toMatchObject({ write: expect.any(String), example: expect.stringMatching(/^[a-z_0-9]+: /) });
  });
});
