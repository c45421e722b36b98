import { Worker } from 'node:worker_threads';
import { revive, threadEntry, threadLimits } from '../execute/inline-executor.js';
import type { ChunkOutcome } from '../execute/process-chunk.js';
import type { FromThread, ThreadData, ToThread } from '../execute/thread-messages.js';

interface Task {
  runId: number;
  chunk: number;
  lastAttempt: boolean;
  onRows?: (rows: number) => void;
  resolve(o: ChunkOutcome): void;
  reject(e: Error): void;
}

/**
 * Scoring threads for a queue worker: each scores one chunk at a time, of any run. The BullMQ Worker
 * and its lock renewal stay on the main thread, which never runs session.run, so a chunk that scores
 * for minutes is never taken for stalled.
 */
export class ScoringPool {
  private readonly idle: { worker: Worker; current?: Task }[] = [];
  private readonly all: { worker: Worker; current?: Task; exited: Promise<void> }[] = [];
  private readonly waiting: Task[] = [];
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(opts: { threads: number; databaseUrl: string; root?: string; workerName: string; env?: Record<string, string | undefined> }) {
    for (let i = 0; i < opts.threads; i++) {
      const data: ThreadData = { databaseUrl: opts.databaseUrl, modelPath: '', root: opts.root, env: opts.env, workerName: `${opts.workerName} thread ${i + 1}` };
      const worker = new Worker(threadEntry(), { workerData: data, resourceLimits: threadLimits });
      const slot: { worker: Worker; current?: Task; exited: Promise<void> } = { worker, exited: new Promise((r) => worker.once('exit', () => r())) };
      worker.on('message', (m: FromThread) => {
        const t = slot.current;
        if (m.type === 'rows') t?.onRows?.(m.rows);
        else if (m.type === 'done' || m.type === 'failed') {
          slot.current = undefined;
          if (m.type === 'done') t?.resolve(m.outcome);
          else t?.reject(revive(m.error));
          this.release(slot);
        }
      });
      worker.on('error', (err) => {
        slot.current?.reject(err);
        slot.current = undefined;
      });
      this.all.push(slot);
      this.idle.push(slot);
    }
  }

  /** Score one chunk on a free thread (waiting for one if all are busy). */
  score(runId: number, chunk: number, lastAttempt: boolean, onRows?: (rows: number) => void): Promise<ChunkOutcome> {
    const p = new Promise<ChunkOutcome>((resolve, reject) => {
      if (this.closed) return reject(new Error('scoring pool closed'));
      const task: Task = { runId, chunk, lastAttempt, onRows, resolve, reject };
      const slot = this.idle.pop();
      if (slot) this.start(slot, task);
      else this.waiting.push(task);
    });
    const tracked = p.catch(() => undefined).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return p;
  }

  private start(slot: { worker: Worker; current?: Task }, task: Task): void {
    slot.current = task;
    slot.worker.postMessage({ type: 'chunk', chunk: task.chunk, runId: task.runId, lastAttempt: task.lastAttempt } satisfies ToThread);
  }

  private release(slot: { worker: Worker; current?: Task }): void {
    const next = this.waiting.shift();
    if (next) this.start(slot, next);
    else this.idle.push(slot);
  }

  /** Stop the threads once their chunks are done (idempotent). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.waiting.splice(0)) t.reject(new Error('scoring pool closed'));
    await Promise.all([...this.inFlight]); // a stop under a chunk in flight would close its connection
    for (const s of this.all) s.worker.postMessage({ type: 'stop' } satisfies ToThread);
    await Promise.all(this.all.map((s) => s.exited));
  }

  /** Stop at once: chunks in flight roll back (their transactions never commit). */
  async terminate(): Promise<void> {
    this.closed = true;
    await Promise.all(this.all.map((s) => s.worker.terminate()));
  }
}
