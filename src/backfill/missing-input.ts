import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../spec/job-spec.js';
import { renderTemplate, templateVars } from '../spec/template.js';

/**
 * A dated CSV input (a path with {{ds}}) that is not there for `logicalDate`: its path relative to `cwd`,
 * for a dry run to say the date would end "input not ready". undefined when the input is there or undated.
 */
export function missingDatedInput(spec: JobSpec, logicalDate: string, cwd: string): string | undefined {
  if (spec.source.kind !== 'csv' || !/\{\{\s*ds(_nodash)?\s*\}\}/.test(spec.source.path)) return undefined;
  const file = renderTemplate(spec.source.path, templateVars(logicalDate), `${spec.specLabel}: source.csv.path`);
  return fs.existsSync(file) ? undefined : path.relative(cwd, file) || file;
}
