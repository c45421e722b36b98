import type { ScheduleSpec } from '../spec/job-spec.js';

/** An active run of the job that a new tick would overlap. */
export interface ActiveRun {
  runId: number;
  status: 'queued' | 'running';
}

export type OverlapDecision = { create: true; alongside?: number } | { create: false; blockedBy: number; why: string };

/**
 * A live tick while the job's previous run is still queued or running: `skip` creates nothing (the
 * tick is logged and counted), `queue` creates the run anyway. Catch-up ticks are the backlog of an
 * outage and always get their runs.
 */
export function decideOverlap(policy: ScheduleSpec['overlap'], active: ActiveRun[], catchUp: boolean): OverlapDecision {
  const blocking = active[0];
  if (!blocking) return { create: true };
  if (catchUp || policy === 'queue') return { create: true, alongside: blocking.runId };
  return { create: false, blockedBy: blocking.runId, why: `run ${blocking.runId} of the previous tick is still ${blocking.status} (overlap: skip)` };
}
