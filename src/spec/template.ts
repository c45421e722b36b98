import { UsageError } from '../errors.js';

/** The span of time a run's data covers, as ISO 8601 instants in UTC (2026-11-01T01:00:00Z). */
export interface DataInterval {
  start: string;
  end: string;
}

/**
 * Template variables of a run: {{ds}} is the logical date (YYYY-MM-DD), {{ds_nodash}} the same without
 * dashes, {{data_interval_start}} / {{data_interval_end}} the span its data covers (a scheduled run:
 * the previous tick and its own tick). Without an interval: the logical date's day in UTC.
 */
export function templateVars(logicalDate: string, interval?: DataInterval): Record<string, string> {
  const iv = interval ?? utcDayInterval(logicalDate);
  return { ds: logicalDate, ds_nodash: logicalDate.replaceAll('-', ''), data_interval_start: iv.start, data_interval_end: iv.end };
}

/** An instant (epoch ms) as the interval's text form: ISO 8601 in UTC, to the second. */
export const intervalInstant = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A date's whole day in UTC: [D 00:00Z, D+1 00:00Z). */
export function utcDayInterval(logicalDate: string): DataInterval {
  const start = Date.parse(`${logicalDate}T00:00:00Z`);
  return { start: intervalInstant(start), end: intervalInstant(start + 86_400_000) };
}

/** A {{name}} in a path or query (global: use with replace, which starts over every call). */
export const templateVariable = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Replace {{name}} in text; an unknown variable is a spec error naming it. */
export function renderTemplate(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(templateVariable, (_, name: string) => {
    if (!(name in vars)) throw new UsageError(`${where}: unknown template variable {{${name}}}; known: ${Object.keys(vars).map((v) => `{{${v}}}`).join(', ')}`);
    return vars[name];
  });
}

/** Parse and check a YYYY-MM-DD logical date. */
export function parseLogicalDate(text: string): string {
  // `--date "$DS"` with DS unset must not quietly score today
  if (text === '') throw new UsageError('--date: empty; use YYYY-MM-DD');
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : undefined;
  if (!m || !d || d.toISOString().slice(0, 10) !== text) throw new UsageError(`--date ${text}: not a valid date; use YYYY-MM-DD, e.g. 2026-11-01`);
  return text;
}

export function todayUtc(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}
