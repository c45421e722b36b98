import fs from 'node:fs';
import type pg from 'pg';
import type { InferenceSession } from 'onnxruntime-node';
import { connectPg } from '../db/connect.js';
import { FinalError } from '../errors.js';
import { loadRun, type RunRecord } from '../runs/ledger.js';
import { loadModel } from '../model/session-cache.js';
import { checkSignature, readSignature, type OutputColumn } from '../model/signature.js';
import { openSource } from '../sources/open-source.js';
import type { Source } from '../sources/source.js';
import { isMasked, localSpec } from '../spec/portable.js';
import { resultColumns, sinkColumns } from '../sink/result-table.js';
import { trace } from '../trace.js';

/** Everything a worker needs to process any chunk of one run: built from the ledger, so any process can do it. */
export interface ChunkContext {
  run: RunRecord;
  client: pg.Client;
  source: Source;
  session: InferenceSession;
  outputs: OutputColumn[];
  /** names this worker in batchinfer.chunks.worker */
  workerName: string;
  /** the result table fills scored_at itself (its default): the COPY leaves it out */
  scoredAtByServer: boolean;
}

export interface ContextOptions {
  /** this machine's project root, which the ledger's relative paths resolve against; default: the run's recorded root when it exists here, else the working directory */
  root?: string;
  /** the source database URL when the caller knows it (the ledger holds it with the password masked) */
  sourceUrl?: string;
  /** fills a source URL the ledger keeps as `${NAME}` */
  env?: Record<string, string | undefined>;
  /** a connection opened ahead (while the model loaded and the run was planned); closed with the context, or on failure */
  client?: Promise<pg.Client>;
}

export async function openChunkContext(databaseUrl: string, runId: number, workerName: string, opts: ContextOptions = {}): Promise<ChunkContext> {
  const client = await (opts.client ?? connectPg(databaseUrl, { purpose: workerName }));
  try {
    const stored = await loadRun(client, runId);
    const root = opts.root ?? (stored.projectRoot && fs.existsSync(stored.projectRoot) ? stored.projectRoot : process.cwd());
    const spec = localSpec(stored.spec, root, opts.env);
    if (spec.source.kind === 'postgres' && opts.sourceUrl !== undefined) spec.source = { ...spec.source, url: opts.sourceUrl };
    if (spec.source.kind === 'postgres' && isMasked(spec.source.url))
      throw new FinalError(`run ${runId}: the ledger holds source.postgres.url with its password masked, and this worker was not given it; write the URL in the spec as \${SOME_ENV_VAR} and set that variable on every worker`);
    const unset = spec.source.kind === 'postgres' ? /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(spec.source.url ?? '') : null;
    if (unset) throw new FinalError(`run ${runId}: source.postgres.url takes \${${unset[1]}} from the environment, and it is not set on this worker (${workerName}); set it on every worker`);
    const run: RunRecord = { ...stored, spec, modelPath: spec.model.path };
    // The session must be made from the very bytes the run was planned with.
    const { session } = await loadModel(run.modelPath, run.modelSha256);
    const outputs = checkSignature(run.spec, readSignature(session));
    const source = openSource(run.spec, run.logicalDate, { databaseUrl, interval: run.dataInterval ?? undefined });
    // The same input everywhere: a CSV whose size or modification time differs from the planned file's is
    // another file (a shared volume not mounted, a file replaced since): fail before any row is read.
    if (run.spec.source.kind === 'csv') {
      const [want, have] = [run.sourceFingerprint, await source.fingerprint().catch((e: Error) => `unreadable (${e.message})`)].map(csvIdentity);
      if (want !== have) {
        await source.close().catch(() => undefined);
        throw new FinalError(`run ${runId}: the input ${run.spec.source.path} here is ${have}, but the run was planned on ${want}: it changed since, or this worker sees another file; start a new run, or give every worker the same file`);
      }
    }
    const { mismatched, scoredAtByServer } = await sinkColumns(client, run.spec, resultColumns(run.spec, outputs, await source.passthroughTypes())).catch(async (err: unknown) => {
      await source.close().catch(() => undefined);
      throw err;
    });
    if (mismatched.length) {
      await source.close().catch(() => undefined);
      throw new FinalError(`run ${runId}: ${mismatched.join('; ')}; start a new run (it checks the table first), or migrate the column`);
    }
    trace('chunk context: ready');
    return { run, client, source, session, outputs, workerName, scoredAtByServer };
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

/** size and modification time of a CSV fingerprint ("csv:<path>:<size>:<mtime ms>"), as the message shows them. */
function csvIdentity(fingerprint: string): string {
  const m = /:(\d+):(\d+)$/.exec(fingerprint);
  return m ? `${m[1]} bytes, modified ${new Date(Number(m[2])).toISOString()}` : fingerprint;
}
