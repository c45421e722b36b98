import type { InferenceSession } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import type { JobSpec } from '../spec/job-spec.js';

/** SQL type for each ONNX tensor element type batchinfer can store (the one table: the COPY encoder follows the SQL type). */
export const sqlTypes: Record<string, string> = {
  float32: 'real',
  float64: 'double precision',
  int64: 'bigint',
  int32: 'integer',
  int16: 'smallint',
  int8: 'smallint',
  uint8: 'smallint',
  uint16: 'integer',
  uint32: 'bigint',
  bool: 'boolean',
  string: 'text',
};

/** Element types batchinfer can feed a model input: sources read features as float32, converted to what the model declares (model/feeds.ts). */
export const feedableInputTypes = ['float32', 'float64', 'int32', 'int64'] as const;

export interface OutputColumn {
  column: string;
  output: string;
  index?: number;
  /** ONNX element type, e.g. float32 */
  type: string;
  sqlType: string;
}

export interface ModelSignature {
  inputs: { name: string; columns: string[]; type: string; shape: ReadonlyArray<number | string> }[];
  outputs: { name: string; type: string; shape: ReadonlyArray<number | string>; isTensor: boolean }[];
}

export function readSignature(session: InferenceSession): ModelSignature {
  const shapeOf = (m: InferenceSession.ValueMetadata) => (m.isTensor ? m.shape : []);
  return {
    inputs: session.inputMetadata.map((m) => ({ name: m.name, columns: [], type: m.isTensor ? m.type : 'non-tensor', shape: shapeOf(m) })),
    outputs: session.outputMetadata.map((m) => ({ name: m.name, type: m.isTensor ? m.type : 'non-tensor', shape: shapeOf(m), isTensor: m.isTensor })),
  };
}

export const formatShape = (shape: ReadonlyArray<number | string>) => `[${shape.map((d) => (typeof d === 'string' ? d || '?' : d < 0 ? '?' : d)).join(', ')}]`;

const isFixed = (d: number | string): d is number => typeof d === 'number' && d >= 0;

/**
 * What is wrong with a model input's declared shape for what batchinfer feeds it: a [rows, columns] tensor (model/feeds.ts)
 * tensor, rows = batch_size (the last batch of a chunk shorter). Anything else would pass here and then fail
 * every chunk at session.run: a rank-1 input, or a fixed batch dimension (allowed only as 1 with batch_size 1).
 */
function inputShapeProblem(shape: ReadonlyArray<number | string>, columns: string[], batchSize: number): string | undefined {
  const k = columns.length;
  const feeds = `batchinfer feeds [batch_size, ${k}] (${k} column${k === 1 ? '' : 's'} per row)`;
  if (shape.length !== 2) return `the model declares ${formatShape(shape)} (rank ${shape.length}); ${feeds}: export the model with a 2-D input [N, ${k}]`;
  const [batch, width] = shape;
  if (isFixed(width) && width !== k)
    return `the model expects ${formatShape(shape)} (${width} features per row) but the spec gives ${k} columns (${columns.join(', ')}); list exactly ${width} columns`;
  if (isFixed(batch) && !(batch === 1 && batchSize === 1))
    return `the model declares ${formatShape(shape)}, a fixed batch of ${batch} row${batch === 1 ? '' : 's'}; ${feeds} with batch_size ${batchSize}, the last batch shorter: export the model with a symbolic batch dimension [N, ${k}]${batch === 1 ? ', or set batch_size: 1' : ''}`;
  return undefined;
}

/**
 * Check the spec against the model before any row is read. Collects every mismatch, each naming the
 * input or output, what the model expects and what the spec gives.
 */
export function checkSignature(spec: JobSpec, sig: ModelSignature): OutputColumn[] {
  const problems: string[] = [];
  const where = `${spec.specLabel}`;
  const modelInputs = new Map(sig.inputs.map((i) => [i.name, i]));
  for (const input of spec.inputs) {
    const m = modelInputs.get(input.name);
    if (!m) {
      problems.push(`${where}: inputs.${input.name}: the model has no input "${input.name}"; its inputs are ${sig.inputs.map((i) => `"${i.name}" ${formatShape(i.shape)}`).join(', ')}`);
      continue;
    }
    if (!(feedableInputTypes as readonly string[]).includes(m.type)) problems.push(`${where}: inputs.${input.name}: the model wants ${m.type}; batchinfer feeds ${feedableInputTypes.join(', ')} tensors: export the model with one of those input types`);
    const shapeProblem = inputShapeProblem(m.shape, input.columns, spec.batchSize);
    if (shapeProblem) problems.push(`${where}: inputs.${input.name}: ${shapeProblem}`);
  }
  for (const m of sig.inputs) {
    if (!spec.inputs.some((i) => i.name === m.name)) problems.push(`${where}: inputs: the model input "${m.name}" ${formatShape(m.shape)} is not fed; add inputs.${m.name}: [columns...]`);
  }
  const modelOutputs = new Map(sig.outputs.map((o) => [o.name, o]));
  const columns: OutputColumn[] = [];
  for (const o of spec.outputs) {
    const m = modelOutputs.get(o.output);
    const at = `${where}: outputs.${o.column}.output`;
    if (!m) {
      problems.push(`${at}: the model has no output "${o.output}"; its outputs are ${sig.outputs.map((x) => `"${x.name}" ${x.type} ${formatShape(x.shape)}`).join(', ')}`);
      continue;
    }
    if (!m.isTensor) {
      problems.push(`${at}: output "${o.output}" is not a tensor (e.g. scikit-learn's ZipMap); export the model with zipmap=False or pick a tensor output`);
      continue;
    }
    const sqlType = sqlTypes[m.type];
    if (!sqlType) {
      problems.push(`${at}: output "${o.output}" has element type ${m.type}, which batchinfer cannot store`);
      continue;
    }
    const last = m.shape.length >= 2 ? m.shape[m.shape.length - 1] : 1;
    const perRow = m.shape.length <= 1 ? 1 : typeof last === 'number' && last >= 0 ? m.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' && d >= 0 ? d : NaN), 1) : NaN;
    if (o.index === undefined) {
      if (perRow !== 1 && !Number.isNaN(perRow))
        problems.push(`${where}: outputs.${o.column}: output "${o.output}" has shape ${formatShape(m.shape)} (${perRow} values per row); add index: 0..${perRow - 1}`);
    } else if (typeof last === 'number' && last >= 0 && o.index >= last) {
      problems.push(`${where}: outputs.${o.column}.index: ${o.index} is out of range for output "${o.output}" ${formatShape(m.shape)}; use 0..${last - 1}`);
    }
    columns.push({ column: o.column, output: o.output, index: o.index, type: m.type, sqlType });
  }
  if (problems.length) throw new UsageError(problems.join('\n'));
  return columns;
}
