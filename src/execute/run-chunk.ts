import { errorMessage } from '../errors.js';
import { markChunkFailed } from '../runs/ledger.js';
import type { ChunkContext } from './chunk-context.js';
import { processChunk, type ChunkOutcome } from './process-chunk.js';

/** processChunk, recording a failure on the chunk (with its message) before passing it on. */
export async function runChunk(ctx: ChunkContext, chunk: number, onRows?: (rows: number) => void, signal?: AbortSignal): Promise<ChunkOutcome> {
  try {
    return await processChunk(ctx, chunk, onRows, signal);
  } catch (err) {
    await markChunkFailed(ctx.client, ctx.run.runId, chunk, errorMessage(err)).catch(() => undefined);
    throw err;
  }
}
