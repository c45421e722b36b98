import type { ErrorClass } from '../errors.js';
import type { ChunkOutcome } from './process-chunk.js';

export interface ThreadData {
  databaseUrl: string;
  /** loaded at thread start, while the run is still being planned */
  modelPath: string;
  workerName: string;
  /** the project root the ledger's relative paths resolve against (default: see openChunkContext) */
  root?: string;
  /** the real source URL (the ledger holds it masked) */
  sourceUrl?: string;
  /** fills `${NAME}` in a stored source URL (queue workers) */
  env?: Record<string, string | undefined>;
  /** open the thread's connection at start, beside the model (an inline run's threads: a run comes at once) */
  preconnect?: boolean;
}

export interface SerializedError {
  message: string;
  usage: boolean;
  /** classifyError() of the original */
  cls: ErrorClass;
  stack?: string;
}

/** The spare thread's workerData (bin/spare-thread.cjs): it loads the scoring bundle when a pool adopts it. */
export interface SpareData {
  spare: true;
}

/** What the spare thread takes first (bin/spare-thread.cjs): its ThreadData, or a stop (not needed). */
export type ToSpare = { type: 'adopt'; data: ThreadData } | { type: 'stop' };

export type ToThread =
  | { type: 'run'; runId: number }
  /** runId: a chunk of another run than the last 'run' (queue workers); lastAttempt: a transient failure is recorded as failed only then */
  | { type: 'chunk'; chunk: number; runId?: number; lastAttempt?: boolean }
  | { type: 'stop' };

export type FromThread =
  | { type: 'ready' }
  | { type: 'rows'; rows: number }
  | { type: 'done'; outcome: ChunkOutcome }
  | { type: 'failed'; chunk: number | null; error: SerializedError };
