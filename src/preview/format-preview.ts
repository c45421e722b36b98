import type { Preview, PreviewValue } from './preview-rows.js';

/** Values shown per input in the table; a wider input ends in "…". */
const shownInputValues = 4;

/** A number as a person reads it in a table: 6 significant digits (float32 scores carry ~7). */
function show(v: PreviewValue): string {
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/**
 * The preview as a table: key, each input's first values, every result column; then one line of
 * rejects among those rows. `table` aligns the cells (cli/table.ts formatTable).
 */
export function formatPreview(p: Preview, key: string, table: (header: string[], rows: string[][], right: number[]) => string): string {
  const inputs = p.rows.length ? Object.keys(p.rows[0].inputs) : [];
  const outputs = p.rows.length ? Object.keys(p.rows[0].outputs) : [];
  const header = [key, ...inputs, ...outputs];
  const cells = p.rows.map((r) => [
    String(r.key),
    ...inputs.map((i) => {
      const vs = r.inputs[i];
      return vs.slice(0, shownInputValues).map(show).join(', ') + (vs.length > shownInputValues ? ', …' : '');
    }),
    ...outputs.map((o) => show(r.outputs[o])),
  ]);
  const numeric = outputs.map((o, j) => (p.rows.every((r) => typeof r.outputs[o] === 'number') ? 1 + inputs.length + j : -1)).filter((i) => i >= 0);
  const lines = p.rows.length ? [table(header, cells, numeric)] : ['(no scored rows)'];
  lines.push(
    p.rejects.length === 0
      ? 'rejects: none'
      : `rejects: ${p.rejects.length}: ${p.rejects.map((r) => `${r.line !== null ? `line ${r.line}` : `key ${r.key ?? '?'}`}${r.line !== null && r.key !== null ? ` (key ${r.key})` : ''}: ${r.reason}`).join('; ')}`,
  );
  return lines.join('\n');
}
