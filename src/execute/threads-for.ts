import fs from 'node:fs';
import { defaults } from '../defaults.js';
import type { JobSpec } from '../spec/job-spec.js';
import { renderTemplate, templateVars } from '../spec/template.js';

/**
 * Scoring threads for a run when the user did not choose: none (score on the main thread) for a CSV
 * of one chunk or less, where starting a pool (each thread loads the model and connects) costs more
 * than it saves: one chunk is scored by one thread either way. Otherwise `cores`.
 */
export function threadsFor(spec: JobSpec, logicalDate: string, cores: number): number {
  if (spec.source.kind !== 'csv') return cores;
  try {
    const file = renderTemplate(spec.source.path, templateVars(logicalDate), 'source.csv.path');
    const size = fs.statSync(file).size;
    if (size <= defaults.smallInputBytes) return 0;
    return estimatedRows(file, size) <= spec.chunkRows ? 0 : cores;
  } catch {
    return cores; // the run's own checks report a missing file
  }
}

/** A CSV's rows estimated from the lines in its first 64 KB (an overestimate when records span lines: more threads, never fewer). */
function estimatedRows(file: string, size: number): number {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(size, 1 << 16));
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    let lines = 0;
    for (let i = buf.indexOf(10); i >= 0 && i < n; i = buf.indexOf(10, i + 1)) lines++;
    return lines === 0 ? Number.POSITIVE_INFINITY : (size / n) * lines;
  } finally {
    fs.closeSync(fd);
  }
}
