import path from 'node:path';
import { PostgresSource } from './postgres-source.js';
import { defaults } from '../defaults.js';
import type { JobSpec } from '../spec/job-spec.js';
import { renderTemplate, templateVars, type DataInterval } from '../spec/template.js';
import { CsvSource } from './csv-source.js';
import type { Source } from './source.js';

/** The source adapter a spec names, with the run's template variables applied. */
/** `interval`: the run's data interval ({{data_interval_start}}/{{data_interval_end}}); default: the logical date's day in UTC. */
export function openSource(spec: JobSpec, logicalDate: string, opts: { databaseUrl: string; interval?: DataInterval }): Source {
  const vars = templateVars(logicalDate, opts.interval);
  if (spec.source.kind === 'csv') {
    const file = renderTemplate(spec.source.path, vars, `${spec.specLabel}: source.csv.path`);
    return new CsvSource(spec, { file, label: path.relative(process.cwd(), file) || file, readBytes: defaults.csvReadBytes });
  }
  return new PostgresSource(spec, { url: spec.source.url ?? opts.databaseUrl, logicalDate, interval: opts.interval });
}
