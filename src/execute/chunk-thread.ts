/** Worker-thread entry of the inline executor: one scoring loop per core, each with its own connection and model session. */
import { parentPort, workerData } from 'node:worker_threads';
import type pg from 'pg';
import { UsageError, classifyError, errorMessage } from '../errors.js';
import { getSession } from '../model/session-cache.js';
import { connectPg } from '../db/connect.js';
import { closeChunkContext, openChunkContext, type ChunkContext } from './chunk-context.js';
import { runChunk } from './run-chunk.js';
import { trace, traceMemory } from '../trace.js';
import type { FromThread, SpareData, ToThread, ThreadData } from './thread-messages.js';

const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);
const failure = (err: unknown) => ({ message: errorMessage(err), usage: err instanceof UsageError, cls: classifyError(err), stack: err instanceof Error ? err.stack : undefined });

let data: ThreadData;
let early: Promise<pg.Client> | undefined;

/**
 * The thread's start: its model and connection, while the main thread plans the run. At load for a thread the
 * pool started; for the spare bin/batchinfer.js started ahead (bin/spare-thread.cjs), when a pool adopts it.
 */
export function begin(d: ThreadData): void {
  data = d;
  // Load the model now; a failure surfaces when the run opens.
  if (data.modelPath) getSession(data.modelPath).then(() => trace('thread: model loaded'), () => undefined);
  // An inline run's thread connects now too (a failure surfaces when the run's context opens).
  early = data.preconnect ? connectPg(data.databaseUrl, { purpose: data.workerName }) : undefined;
  early?.catch(() => undefined);
  port.on('message', (m: ToThread) => void onMessage(m));
}

trace('thread: started');
const start = workerData as ThreadData | SpareData;
if (!('spare' in start)) begin(start);

let ctx: ChunkContext | undefined;
/** Queue workers score chunks of many runs: a few contexts kept, the oldest closed. */
const contexts = new Map<number, ChunkContext>();
async function contextFor(runId: number): Promise<ChunkContext> {
  let c = contexts.get(runId);
  if (!c) {
    c = await openChunkContext(data.databaseUrl, runId, data.workerName, { root: data.root, sourceUrl: data.sourceUrl, env: data.env });
    contexts.set(runId, c);
    while (contexts.size > 2) {
      const [oldId, old] = contexts.entries().next().value as [number, ChunkContext];
      contexts.delete(oldId);
      await closeChunkContext(old).catch(() => undefined);
    }
  }
  return c;
}

async function onMessage(m: ToThread): Promise<void> {
  if (m.type === 'stop') {
    if (ctx) await closeChunkContext(ctx).catch(() => undefined);
    for (const c of contexts.values()) await closeChunkContext(c).catch(() => undefined);
    await early?.then((c) => c.end()).catch(() => undefined); // connected ahead, never used
    port.close();
    return;
  }
  if (m.type === 'run') {
    try {
      const client = early;
      early = undefined;
      ctx = await openChunkContext(data.databaseUrl, m.runId, data.workerName, { root: data.root, sourceUrl: data.sourceUrl, client });
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
    const c = m.runId !== undefined ? await contextFor(m.runId) : ctx!;
    const outcome = await runChunk(c, m.chunk, (rows) => {
      pending += rows;
      if (Date.now() - last >= 200) {
        post({ type: 'rows', rows: pending });
        pending = 0;
        last = Date.now();
      }
    }, undefined, m.lastAttempt ?? true);
    if (pending) post({ type: 'rows', rows: pending });
    traceMemory(`chunk ${m.chunk}: done`);
    post({ type: 'done', outcome });
  } catch (err) {
    // A context whose connection may be broken (a transient failure) is not reused: the retry opens a fresh one.
    if (m.runId !== undefined && classifyError(err) === 'transient') {
      const c = contexts.get(m.runId);
      contexts.delete(m.runId);
      if (c) await closeChunkContext(c).catch(() => undefined);
    }
    post({ type: 'failed', chunk: m.chunk, error: failure(err) });
  }
}
