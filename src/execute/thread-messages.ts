import type { ChunkOutcome } from './process-chunk.js';

export interface ThreadData {
  databaseUrl: string;
  runId: number;
  workerName: string;
}

export interface SerializedError {
  message: string;
  usage: boolean;
  stack?: string;
}

export type ToThread = { type: 'chunk'; chunk: number } | { type: 'stop' };

export type FromThread =
  | { type: 'ready' }
  | { type: 'rows'; rows: number }
  | { type: 'done'; outcome: ChunkOutcome }
  | { type: 'failed'; chunk: number | null; error: SerializedError };
