/** BATCHINFER_TRACE=1: timestamped phase lines on stderr (epoch ms, last 6 digits), for finding where a run's wall time goes. */
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

/**
 * The CLI sets the flag from its settings (setTrace). Worker threads have no CLI: they start from the
 * environment they inherit, the one read of process.env below src/cli/ (the executor's thread data is not
 * this module's to extend, and a thread must trace from its first line).
 */
let on = process.env.BATCHINFER_TRACE === '1';

/**
 * BATCHINFER_SORT_KEYS=0 (an A/B switch for measurements, like the trace; checked in src/cli/settings.ts):
 * a chunk's random text keys go to the COPY in input order instead of sorted.
 */
export const sortTextKeys = process.env.BATCHINFER_SORT_KEYS !== '0';

/** Turn trace lines on or off for this thread (the CLI: from BATCHINFER_TRACE, see src/cli/settings.ts). */
export function setTrace(enabled: boolean): void {
  on = enabled;
}

export function trace(what: string): void {
  if (on) process.stderr.write(`trace ${((performance.timeOrigin + performance.now()) % 1e6).toFixed(1).padStart(9)} t${threadId} ${what}\n`);
}

/** A trace line with this thread's heap and the process's RSS (MB). */
export function traceMemory(what: string): void {
  if (!on) return;
  const mb = (n: number) => (n / 1048576).toFixed(1);
  const m = process.memoryUsage();
  trace(`${what} (heap ${mb(m.heapUsed)}/${mb(m.heapTotal)}, buffers ${mb(m.arrayBuffers)}, rss ${mb(m.rss)}, peak ${(process.resourceUsage().maxRSS / 1024).toFixed(1)})`);
}
