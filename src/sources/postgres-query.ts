import { UsageError } from '../errors.js';
import { templateVariable } from '../spec/template.js';

/**
 * Template variables in a source query are bound, never spliced: each {{name}} becomes a read of a
 * transaction-local setting the reader sets with a parameter (set_config). COPY (query) takes no
 * parameters, which is why this route and not $1. {{ds}} is a date, {{ds_nodash}} text, the data
 * interval's bounds timestamptz.
 */
const varTypes: Record<string, string> = { ds: 'date', ds_nodash: 'text', data_interval_start: 'timestamptz', data_interval_end: 'timestamptz' };

export function bindTemplate(query: string, where: string): { sql: string; names: string[] } {
  const names = new Set<string>();
  const sql = query.replace(templateVariable, (_, name: string) => {
    const type = varTypes[name];
    if (!type) throw new UsageError(`${where}: unknown template variable {{${name}}}; known: ${Object.keys(varTypes).map((v) => `{{${v}}}`).join(', ')}`);
    names.add(name);
    return `current_setting('batchinfer.${name}')::${type}`;
  });
  return { sql, names: [...names] };
}

/** The statement that sets the bound variables for this transaction, and its parameters. */
export function settingsStatement(vars: Record<string, string>, extra: Record<string, string | null> = {}): { text: string; values: (string | null)[] } {
  const all = { ...vars, ...extra };
  const keys = Object.keys(all);
  return {
    text: `SELECT ${keys.map((k, i) => `set_config('batchinfer.${k}', coalesce($${i + 1}, ''), true)`).join(', ')}`,
    values: keys.map((k) => all[k]),
  };
}

export { quoteIdent as ident } from '../sql/identifiers.js';
