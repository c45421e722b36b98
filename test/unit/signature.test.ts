import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { getSession } from '../../src/model/session-cache.js';
import { checkSignature, formatShape, readSignature, type ModelSignature } from '../../src/model/signature.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { makeSpec } from './csv-helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const models = path.join(root, 'test/fixtures/models');

let typed: ModelSignature;
let twoInputs: ModelSignature;
let wine: ModelSignature;
beforeAll(async () => {
  typed = readSignature(await getSession(path.join(models, 'typed.onnx')));
  twoInputs = readSignature(await getSession(path.join(models, 'two_inputs.onnx')));
  wine = readSignature(await getSession(path.join(root, 'models/wine/model.onnx')));
});

const outputs = (...o: Array<[string, string, number?]>): JobSpec['outputs'] => o.map(([column, output, index]) => ({ column, output, index }));

/** The problems checkSignature reports, one per line (fails the test if it accepts the spec). */
function problems(spec: JobSpec, sig: ModelSignature): string[] {
  try {
    checkSignature(spec, sig);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected checkSignature to fail');
}

describe('checkSignature', () => {
  it('reads the fixture signatures', () => {
    expect(typed.inputs.map((i) => [i.name, i.type, formatShape(i.shape)])).toEqual([['x', 'float32', '[N, 3]']]);
    expect(typed.outputs.map((o) => o.name)).toEqual(['sum', 'sum2d', 'dbl', 'cls', 'name', 'pair']);
    expect(formatShape([-1, 3])).toBe('[?, 3]');
    expect(formatShape(['', 2])).toBe('[?, 2]');
  });

  it('maps each output type to its SQL type', () => {
    const spec = makeSpec({
      outputs: outputs(['s', 'sum'], ['s2', 'sum2d'], ['s2i', 'sum2d', 0], ['d', 'dbl'], ['k', 'cls'], ['n', 'name'], ['p0', 'pair', 0], ['p1', 'pair', 1]),
    });
    expect(checkSignature(spec, typed)).toEqual([
      { column: 's', output: 'sum', index: undefined, type: 'float32', sqlType: 'real' },
      { column: 's2', output: 'sum2d', index: undefined, type: 'float32', sqlType: 'real' },
      { column: 's2i', output: 'sum2d', index: 0, type: 'float32', sqlType: 'real' },
      { column: 'd', output: 'dbl', index: undefined, type: 'float64', sqlType: 'double precision' },
      { column: 'k', output: 'cls', index: undefined, type: 'int64', sqlType: 'bigint' },
      { column: 'n', output: 'name', index: undefined, type: 'string', sqlType: 'text' },
      { column: 'p0', output: 'pair', index: 0, type: 'float32', sqlType: 'real' },
      { column: 'p1', output: 'pair', index: 1, type: 'float32', sqlType: 'real' },
    ]);
  });

  it('names the input, the expected shape and the columns when the width is wrong', () => {
    expect(problems(makeSpec({ inputs: [{ name: 'x', columns: ['a', 'b'] }] }), typed)).toEqual([
      'unit.yaml: inputs.x: the model expects [N, 3] (3 features per row) but the spec gives 2 columns (a, b); list exactly 3 columns',
    ]);
    expect(problems(makeSpec({ inputs: [{ name: 'x', columns: ['a', 'b', 'c', 'd'] }] }), typed)[0]).toContain('but the spec gives 4 columns (a, b, c, d); list exactly 3 columns');
  });

  it('reports an input the model does not have, and model inputs the spec does not feed', () => {
    expect(problems(makeSpec({ inputs: [{ name: 'X', columns: ['a', 'b', 'c'] }] }), typed)).toEqual([
      'unit.yaml: inputs.X: the model has no input "X"; its inputs are "x" [N, 3]',
      'unit.yaml: inputs: the model input "x" [N, 3] is not fed; add inputs.x: [columns...]',
    ]);
    const onlyA = makeSpec({ inputs: [{ name: 'a', columns: ['p', 'q'] }], outputs: outputs(['y', 'y']) });
    expect(problems(onlyA, twoInputs)).toEqual(['unit.yaml: inputs: the model input "b" [N, 1] is not fed; add inputs.b: [columns...]']);
    const both = makeSpec({
      inputs: [
        { name: 'b', columns: ['r'] },
        { name: 'a', columns: ['p', 'q'] },
      ],
      outputs: outputs(['y', 'y']),
    });
    expect(checkSignature(both, twoInputs)).toEqual([{ column: 'y', output: 'y', index: undefined, type: 'float32', sqlType: 'real' }]);
  });

  it('lists the available outputs for an unknown output', () => {
    expect(problems(makeSpec({ outputs: outputs(['score', 'total']) }), typed)).toEqual([
      'unit.yaml: outputs.score.output: the model has no output "total"; its outputs are "sum" float32 [N], "sum2d" float32 [N, 1], "dbl" float64 [N], "cls" int64 [N], "name" string [N], "pair" float32 [N, 2]',
    ]);
  });

  it('requires index for outputs with several values per row, within range', () => {
    expect(problems(makeSpec({ outputs: outputs(['p', 'pair']) }), typed)).toEqual([
      'unit.yaml: outputs.p: output "pair" has shape [N, 2] (2 values per row); add index: 0..1',
    ]);
    expect(problems(makeSpec({ outputs: outputs(['p', 'pair', 2]) }), typed)).toEqual([
      'unit.yaml: outputs.p.index: 2 is out of range for output "pair" [N, 2]; use 0..1',
    ]);
    expect(problems(makeSpec({ outputs: outputs(['s', 'sum', 1]) }), typed)).toEqual([
      'unit.yaml: outputs.s.index: 1 is out of range for output "sum" [N]; use 0..0',
    ]);
    expect(problems(makeSpec({ outputs: outputs(['s', 'sum2d', 1]) }), typed)).toEqual([
      'unit.yaml: outputs.s.index: 1 is out of range for output "sum2d" [N, 1]; use 0..0',
    ]);
  });

  it('collects every problem into one error', () => {
    const spec = makeSpec({ inputs: [{ name: 'x', columns: ['a'] }], outputs: outputs(['p', 'pair'], ['q', 'nope'], ['r', 'pair', 5], ['ok', 'cls']) });
    const lines = problems(spec, typed);
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.split(':').slice(0, 2).join(':'))).toEqual(['unit.yaml: inputs.x', 'unit.yaml: outputs.p', 'unit.yaml: outputs.q.output', 'unit.yaml: outputs.r.index']);
  });

  it('accepts the wine demo spec against the wine model', () => {
    const spec = loadSpec(path.join(root, 'jobs/wine.yaml'), root);
    expect(checkSignature(spec, wine).map((c) => [c.column, c.output, c.index, c.sqlType])).toEqual([
      ['p_class_0', 'probabilities', 0, 'real'],
      ['p_class_1', 'probabilities', 1, 'real'],
      ['p_class_2', 'probabilities', 2, 'real'],
      ['label', 'label', undefined, 'bigint'],
    ]);
    const short = { ...spec, inputs: [{ name: 'float_input', columns: spec.inputs[0].columns.slice(0, 12) }] };
    expect(problems(short, wine)[0]).toMatch(/^jobs\/wine\.yaml: inputs\.float_input: the model expects \[N, 13\] \(13 features per row\) but the spec gives 12 columns \(alcohol, malic_acid, .*, od280_od315\); list exactly 13 columns$/);
  });
});
