import { FinalError, UsageError, classifyError, errorMessage, sqlState } from '../errors.js';
import { templateVariable } from '../spec/template.js';

/**
 * Template variables in a source query are bound, never spliced: each {{name}} becomes a read of a
 * transaction-local setting the reader sets with a parameter (set_config). COPY (query) takes no
 * parameters, which is why this route and not $1. {{ds}} is a date, {{ds_nodash}} text, the data
 * interval's bounds timestamptz.
 */
const varTypes: Record<string, string> = { ds: 'date', ds_nodash: 'text', data_interval_start: 'timestamptz', data_interval_end: 'timestamptz' };

export function bindTemplate(query: string, where: string): { sql: string; names: string[] } {
  // The Airflow habit '{{ ds }}' would put the bound expression inside a string literal.
  const quoted = /(['"])\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*\1/.exec(query);
  if (quoted)
    throw new UsageError(`${where}: ${quoted[0]} is quoted; template variables are bound as typed parameters, never pasted into the text: write {{${quoted[2]}}} without quotes (e.g. WHERE day = {{${quoted[2]}}})`);
  const names = new Set<string>();
  const sql = query.replace(templateVariable, (_, name: string) => {
    const type = varTypes[name];
    if (!type) throw new UsageError(`${where}: unknown template variable {{${name}}}; known: ${Object.keys(varTypes).map((v) => `{{${v}}}`).join(', ')}`);
    names.add(name);
    return `current_setting('batchinfer.${name}')::${type}`;
  });
  return { sql, names: [...names] };
}

/**
 * The statement that sets the bound variables for this transaction, and its parameters; also the
 * transaction's application_name when given (pg_stat_activity then shows what the connection is doing).
 */
export function settingsStatement(vars: Record<string, string>, extra: Record<string, string | null> = {}, applicationName?: string): { text: string; values: (string | null)[] } {
  const all = { ...vars, ...extra };
  const keys = Object.keys(all);
  const sets = keys.map((k, i) => `set_config('batchinfer.${k}', coalesce($${i + 1}, ''), true)`);
  const values = keys.map((k) => all[k]);
  if (applicationName !== undefined) {
    sets.push(`set_config('application_name', $${keys.length + 1}, true)`);
    values.push(applicationName);
  }
  return { text: `SELECT ${sets.join(', ')}`, values };
}

export { quoteIdent as ident } from '../sql/identifiers.js';

/**
 * The user's query as the body of a subquery: trailing semicolons dropped (a habit, not a second
 * statement), and on lines of its own, so a trailing `--` comment cannot swallow the wrapper's
 * closing parenthesis. Every statement built around the query puts it between `(` and `)` this way,
 * which is what makes the one-statement check of the probe hold for them all (see PostgresSource.describe).
 */
export function subqueryBody(sql: string): string {
  return `\n${sql.replace(/[\s;]+$/, '')}\n`;
}

/** SQLSTATEs that say the query itself is wrong (beyond classifyError's 'final' ones): retrying can't fix them. */
const queryFaults = /^(0A|21|2F|38|39|44|54|P0)|^25006$/;

/** True when a failure of the source's query is the query's own fault (bad SQL, bad data in it, writes), whichever chunk hit it. */
export function isQueryFault(state: string): boolean {
  return classifyError({ code: state }) === 'final' || queryFaults.test(state);
}

/** Parse errors that mean the text holds more than one statement (a `;` ends the first one early). */
export function isMultiStatement(err: unknown): boolean {
  if (sqlState(err) !== '42601') return false;
  const m = errorMessage(err);
  return /cannot insert multiple commands into a prepared statement/.test(m) || /at or near ";"/.test(m);
}

/** A server message on one line (some carry a newline of the statement they quote). */
export const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * A snapshot id as a literal for SET TRANSACTION SNAPSHOT, which takes no parameter. Ids come from
 * pg_export_snapshot() ("00000003-0000001B-1"; "00000003-1" before PostgreSQL 12), by way of the ledger.
 */
export function snapshotLiteral(id: string): string {
  if (!/^[0-9A-F]{1,8}(-[0-9A-F]{1,8})?-[0-9]{1,10}$/i.test(id)) throw new FinalError(`not a snapshot id: ${JSON.stringify(id.slice(0, 40))}`);
  return `'${id}'`;
}

/**
 * Where the first `;` outside strings, quoted names and comments is in `sql`, or -1. Only to explain
 * a query the server already refused (the server's parser decides what runs; a lexer here that
 * disagreed with it could only make a message less precise). Knows '' and E'' strings, "names",
 * $tag$ strings, -- and nested block comments.
 */
export function findSemicolon(sql: string): number {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i];
    if (c === ';') return i;
    if (c === '-' && sql[i + 1] === '-') {
      const eol = sql.indexOf('\n', i);
      if (eol < 0) return -1;
      i = eol + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (!tag) i++;
      else {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end < 0) return -1;
        i = end + tag[0].length;
      }
    } else i++;
  }
  return -1;
}
