import { Worker } from 'node:worker_threads';
import { UsageError } from '../errors.js';
import { closeChunkContext, openChunkContext } from './chunk-context.js';
import { runChunk } from './run-chunk.js';
import type { ChunkOutcome } from './process-chunk.js';
import type { FromThread, SerializedError, ThreadData, ToThread } from './thread-messages.js';

export interface InlineOptions {
  databaseUrl: string;
  runId: number;
  chunks: number[];
  /** scoring threads; 0 runs chunks on the calling thread */
  threads: number;
  onRows?: (rows: number) => void;
  signal?: AbortSignal;
}

export interface ExecutionResult {
  outcomes: ChunkOutcome[];
  /** the first chunk failure; processing stopped taking new chunks after it */
  firstError?: Error;
}

/**
 * Runs a run's chunks in this process, no Redis needed: a pool of worker threads pulls chunks from
 * a shared list (session.run blocks its thread, so threads are what let parsing, inference and
 * writing use every core). After the first failure no new chunk starts; chunks in flight finish.
 */
export async function runInline(opts: InlineOptions): Promise<ExecutionResult> {
  return opts.threads <= 0 ? runOnThisThread(opts) : runOnThreads(opts);
}

async function runOnThisThread(opts: InlineOptions): Promise<ExecutionResult> {
  const ctx = await openChunkContext(opts.databaseUrl, opts.runId, `pid ${process.pid}`);
  const outcomes: ChunkOutcome[] = [];
  try {
    for (const chunk of opts.chunks) {
      if (opts.signal?.aborted) return { outcomes, firstError: new Error('stopped: interrupted') };
      try {
        outcomes.push(await runChunk(ctx, chunk, opts.onRows, opts.signal));
      } catch (err) {
        return { outcomes, firstError: err as Error };
      }
    }
    return { outcomes };
  } finally {
    await closeChunkContext(ctx);
  }
}

/** The compiled thread entry; under vitest (running .ts sources) the build in dist/ is used. */
function threadEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('../../dist/execute/chunk-thread.js', here) : new URL('./chunk-thread.js', here);
}

function revive(e: SerializedError): Error {
  const err = e.usage ? new UsageError(e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

async function runOnThreads(opts: InlineOptions): Promise<ExecutionResult> {
  const queue = [...opts.chunks];
  const outcomes: ChunkOutcome[] = [];
  let firstError: Error | undefined;
  const count = Math.min(opts.threads, queue.length);
  const stopTaking = () => firstError !== undefined || opts.signal?.aborted === true;
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<void>((resolve) => {
        const data: ThreadData = { databaseUrl: opts.databaseUrl, runId: opts.runId, workerName: `pid ${process.pid} thread ${i + 1}` };
        const worker = new Worker(threadEntry(), { workerData: data });
        const send = (m: ToThread) => worker.postMessage(m);
        const next = () => {
          const chunk = stopTaking() ? undefined : queue.shift();
          if (chunk === undefined) send({ type: 'stop' });
          else send({ type: 'chunk', chunk });
        };
        worker.on('message', (m: FromThread) => {
          if (m.type === 'rows') opts.onRows?.(m.rows);
          else if (m.type === 'ready') next();
          else if (m.type === 'done') {
            outcomes.push(m.outcome);
            next();
          } else {
            firstError ??= revive(m.error);
            if (m.chunk === null) return; // failed to start: it closes itself
            next();
          }
        });
        worker.on('error', (err) => {
          firstError ??= err;
        });
        worker.on('exit', () => resolve());
      }),
    ),
  );
  if (!firstError && opts.signal?.aborted) firstError = new Error('stopped: interrupted');
  return { outcomes, firstError };
}
