import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from 'onnxruntime-node';
import { UsageError } from '../../src/errors.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import { displayIdent, displayName } from '../../src/sql/identifiers.js';
import { sqlTypes } from '../../src/model/signature.js';
import { encodeRows } from '../../src/sink/encode-rows.js';
import { CopyWriter } from '../../src/sink/copy-binary.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-spec-names-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASE = `
model: { path: m.onnx }
source: { csv: { path: data.csv } }
key: id
inputs: { x: [a, b, c] }
outputs: { score: { output: sum } }
sink: { table: scores.t }
`;

function problems(yaml: string): string[] {
  fs.writeFileSync(path.join(dir, 'job.yaml'), yaml);
  try {
    loadSpec('job.yaml', dir);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected loadSpec to fail');
}

const ok = (yaml: string) => {
  fs.writeFileSync(path.join(dir, 'ok.yaml'), yaml);
  return loadSpec('ok.yaml', dir);
};

const name = (n: number, c = 'c') => c.repeat(n);

describe('names PostgreSQL would truncate', () => {
  it('takes result column names up to 63 bytes and a table name up to 56 (63 with "_latest")', () => {
    const spec = ok(BASE.replace('key: id', `key: ${name(63, 'k')}`).replace('score:', `${name(63, 's')}:`).replace('scores.t', `${name(63, 'S')}.${name(56, 't')}`) + `passthrough: [${name(63, 'p')}]\n`);
    expect(spec.sink).toEqual({ schema: name(63, 'S'), table: name(56, 't'), onSchemaChange: 'fail' });
    // source columns that are not result columns are not limited (a CSV header may be long)
    expect(ok(BASE.replace('[a, b, c]', `[a, b, ${name(80)}]`)).inputs[0].columns[2]).toBe(name(80));
  });

  it('refuses longer ones, each at its key path, saying to shorten it', () => {
    const yaml = BASE.replace('key: id', `key: ${name(64, 'k')}`)
      .replace('score:', `${name(64, 's')}:`)
      .replace('scores.t', `${name(64, 'S')}.${name(57, 't')}`) + `passthrough: [ok, ${name(70, 'p')}]\n`;
    const lines = problems(yaml);
    expect(lines).toEqual([
      `job.yaml: key: "${name(20, 'k')}…" is 64 bytes; PostgreSQL keeps only the first 63 bytes of a name: shorten it`,
      `job.yaml: outputs.${name(64, 's')}: "${name(20, 's')}…" is 64 bytes; PostgreSQL keeps only the first 63 bytes of a name: shorten it`,
      `job.yaml: passthrough[1]: "${name(20, 'p')}…" is 70 bytes; PostgreSQL keeps only the first 63 bytes of a name: shorten it`,
      'job.yaml: sink.table: schema name is 64 bytes; PostgreSQL keeps only the first 63 bytes of a name: shorten it',
      `job.yaml: sink.table: table name is 57 bytes; its view ${name(12, 't')}…_latest must fit PostgreSQL's 63-byte names: shorten it to at most 56 bytes`,
    ]);
  });

  it('says what is wrong with a bad output column name (not "Invalid key in record")', () => {
    expect(problems(BASE.replace('score:', '"my-score":'))).toEqual(['job.yaml: outputs.my-score: must be a plain SQL identifier (letters, digits, _; not starting with a digit), e.g. customer_id']);
  });
});

describe('sinks outside the user\'s schemas', () => {
  it("refuses batchinfer's own schema and PostgreSQL's, in any case", () => {
    expect(problems(BASE.replace('scores.t', 'batchinfer.runs'))).toEqual([
      "job.yaml: sink.table: schema \"batchinfer\" holds batchinfer's own ledger; write results to another schema, e.g. scores.runs",
    ]);
    expect(problems(BASE.replace('scores.t', 'BatchInfer.sinks'))).toHaveLength(1);
    expect(problems(BASE.replace('scores.t', 'pg_catalog.pg_class'))).toEqual([
      'job.yaml: sink.table: schema "pg_catalog" belongs to PostgreSQL; write results to another schema, e.g. scores.pg_class',
    ]);
    expect(problems(BASE.replace('scores.t', 'information_schema.tables'))).toHaveLength(1);
    expect(ok(BASE.replace('scores.t', 'batchinfer_results.t')).sink.schema).toBe('batchinfer_results');
  });
});

describe('displayName', () => {
  it('shows names as a user can paste them into psql: quoted only where needed', () => {
    expect(displayName('scores', 'wine')).toBe('scores.wine');
    expect(displayName('T', 'Upper')).toBe('"T"."Upper"');
    expect(displayName('scores', 'order')).toBe('scores."order"');
    expect(displayName('_x1', 'a_b')).toBe('_x1.a_b');
    expect(displayIdent('user')).toBe('"user"');
    expect(displayIdent('name')).toBe('name'); // an unreserved keyword works bare
    expect(displayIdent('1a')).toBe('"1a"');
    expect(displayIdent('a"b')).toBe('"a""b"');
  });
});

describe('ONNX element types', () => {
  /** Binary COPY field width of each SQL type batchinfer writes. */
  const widths: Record<string, number> = { real: 4, 'double precision': 8, bigint: 8, integer: 4, smallint: 2, boolean: 1 };
  const arrays: Record<string, () => ArrayLike<unknown>> = {
    float32: () => Float32Array.of(1.5),
    float64: () => Float64Array.of(1.5),
    int64: () => BigInt64Array.of(-3n),
    int32: () => Int32Array.of(-3),
    int16: () => Int16Array.of(-3),
    int8: () => Int8Array.of(-3),
    uint8: () => Uint8Array.of(3),
    uint16: () => Uint16Array.of(65535),
    uint32: () => Uint32Array.of(4294967295),
    bool: () => Uint8Array.of(1),
    string: () => ['hi'],
  };

  it('every type the model check accepts is encoded as its SQL column type', () => {
    expect(Object.keys(sqlTypes).sort()).toEqual(Object.keys(arrays).sort());
    for (const [type, sqlType] of Object.entries(sqlTypes)) {
      const w = new CopyWriter(64);
      const data = arrays[type]();
      encodeRows(w, { n: 1, features: [], keys: ['k'], passthrough: [], rejects: [], lines: null }, 'text', [{ column: 'o', output: 'o', type, sqlType }], { o: { data, dims: [1] } as unknown as Tensor }, { bytes: Buffer.alloc(0), fields: 0 });
      const buf = w.take();
      // tuple: field count, key (4 + 1 bytes), then the output field's length
      const len = buf.readInt32BE(2 + 4 + 1);
      expect(len, `${type} -> ${sqlType}`).toBe(widths[sqlType] ?? Buffer.byteLength('hi'));
      const v = buf.subarray(2 + 4 + 1 + 4);
      const decoded = { real: () => v.readFloatBE(), 'double precision': () => v.readDoubleBE(), bigint: () => Number(v.readBigInt64BE()), integer: () => v.readInt32BE(), smallint: () => v.readInt16BE(), boolean: () => v[0] === 1, text: () => v.toString() }[sqlType]!();
      const expected = typeof data[0] === 'bigint' ? Number(data[0]) : type === 'bool' ? true : data[0];
      expect(decoded, `${type} -> ${sqlType}`).toBe(expected);
    }
  });
});
