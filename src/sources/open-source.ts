import path from 'node:path';
import { PostgresSource } from './postgres-source.js';
import { defaults } from '../defaults.js';
import type { JobSpec } from '../spec/job-spec.js';
import { renderTemplate, templateVars } from '../spec/template.js';
import { CsvSource } from './csv-source.js';
import type { Source } from './source.js';

/** The source adapter a spec names, with the run's template variables applied. */
export function openSource(spec: JobSpec, logicalDate: string, opts: { databaseUrl: string }): Source {
  const vars = templateVars(logicalDate);
  if (spec.source.kind === 'csv') {
    const file = renderTemplate(spec.source.path, vars, `${spec.specLabel}: source.csv.path`);
    return new CsvSource(spec, { file, label: path.relative(process.cwd(), file) || file, readBytes: defaults.csvReadBytes });
  }
  return new PostgresSource(spec, { url: spec.source.url ?? opts.databaseUrl, logicalDate });
}
