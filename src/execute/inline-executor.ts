import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import { connectPg } from '../db/connect.js';
import { FinalError, UsageError } from '../errors.js';
import { closeChunkContext, openChunkContext } from './chunk-context.js';
import { runChunk } from './run-chunk.js';
import type { ChunkFeed } from './chunk-feed.js';
import type { ChunkOutcome } from './process-chunk.js';
import type { FromThread, SerializedError, ThreadData, ToSpare, ToThread } from './thread-messages.js';
import { takeSpareThread } from './spare-thread.js';

export interface ExecutionResult {
  outcomes: ChunkOutcome[];
  /** the first chunk failure; processing stopped taking new chunks after it */
  firstError?: Error;
}

export interface InlineRun {
  runId: number;
  chunks: ChunkFeed;
  onRows?: (rows: number) => void;
  signal?: AbortSignal;
  /** called once, at the first failure (the caller stops planning, so idle threads are released) */
  onFirstError?: (err: Error) => void;
}

/**
 * Runs a run's chunks in this process, no Redis needed. With threads, a pool of worker threads pulls
 * chunks from a shared list (session.run blocks its thread, so threads are what let parsing, inference
 * and writing use every core). After the first failure no new chunk starts; chunks in flight finish.
 */
export interface InlineExecutor {
  run(run: InlineRun): Promise<ExecutionResult>;
  /** Stop the threads and wait for them to end (idempotent): run() returns once their last chunk is in, before they have closed. */
  close(): Promise<void>;
}

/**
 * Threads start at once and load the model while the caller plans the run, so planning and thread
 * start-up overlap. threads = 0 scores on the calling thread.
 */
export interface InlineExecutorOptions {
  databaseUrl: string;
  threads: number;
  modelPath: string;
  /** the project root the ledger's relative paths resolve against */
  root: string;
  /** the real source URL (the ledger holds it masked) */
  sourceUrl?: string;
}

export function startInlineExecutor(opts: InlineExecutorOptions): InlineExecutor {
  return opts.threads <= 0 ? thisThread(opts) : threadPool(opts);
}

function thisThread(opts: InlineExecutorOptions): InlineExecutor {
  const workerName = `pid ${process.pid}`;
  // No pool: the spare thread bin/batchinfer.js started ahead ends now (spare-thread.ts).
  takeSpareThread()?.worker.postMessage({ type: 'stop' } satisfies ToSpare);
  // Connected now, while the caller checks and plans the run (a small run's start-up); a failure surfaces in run().
  let early: Promise<pg.Client> | undefined = connectPg(opts.databaseUrl, { purpose: workerName });
  early.catch(() => undefined);
  return {
    async run(run) {
      const client = early;
      early = undefined;
      const ctx = await openChunkContext(opts.databaseUrl, run.runId, workerName, { root: opts.root, sourceUrl: opts.sourceUrl, client });
      const outcomes: ChunkOutcome[] = [];
      try {
        for (;;) {
          if (run.signal?.aborted) return { outcomes, firstError: new Error('stopped: interrupted') };
          try {
            const chunk = await run.chunks.next();
            if (chunk === undefined) return { outcomes };
            // Not run.signal: a stop lets the chunk in flight commit (a second signal exits the process).
            outcomes.push(await runChunk(ctx, chunk, run.onRows));
          } catch (err) {
            return { outcomes, firstError: err as Error };
          }
        }
      } finally {
        await closeChunkContext(ctx);
      }
    },
    async close() {
      const client = early; // connected ahead, never used
      early = undefined;
      await client?.then((c) => c.end()).catch(() => undefined);
    },
  };
}

/** The compiled thread entry beside this module (in the bundle, dist/bundle/); under vitest (running .ts sources) the bundle's. */
export function threadEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('../../dist/bundle/chunk-thread.js', here) : new URL('./chunk-thread.js', here);
}

/** A scoring thread's V8 limits: bin/spare-thread.cjs starts its spare with the same. */
export const threadLimits = { maxYoungGenerationSizeMb: 8 };

/** A thread's error as the class it had there (so it is retried, or not, for what it is). */
export function revive(e: SerializedError): Error {
  const err = e.usage ? new UsageError(e.message) : e.cls === 'final' ? new FinalError(e.message) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

function threadPool(opts: InlineExecutorOptions): InlineExecutor {
  let startError: Error | undefined;
  // The first thread is the spare bin/batchinfer.js started ahead, when there is one (spare-thread.ts).
  const spare = takeSpareThread();
  const workers = Array.from({ length: opts.threads }, (_, i) => {
    const data: ThreadData = { databaseUrl: opts.databaseUrl, modelPath: opts.modelPath, root: opts.root, sourceUrl: opts.sourceUrl, workerName: `pid ${process.pid} thread ${i + 1}`, preconnect: true };
    if (i === 0 && spare) {
      spare.worker.ref(); // bin started it unref'd
      spare.worker.on('error', (err) => (startError ??= err));
      spare.worker.postMessage({ type: 'adopt', data } satisfies ToSpare);
      return spare;
    }
    const worker = new Worker(threadEntry(), { workerData: data, resourceLimits: threadLimits });
    worker.on('error', (err) => (startError ??= err));
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    return { worker, exited };
  });
  const closeAll = async () => {
    for (const w of workers) w.worker.postMessage({ type: 'stop' } satisfies ToThread);
    await Promise.all(workers.map((w) => w.exited));
  };
  return {
    close: closeAll,
    async run(run) {
      const outcomes: ChunkOutcome[] = [];
      let firstError: Error | undefined;
      const fail = (err: Error) => {
        if (firstError) return;
        firstError = err;
        run.onFirstError?.(err);
      };
      if (startError) fail(startError);
      const stopTaking = () => firstError !== undefined || run.signal?.aborted === true;
      await Promise.all(
        workers.map(
          ({ worker, exited }) =>
            new Promise<void>((resolve) => {
              const send = (m: ToThread) => worker.postMessage(m);
              const next = async () => {
                let chunk: number | undefined;
                try {
                  if (!stopTaking()) chunk = await run.chunks.next();
                } catch (err) {
                  fail(err as Error); // planning failed or was stopped
                }
                if (chunk !== undefined && !stopTaking()) return send({ type: 'chunk', chunk });
                // Its last chunk is in: the run goes on to finish while the thread closes (close() waits for its exit).
                send({ type: 'stop' });
                resolve();
              };
              worker.on('message', (m: FromThread) => {
                if (m.type === 'rows') run.onRows?.(m.rows);
                else if (m.type === 'ready') void next();
                else if (m.type === 'done') {
                  outcomes.push(m.outcome);
                  void next();
                } else {
                  fail(revive(m.error));
                  if (m.chunk !== null) void next(); // a thread that failed to start closes itself
                }
              });
              worker.on('error', (err) => fail(err));
              if (firstError) send({ type: 'stop' });
              void exited.then(resolve); // a thread that fails or ends early
              send({ type: 'run', runId: run.runId });
            }),
        ),
      );
      if (!firstError && run.signal?.aborted) firstError = new Error('stopped: interrupted');
      return { outcomes, firstError };
    },
  };
}
