import pg from 'pg';
import type { InferenceSession } from 'onnxruntime-node';
import { loadRun, type RunRecord } from '../runs/ledger.js';
import { getSession } from '../model/session-cache.js';
import { checkSignature, readSignature, type OutputColumn } from '../model/signature.js';
import { openSource } from '../sources/open-source.js';
import type { Source } from '../sources/source.js';

/** Everything a worker needs to process any chunk of one run: built from the ledger, so any process can do it. */
export interface ChunkContext {
  run: RunRecord;
  client: pg.Client;
  source: Source;
  session: InferenceSession;
  outputs: OutputColumn[];
  /** names this worker in batchinfer.chunks.worker */
  workerName: string;
}

export async function openChunkContext(databaseUrl: string, runId: number, workerName: string): Promise<ChunkContext> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: `batchinfer ${workerName}` });
  await client.connect();
  try {
    const run = await loadRun(client, runId);
    const session = await getSession(run.modelPath);
    const outputs = checkSignature(run.spec, readSignature(session));
    const source = openSource(run.spec, run.logicalDate, { databaseUrl });
    return { run, client, source, session, outputs, workerName };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

/** Release in reverse order; the session stays cached for the thread's life. */
export async function closeChunkContext(ctx: ChunkContext): Promise<void> {
  try {
    await ctx.source.close();
  } finally {
    await ctx.client.end();
  }
}
