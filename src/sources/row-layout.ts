import type { JobSpec } from '../spec/job-spec.js';

/**
 * Where each source column goes: a feature slot (input, position), the key, a passthrough slot, or
 * nowhere. Columns may serve several roles (a feature that is also passed through).
 */
export interface RowLayout {
  columnCount: number;
  names: string[];
  keyIndex: number;
  /** for each source column: list of [inputIndex, position] it feeds */
  featureSlots: Array<Array<[number, number]>>;
  /** for each source column: passthrough index or -1 */
  passthroughSlot: Int32Array;
  /** columns per model input */
  inputWidths: number[];
  passthroughCount: number;
}

/** Build the layout from a header; returns the spec paths of columns the header lacks. */
export function buildLayout(spec: JobSpec, header: string[]): { layout: RowLayout; missing: { path: string; column: string }[] } {
  const index = new Map<string, number>();
  header.forEach((h, i) => {
    if (!index.has(h)) index.set(h, i);
  });
  const missing: { path: string; column: string }[] = [];
  const find = (column: string, path: string) => {
    const i = index.get(column);
    if (i === undefined) missing.push({ path, column });
    return i ?? -1;
  };
  const featureSlots: Array<Array<[number, number]>> = header.map(() => []);
  const passthroughSlot = new Int32Array(header.length).fill(-1);
  const keyIndex = find(spec.key, 'key');
  spec.inputs.forEach((input, ii) =>
    input.columns.forEach((c, pos) => {
      const i = find(c, `inputs.${input.name}[${pos}]`);
      if (i >= 0) featureSlots[i].push([ii, pos]);
    }),
  );
  spec.passthrough.forEach((c, pi) => {
    const i = find(c, `passthrough[${pi}]`);
    if (i >= 0) passthroughSlot[i] = pi;
  });
  return {
    layout: { columnCount: header.length, names: header, keyIndex, featureSlots, passthroughSlot, inputWidths: spec.inputs.map((i) => i.columns.length), passthroughCount: spec.passthrough.length },
    missing,
  };
}
