import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/load-spec.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-spec-passthrough-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = (passthrough: string, source = 'csv: { path: data.csv }') => `
model: { path: m.onnx }
source: { ${source} }
key: id
inputs: { x: [a, b, c] }
outputs: { score: { output: sum } }
passthrough: ${passthrough}
sink: { table: scores.t }
`;

function load(yaml: string) {
  fs.writeFileSync(path.join(dir, 'job.yaml'), yaml);
  return loadSpec('job.yaml', dir);
}
const problem = (yaml: string) => {
  try {
    load(yaml);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected loadSpec to fail');
};

describe('passthrough: a list, or for a CSV a map of column: SQL type', () => {
  it('the list form has no types (text for a CSV); the map form keeps its order and types', () => {
    expect(load(spec('[region, day]'))).toMatchObject({ passthrough: ['region', 'day'] });
    expect(load(spec('[region, day]')).passthroughTypes).toBeUndefined();
    expect(load(spec('{ day: date, amount: numeric, note: text, d: double precision }'))).toMatchObject({
      passthrough: ['day', 'amount', 'note', 'd'],
      passthroughTypes: ['date', 'numeric', 'text', 'double precision'],
    });
  });

  it('an unknown type names the key and every type there is; neither a list nor a map says both forms', () => {
    expect(problem(spec('{ day: datetime }'))).toBe('job.yaml: passthrough.day: must be one of text, date, timestamp, timestamptz, numeric, bigint, integer, smallint, double precision, real, boolean');
    expect(problem(spec('day'))).toBe('job.yaml: passthrough: must be a list of columns (e.g. [region, day]) or, for a CSV, a map of column: SQL type (e.g. { day: date, amount: numeric })');
  });

  it('a map column that clashes with another result column is named by its key', () => {
    expect(problem(spec('{ score: real }'))).toBe('job.yaml: outputs.score: result column "score" is also passthrough.score; names must be unique');
  });

  it('the map form is refused for a Postgres source, which keeps its own types', () => {
    expect(problem(spec('{ amount: numeric }', 'postgres: { query: "SELECT * FROM t" }'))).toBe(
      "job.yaml: passthrough: a declared type (the map form) is for CSV sources; a Postgres source keeps the query's column types: list the columns (passthrough: [amount]) and cast in the query where needed (e.g. SELECT amount::numeric AS amount)",
    );
  });
});
