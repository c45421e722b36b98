import fs from 'node:fs';
import { defaults } from '../defaults.js';
import type { JobSpec } from '../spec/job-spec.js';
import { renderTemplate, templateVars } from '../spec/template.js';

/**
 * Scoring threads for a run when the user did not choose: none (score on the main thread) for a CSV
 * small enough to be a chunk or so, where starting a pool (each thread loads the model and connects)
 * costs more than it saves; otherwise `cores`.
 */
export function threadsFor(spec: JobSpec, logicalDate: string, cores: number): number {
  if (spec.source.kind !== 'csv') return cores;
  try {
    const file = renderTemplate(spec.source.path, templateVars(logicalDate), 'source.csv.path');
    return fs.statSync(file).size <= defaults.smallInputBytes ? 0 : cores;
  } catch {
    return cores; // the run's own checks report a missing file
  }
}
