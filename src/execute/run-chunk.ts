import { classifyError, errorMessage } from '../errors.js';
import { markChunkFailed } from '../runs/ledger.js';
import type { ChunkContext } from './chunk-context.js';
import { processChunk, type ChunkOutcome } from './process-chunk.js';

/**
 * processChunk, recording a failure on the chunk (with its message) before passing it on. With
 * `lastAttempt: false` (a queue that will retry) a transient failure only records its error: the
 * chunk stays pending, so nobody finishes the run as failed while its retry waits.
 */
export async function runChunk(ctx: ChunkContext, chunk: number, onRows?: (rows: number) => void, signal?: AbortSignal, lastAttempt = true): Promise<ChunkOutcome> {
  try {
    return await processChunk(ctx, chunk, onRows, signal);
  } catch (err) {
    if (lastAttempt || classifyError(err) !== 'transient') await markChunkFailed(ctx.client, ctx.run.runId, chunk, errorMessage(err)).catch(() => undefined);
    else await ctx.client.query(`UPDATE batchinfer.chunks SET error = $3 WHERE run_id = $1 AND chunk = $2 AND status <> 'done'`, [ctx.run.runId, chunk, errorMessage(err)]).catch(() => undefined);
    throw err;
  }
}
