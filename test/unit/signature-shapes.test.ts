import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { getSession } from '../../src/model/session-cache.js';
import { checkSignature, formatShape, readSignature, type ModelSignature } from '../../src/model/signature.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { repoRoot } from '../support/cli.js';
import { makeSpec } from './csv-helpers.js';

/** The hand-made models of test/fixtures/make_shape_fixtures.py, read by onnxruntime itself. */
const sigs: Record<string, ModelSignature> = {};
beforeAll(async () => {
  for (const m of ['rank1', 'fixed_batch', 'batch1', 'typed'])
    sigs[m] = readSignature(await getSession(path.join(repoRoot, 'test/fixtures/models', `${m}.onnx`)));
});

const spec = (columns: string[], over: Partial<JobSpec> = {}) => makeSpec({ inputs: [{ name: 'x', columns }], outputs: [{ column: 'y', output: 'y' }], ...over });

function refused(s: JobSpec, sig: ModelSignature): string[] {
  try {
    checkSignature(s, sig);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected checkSignature to refuse the spec');
}

/** A signature with one float32 input x of the given shape and a y output. */
const withInput = (shape: Array<number | string>): ModelSignature => ({
  inputs: [{ name: 'x', columns: [], type: 'float32', shape }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N'], isTensor: true }],
});

describe('model input shapes', () => {
  it('the fixtures declare what they should', () => {
    expect(['rank1', 'fixed_batch', 'batch1'].map((m) => formatShape(sigs[m].inputs[0].shape))).toEqual(['[N]', '[4, 2]', '[1, 2]']);
  });

  it('refuses a rank-1 input [N] (it passed, then every chunk failed), naming the input, its shape and what batchinfer feeds', () => {
    expect(refused(spec(['a']), sigs.rank1)).toEqual(['unit.yaml: inputs.x: the model declares [N] (rank 1); batchinfer feeds [batch_size, 1] (1 column per row): export the model with a 2-D input [N, 1]']);
  });

  it('refuses inputs of rank 3 or 0', () => {
    expect(refused(spec(['a', 'b', 'c']), withInput(['N', 3, 1]))).toEqual([
      'unit.yaml: inputs.x: the model declares [N, 3, 1] (rank 3); batchinfer feeds [batch_size, 3] (3 columns per row): export the model with a 2-D input [N, 3]',
    ]);
    expect(refused(spec(['a']), withInput([]))[0]).toMatch(/declares \[\] \(rank 0\)/);
  });

  it('refuses a fixed batch dimension [4, 2]', () => {
    expect(refused(spec(['a', 'b']), sigs.fixed_batch)).toEqual([
      'unit.yaml: inputs.x: the model declares [4, 2], a fixed batch of 4 rows; batchinfer feeds [batch_size, 2] (2 columns per row) with batch_size 1024, the last batch shorter: export the model with a symbolic batch dimension [N, 2]',
    ]);
    // even when batch_size matches: the last batch of a chunk is shorter
    expect(refused(spec(['a', 'b'], { batchSize: 4 }), sigs.fixed_batch)[0]).toContain('a fixed batch of 4 rows');
  });

  it('takes a batch dimension fixed at 1 only with batch_size 1', () => {
    expect(refused(spec(['a', 'b']), sigs.batch1)).toEqual([
      'unit.yaml: inputs.x: the model declares [1, 2], a fixed batch of 1 row; batchinfer feeds [batch_size, 2] (2 columns per row) with batch_size 1024, the last batch shorter: export the model with a symbolic batch dimension [N, 2], or set batch_size: 1',
    ]);
    expect(checkSignature(spec(['a', 'b'], { batchSize: 1 }), sigs.batch1).map((c) => c.column)).toEqual(['y']);
  });

  it('takes a symbolic or unknown (-1) batch dimension, and a symbolic width', () => {
    for (const shape of [['N', 2], [-1, 2], ['', 2], ['N', 'M']]) expect(checkSignature(spec(['a', 'b']), withInput(shape)), JSON.stringify(shape)).toHaveLength(1);
  });

  it('still names a wrong width first, with the columns given', () => {
    expect(refused(spec(['a', 'b', 'c']), sigs.fixed_batch)).toEqual(['unit.yaml: inputs.x: the model expects [4, 2] (2 features per row) but the spec gives 3 columns (a, b, c); list exactly 2 columns']);
  });
});
