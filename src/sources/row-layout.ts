import type { JobSpec } from '../spec/job-spec.js';
import { typedText, type TypedText } from './typed-text.js';

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
  /** per passthrough column: the parser of its declared type (CSV map form), undefined for text */
  passthroughParsers: (TypedText | undefined)[];
}

/** A column the spec names that the header holds more than once: which one is meant is unknowable. */
export interface DuplicatedColumn {
  path: string;
  column: string;
  /** 1-based positions in the header */
  positions: number[];
}

/**
 * Build the layout from a header; returns the spec paths of columns the header lacks, and of those it
 * holds more than once (a repeated column the spec doesn't use is harmless).
 */
export function buildLayout(spec: JobSpec, header: string[]): { layout: RowLayout; missing: { path: string; column: string }[]; duplicated: DuplicatedColumn[] } {
  const index = new Map<string, number[]>();
  header.forEach((h, i) => {
    const at = index.get(h);
    if (at) at.push(i + 1);
    else index.set(h, [i + 1]);
  });
  const missing: { path: string; column: string }[] = [];
  const duplicated: DuplicatedColumn[] = [];
  const find = (column: string, path: string) => {
    const at = index.get(column);
    if (at === undefined) missing.push({ path, column });
    else if (at.length > 1 && !duplicated.some((d) => d.column === column)) duplicated.push({ path, column, positions: at });
    return at === undefined ? -1 : at[0] - 1;
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
    layout: { columnCount: header.length, names: header, keyIndex, featureSlots, passthroughSlot,
      inputWidths: spec.inputs.map((i) => i.columns.length),
      passthroughCount: spec.passthrough.length,
      passthroughParsers: spec.passthrough.map((_, p) => (spec.passthroughTypes ? typedText(spec.passthroughTypes[p]) : undefined)),
    },
    missing,
    duplicated,
  };
}
