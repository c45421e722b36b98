import type { Worker } from 'node:worker_threads';

/**
 * A scoring thread started by bin/batchinfer.js at the very start of `run` and `backfill` (bin/spare-thread.cjs),
 * before the CLI itself has loaded: by the time the run knows it wants a pool, that thread has started, loaded
 * onnxruntime and the scoring bundle, and waits (chunk-thread.ts, spare mode). The run's pool takes it as its
 * first thread (a worker thread's own start is ~0.1 s here); a run on the main thread leaves it, and bin stops
 * it before the process exits.
 */
export interface SpareThread {
  worker: Worker;
  exited: Promise<void>;
}

let spare: SpareThread | undefined;

/** bin/batchinfer.js hands its spare thread over here once the CLI has loaded. */
export function offerSpareThread(worker: Worker, exited: Promise<void>): void {
  const offered = { worker, exited };
  spare = offered;
  // A thread that ended (it could not load) is not offered any more.
  void exited.then(() => {
    if (spare === offered) spare = undefined;
  });
}

/** The spare thread, once: the caller sends it { type: 'adopt' } with its ThreadData, or { type: 'stop' }. */
export function takeSpareThread(): SpareThread | undefined {
  const s = spare;
  spare = undefined;
  return s;
}
