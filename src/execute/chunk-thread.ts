/** Worker-thread entry of the inline executor: one scoring loop per core, each with its own connection and model session. */
import { parentPort, workerData } from 'node:worker_threads';
import { UsageError, errorMessage } from '../errors.js';
import { getSession } from '../model/session-cache.js';
import { closeChunkContext, openChunkContext, type ChunkContext } from './chunk-context.js';
import { runChunk } from './run-chunk.js';
import { trace, traceMemory } from '../trace.js';
import type { FromThread, ToThread, ThreadData } from './thread-messages.js';

const port = parentPort!;
const data = workerData as ThreadData;
const post = (m: FromThread) => port.postMessage(m);
const failure = (err: unknown) => ({ message: errorMessage(err), usage: err instanceof UsageError, stack: err instanceof Error ? err.stack : undefined });

// Load the model now, while the main thread plans the run; a failure surfaces when the run opens.
trace('thread: started');
getSession(data.modelPath).then(() => trace('thread: model loaded'), () => undefined);

let ctx: ChunkContext | undefined;

port.on('message', async (m: ToThread) => {
  if (m.type === 'stop') {
    if (ctx) await closeChunkContext(ctx).catch(() => undefined);
    port.close();
    return;
  }
  if (m.type === 'run') {
    try {
      ctx = await openChunkContext(data.databaseUrl, m.runId, data.workerName, { root: data.root, sourceUrl: data.sourceUrl });
      trace('thread: context open');
      post({ type: 'ready' });
    } catch (err) {
      post({ type: 'failed', chunk: null, error: failure(err) });
      port.close();
    }
    return;
  }
  trace(`chunk ${m.chunk}: start`);
  let pending = 0;
  let last = Date.now();
  try {
    const outcome = await runChunk(ctx!, m.chunk, (rows) => {
      pending += rows;
      if (Date.now() - last >= 200) {
        post({ type: 'rows', rows: pending });
        pending = 0;
        last = Date.now();
      }
    });
    if (pending) post({ type: 'rows', rows: pending });
    traceMemory(`chunk ${m.chunk}: done`);
    post({ type: 'done', outcome });
  } catch (err) {
    post({ type: 'failed', chunk: m.chunk, error: failure(err) });
  }
});
