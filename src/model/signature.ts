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
    if (m.type !== 'float32') problems.push(`${where}: inputs.${input.name}: the model wants ${m.type}; batchinfer feeds float32 tensors`);
    const last = m.shape.length === 2 ? m.shape[1] : m.shape.length === 1 ? 1 : undefined;
    if (last === undefined) problems.push(`${where}: inputs.${input.name}: model input shape ${formatShape(m.shape)} is not [N, features]`);
    else if (typeof last === 'number' && last >= 0 && last !== input.columns.length)
      problems.push(
        `${where}: inputs.${input.name}: the model expects ${formatShape(m.shape)} (${last} features per row) but the spec gives ${input.columns.length} columns (${input.columns.join(', ')}); list exactly ${last} columns`,
      );
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
