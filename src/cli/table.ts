/** Human output of the ledger commands: aligned columns, numbers as the run command's progress shows them. */

/** 1234567 -> "1,234,567" */
export const formatCount = (n: number) => n.toLocaleString('en-US');

/** Seconds as "0.4s", "12s", "3m 04s", "2h 05m". */
export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (s < 10) return `${Math.round(s * 10) / 10}s`;
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  const m = Math.floor(t / 60);
  if (m < 60) return `${m}m ${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Rows under a header, columns padded to the widest cell; columns listed in `right` are right-aligned
 * (numbers). Trailing spaces are trimmed.
 */
export function formatTable(header: string[], rows: string[][], right: number[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
