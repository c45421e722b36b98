import fs from 'node:fs';
import path from 'node:path';
import { UsageError, errorMessage } from '../errors.js';
import { CronSchedule } from '../schedule/cron-schedule.js';
import { loadSpec } from '../spec/load-spec.js';
import type { ScheduleSpec, JobSpec } from '../spec/job-spec.js';
import type { ScheduledJob, SpecProblem } from './scheduler.js';

export interface LoadedJobs {
  jobs: ScheduledJob[];
  /** specs that do not load: reported, skipped */
  problems: SpecProblem[];
  /** specs without a schedule: not the scheduler's (a note, not an error) */
  unscheduled: { file: string; job: string }[];
}

/** The job specs (*.yaml, *.yml) in a folder, each loaded on its own: one bad spec does not stop the others. */
export function loadJobs(dir: string, cwd: string): LoadedJobs {
  const abs = path.resolve(cwd, dir);
  let names: string[];
  try {
    names = fs.readdirSync(abs).filter((f) => /\.ya?ml$/i.test(f)).sort();
  } catch (err) {
    throw new UsageError(`--jobs ${dir}: cannot read the folder (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); pass the folder holding the job specs (default jobs/)`);
  }
  const out: LoadedJobs = { jobs: [], problems: [], unscheduled: [] };
  const byName = new Map<string, string>();
  for (const name of names) {
    const file = path.join(abs, name);
    const label = path.relative(cwd, file) || file;
    let spec: JobSpec;
    try {
      spec = loadSpec(file, cwd);
    } catch (err) {
      out.problems.push({ path: file, file: label, message: errorMessage(err) });
      continue;
    }
    if (!spec.schedule) {
      out.unscheduled.push({ file: label, job: spec.name });
      continue;
    }
    const other = byName.get(spec.name);
    if (other) {
      out.problems.push({ path: file, file: label, message: `${label}: name: job "${spec.name}" is also ${other}'s; each job needs its own name (set name: in one of them)` });
      continue;
    }
    byName.set(spec.name, label);
    out.jobs.push({ spec: spec as JobSpec & { schedule: ScheduleSpec }, cron: CronSchedule.of(spec.schedule.cron, spec.schedule.timezone) });
  }
  return out;
}
